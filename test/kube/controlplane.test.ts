// The test control plane against itself: real etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler (built by scripts/build-kube.sh), one shared by the tests of this file.
import { AppsV1Api, CoreV1Api, KubeConfig, VersionApi, type V1Pod } from '@kubernetes/client-node';
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processStartTime, sweepStale } from '../../src/core/ledger.ts';
import { ControlPlane, missingBinaries } from '../../src/kube/controlplane.ts';
import { COMPONENTS, KUBERNETES_SERVICE_IP, POD_CIDR, SERVICE_CIDR } from '../../src/kube/types.ts';
import { runCli, startCli } from '../helpers/cli.ts';
import { needs } from '../helpers/needs.ts';
import { until } from '../helpers/until.ts';

function opensslMissing(): string | undefined {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'openssl is not installed';
  }
}

const it = needs('the test control plane', missingBinaries() ?? opensslMissing());
const root = mkdtempSync(join(tmpdir(), 'ls-cp-'));
let cp: ControlPlane | undefined;

/** Pids recorded in a state directory's pid files. */
function pids(dir: string): { pid: number; startTime: string }[] {
  return COMPONENTS.flatMap((c) => {
    try {
      const [pid, startTime] = readFileSync(join(dir, `${c}.pid`), 'utf8').trim().split(' ');
      return [{ pid: Number(pid), startTime }];
    } catch {
      return [];
    }
  });
}
const running = (p: { pid: number; startTime: string }) => processStartTime(p.pid) === p.startTime;


test.after.always(async () => {
  await cp?.down();
  rmSync(root, { recursive: true, force: true });
});

it('up: every component healthy; the API server is v1.37.2 with its ClusterIPs in 198.19.255.0/24', async (t) => {
  const t0 = performance.now();
  cp = await ControlPlane.up({ dir: join(root, 'shared'), owned: true });
  t.log(`up in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const st = await cp.status();
  t.deepEqual(st.map((c) => [c.name, c.running, c.health]), COMPONENTS.map((c) => [c, true, 'ok']));
  const rss = st.reduce((a, c) => a + Number(execFileSync('ps', ['-o', 'rss=', '-p', String(c.pid)], { encoding: 'utf8' }).trim()), 0);
  t.log(`RSS of the four processes: ${(rss / 1024).toFixed(0)} MiB`);
  const kc = new KubeConfig();
  kc.loadFromFile(cp.info.kubeconfig);
  t.is((await kc.makeApiClient(VersionApi).getCode()).gitVersion, 'v1.37.2');
  const svc = await until('the kubernetes Service', 20_000, () => kc.makeApiClient(CoreV1Api).readNamespacedService({ name: 'kubernetes', namespace: 'default' }));
  t.is(svc.spec?.clusterIP, KUBERNETES_SERVICE_IP);
  t.is(cp.info.serviceCidr, SERVICE_CIDR);
  t.is(cp.info.podCidr, POD_CIDR);
});

it('the controller-manager runs the controllers: a Deployment gets its ReplicaSet; the scheduler tries its pods', async (t) => {
  if (!cp) return t.fail('no control plane');
  const kc = new KubeConfig();
  kc.loadFromFile(cp.info.kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const namespace = 'ls-deploy';
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const labels = { app: 'web' };
  const dep = await apps.createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name: 'web' },
      spec: { replicas: 2, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'web', image: 'loadscope/frontend' }] } } },
    },
  });
  const rs = await until('the ReplicaSet', 30_000, async () => {
    const l = await apps.listNamespacedReplicaSet({ namespace });
    return l.items.find((r) => r.metadata?.ownerReferences?.some((o) => o.uid === dep.metadata?.uid));
  });
  t.is(rs.spec?.replicas, 2);
  // The ReplicaSet controller creates the pods (once the namespace's service account exists), and
  // with no node the scheduler marks them unschedulable: both controllers and the scheduler run.
  const pods = await until('two pods the scheduler tried', 45_000, async () => {
    const l = await core.listNamespacedPod({ namespace });
    const tried = (p: V1Pod) => p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable');
    return l.items.length === 2 && l.items.every(tried) ? l.items : undefined;
  });
  t.is(pods.length, 2);
});

it('the CLI: status lists the four components; up on a running control plane says so', async (t) => {
  if (!cp) return t.fail('no control plane');
  const st = await runCli(['controlplane', 'status', '--dir', cp.dir]);
  t.is(st.code, 0, st.stderr);
  for (const c of COMPONENTS) t.regex(st.stdout, new RegExp(`${c}\\s+pid \\d+\\s+port \\d+\\s+ok`));
  const up = await runCli(['controlplane', 'up', '--dir', cp.dir]);
  t.is(up.code, 0, up.stderr);
  t.regex(up.stdout, /already up at https:\/\/127\.0\.0\.1:\d+/);
  const bad = await runCli(['controlplane', 'sideways']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /up, down, status/);
  t.notRegex(bad.stderr, /\n\s+at /); // no stack trace
});

it('down: no process and no state left', async (t) => {
  if (!cp) return t.fail('no control plane');
  const dir = cp.dir;
  const before = pids(dir);
  t.is(before.length, 4);
  const t0 = performance.now();
  await cp.down();
  cp = undefined;
  t.log(`down in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  t.deepEqual(before.filter(running), []);
  t.false(existsSync(dir));
});

for (const after of ['loadscope cleanup (the ledger sweep)', 'controlplane down'] as const) {
  it(`a killed \`controlplane up\` leaves nothing that ${after} does not remove`, async (t) => {
    const dir = join(root, after.startsWith('loadscope') ? 'killed-sweep' : 'killed-down');
    const ledgers = mkdtempSync(join(root, 'ledger-'));
    const env = { LOADSCOPE_LEDGER_DIR: ledgers };
    const { child, done } = startCli(['controlplane', 'up', '--dir', dir], { env });
    // killed once the API server runs: etcd and kube-apiserver are up, the controllers not yet
    await until('kube-apiserver started', 60_000, async () => (existsSync(join(dir, 'kube-apiserver.pid')) ? true : undefined));
    child.kill('SIGKILL');
    await done;
    const left = pids(dir);
    t.true(left.length >= 2 && left.every(running), 'etcd and kube-apiserver outlive the killed command');
    if (after === 'controlplane down') {
      const r = await runCli(['controlplane', 'down', '--dir', dir], { env });
      t.is(r.code, 0, r.stderr);
    } else {
      const removed = sweepStale(ledgers);
      t.true(removed.some((l) => l.startsWith('killed process')), removed.join('\n'));
    }
    await until('the processes gone', 15_000, async () => (left.some(running) ? undefined : true));
    t.false(existsSync(dir));
  });
}
