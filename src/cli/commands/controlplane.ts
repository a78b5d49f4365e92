import { existsSync } from 'node:fs';
import { LoadscopeError } from '../../core/errors.ts';
import { ControlPlane, controlPlaneDir, down } from '../../kube/controlplane.ts';
import type { Command } from '../command.ts';

const HELP = `loadscope controlplane up|down|status [--dir DIR] [options]

A real Kubernetes control plane on 127.0.0.1 for tests and demos: etcd, kube-apiserver,
kube-controller-manager (all controllers, HPA sync every 5 s) and kube-scheduler, built by
scripts/build-kube.sh into .tools/bin. Services get ClusterIPs from 198.19.255.0/24, nodes pod CIDRs
from 198.18.255.0/24. See docs/kubernetes.md.

  up       start it, wait until every component is healthy, print the kubeconfig's path
           (already up: says so and exits 0)
  down     stop every component and remove the state directory (also what a killed \`up\` left)
  status   each component's pid, port and health; exit 1 unless all are healthy

  --dir DIR              state directory (default .tools/controlplane, or $LOADSCOPE_CONTROLPLANE_DIR)
  --port N               kube-apiserver's port (up; default: a free port)
  --hpa-sync-period D    the HPA controller's sync period, a Go duration (up; default 5s)
  --json                 print status as JSON

Exit codes: 0 done (status: all healthy), 1 a component did not start or status found one unhealthy,
2 bad command line or a --dir that is not a control plane's, 3 the binaries are not built.`;

export const controlplane: Command = {
  name: 'controlplane',
  usage: 'loadscope controlplane up|down|status [--dir DIR] [--port N] [--hpa-sync-period D] [--json]',
  help: HELP,
  options: {
    dir: { type: 'string' },
    port: { type: 'string' },
    'hpa-sync-period': { type: 'string' },
    json: { type: 'boolean' },
  },
  async run(positionals, values) {
    if (positionals.length !== 1 || !['up', 'down', 'status'].includes(positionals[0])) {
      throw new LoadscopeError('USAGE', `controlplane takes one of up, down, status${positionals.length ? `, got "${positionals.join(' ')}"` : ''}`, { hint: 'loadscope controlplane --help' });
    }
    const action = positionals[0];
    const only = (opt: string, a: string) => {
      if (values[opt] !== undefined && action !== a) throw new LoadscopeError('USAGE', `--${opt} belongs to \`loadscope controlplane ${a}\``);
    };
    only('port', 'up');
    only('hpa-sync-period', 'up');
    only('json', 'status');
    const dir = controlPlaneDir(values.dir as string | undefined);

    if (action === 'down') {
      const had = existsSync(dir);
      const stopped = await down(dir);
      const removed = had && !existsSync(dir) ? `; removed ${dir}` : '';
      console.log(stopped.length ? `controlplane: stopped ${stopped.join(', ')}${removed}` : `controlplane: nothing was running in ${dir}${removed}`);
      return 0;
    }

    const existing = ControlPlane.open(dir);
    if (action === 'status') {
      if (!existing) {
        if (values.json) console.log(JSON.stringify({ dir, up: false, components: [] }));
        else console.log(`controlplane: not up (no state in ${dir})`);
        return 1;
      }
      const st = await existing.status();
      const healthy = st.every((c) => c.running && c.health === 'ok');
      if (values.json) console.log(JSON.stringify({ ...existing.info, up: healthy, components: st }, null, 2));
      else {
        console.log(`controlplane: ${healthy ? 'up' : 'NOT healthy'} at ${existing.info.server}, kubeconfig ${existing.info.kubeconfig}`);
        console.log(`  services ${existing.info.serviceCidr}, pods ${existing.info.podCidr}`);
        for (const c of st) console.log(`  ${c.name.padEnd(24)} pid ${String(c.pid ?? '-').padEnd(8)} port ${String(c.port ?? '-').padEnd(6)} ${c.health}`);
      }
      return healthy ? 0 : 1;
    }

    if (existing) {
      const st = await existing.status();
      if (st.every((c) => c.running)) {
        console.log(`controlplane: already up at ${existing.info.server}; KUBECONFIG=${existing.info.kubeconfig}`);
        return 0;
      }
    }
    let port: number | undefined;
    if (values.port !== undefined) {
      port = Number(values.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new LoadscopeError('USAGE', `--port ${String(values.port)} is not a port number`);
    }
    const period = values['hpa-sync-period'] as string | undefined;
    if (period !== undefined && !/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(period)) {
      throw new LoadscopeError('USAGE', `--hpa-sync-period ${period} is not a Go duration`, { hint: 'e.g. 5s, 500ms, 1m' });
    }
    const t0 = performance.now();
    const cp = await ControlPlane.up({ dir, apiServerPort: port, hpaSyncPeriod: period, onStatus: (l) => process.stderr.write(`controlplane: ${l}\n`) });
    console.log(`controlplane: up at ${cp.info.server} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    console.log(`export KUBECONFIG=${cp.info.kubeconfig}`);
    return 0;
  },
};
