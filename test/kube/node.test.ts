// The virtual node against the real control plane (its scheduler binds, its controllers make the
// ReplicaSet's pods and the EndpointSlices) and the real kernel (network namespaces, cgroups, the eBPF
// balancer routing ClusterIPs). Runs local pods: under the lock
// (flock /tmp/loadscope-test.lock npx ava test/kube/node.test.ts).
import { AppsV1Api, CoordinationV1Api, CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { localUnavailable } from '../../src/cluster/local/resolve.ts';
import { CLAIM_DIR, sweepLocalLeftovers } from '../../src/cluster/local/sweep.ts';
import { CGROUP_DIR, cgroupDirs, detectCgroups } from '../../src/cluster/local/cgroup.ts';
import { Ledger, sweepStale } from '../../src/core/ledger.ts';
import type { RunEvent, Sample } from '../../src/core/types.ts';
import { balancer } from '../../src/kernel/balancer.ts';
import { ControlPlane, missingBinaries } from '../../src/kube/controlplane.ts';
import { expand, NODE_LABEL, OWNER_ANNOTATION, roleOf, sweepDeadNodes } from '../../src/kube/node.ts';
import { POD_CIDR, SERVICE_CIDR } from '../../src/kube/types.ts';
import { now } from '../../src/core/clock.ts';
import { startKubeNode, type KubeNode } from '../../src/run/kube-node.ts';
import { needs } from '../helpers/needs.ts';
import { until as untilEvery } from '../helpers/until.ts';

const until = <T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined) => untilEvery(what, timeoutMs, probe, 100);

const ledgerDir = mkdtempSync(join(tmpdir(), 'ls-node-ledger-'));
process.env.LOADSCOPE_LEDGER_DIR = ledgerDir;
const it = needs('the virtual node', missingBinaries() ?? localUnavailable(balancer));
const root = mkdtempSync(join(tmpdir(), 'ls-node-'));
const NS = 'default';
let cp: ControlPlane | undefined;
let kn: KubeNode | undefined;
let ledger: Ledger | undefined;

test.after.always(async () => {
  const t0 = Date.now();
  await kn?.stop().catch(() => undefined);
  const t1 = Date.now();
  await cp?.down();
  process.stderr.write(`after: node stop ${t1 - t0} ms, control plane down ${Date.now() - t1} ms\n`);
  ledger?.close();
  rmSync(root, { recursive: true, force: true });
  rmSync(ledgerDir, { recursive: true, force: true });
});

class Records {
  events: RunEvent[] = [];
  samples: Sample[] = [];
  sample = (s: Sample) => void this.samples.push(s);
  event = (e: RunEvent) => void this.events.push(e);
  kind(k: string): RunEvent[] {
    return this.events.filter((e) => e.kind === k);
  }
}


function get(url: string): Promise<{ status: number; by: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, by: String(res.headers['x-served-by'] ?? ''), body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

const ready = (p: V1Pod) => p.status?.phase === 'Running' && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

test('roleOf: the label wins, else the image name; expand: $(VAR) and $$(', (t) => {
  t.is(roleOf({}, 'registry.local/loadscope-backend:1.0'), 'backend');
  t.is(roleOf({}, 'loadscope-frontend'), 'frontend');
  t.is(roleOf({ 'loadscope.io/service': 'frontend' }, 'nginx'), 'frontend');
  t.is(roleOf({ 'loadscope.io/service': 'db' }, 'loadscope-backend'), undefined);
  t.is(roleOf({}, 'nginx:1.27'), undefined);
  t.is(roleOf({}, 'loadscope-backendx'), undefined);
  t.is(expand('http://$(B_HOST):$(B_PORT)/$(NOPE) $$(B_HOST)', { B_HOST: '198.19.255.9', B_PORT: '80' }), 'http://198.19.255.9:80/$(NOPE) $(B_HOST)');
});

it('a Deployment runs on the virtual node; its Service is routed by eBPF; scale, delete, stop clean up', async (t) => {
  t.timeout(170_000);
  const t0 = Date.now();
  cp = await ControlPlane.up({ dir: join(root, 'cp'), owned: true });
  const kc = new KubeConfig();
  kc.loadFromFile(cp.info.kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const leases = kc.makeApiClient(CoordinationV1Api);
  const rec = new Records();
  const runId = `nodetest${process.pid}`;
  ledger = new Ledger(runId);
  kn = await startKubeNode({ kubeConfig: kc, podCidr: POD_CIDR, serviceCidr: SERVICE_CIDR, runId, ledger, sink: rec, renewEveryMs: 1000, onStatus: (l) => t.log(l) });
  // Stopped also when an assertion fails half-way: the next test's node claims the same pod range.
  t.teardown(() => kn?.stop().catch(() => undefined));
  const name = kn.node.name;
  const host = kn.host;
  t.log(`control plane and node up in ${((Date.now() - t0) / 1000).toFixed(1)} s; node ${name}, pods in ${host.podCidr}`);

  // The Node: Ready, untainted (the admission's not-ready taint is lifted), its podCIDR and capacity; the Lease renewed.
  const node = await until('node Ready and untainted', 20_000, async () => {
    const n = await core.readNode({ name });
    return n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' && !(n.spec?.taints?.length) ? n : undefined;
  });
  t.is(node.spec?.podCIDR, host.podCidr);
  t.is(host.podCidr, POD_CIDR);
  t.is(node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address, host.hostIp);
  t.is(node.status?.allocatable?.pods, '110');
  const lease1 = await leases.readNamespacedLease({ name, namespace: 'kube-node-lease' });
  t.is(lease1.spec?.holderIdentity, name);
  await sleep(1500);
  const lease2 = await leases.readNamespacedLease({ name, namespace: 'kube-node-lease' });
  t.true(new Date(lease2.spec!.renewTime!).getTime() > new Date(lease1.spec!.renewTime!).getTime(), 'the lease was renewed');

  // A Service and a Deployment of two backend pods with requests, limits and a readiness probe.
  const svc = await core.createNamespacedService({
    namespace: NS,
    body: { metadata: { name: 'backend' }, spec: { selector: { app: 'backend' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } },
  });
  const vip = svc.spec!.clusterIP!;
  t.regex(vip, /^198\.19\.255\.\d+$/);
  await apps.createNamespacedDeployment({
    namespace: NS,
    body: {
      metadata: { name: 'backend' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'backend' } },
        template: {
          metadata: { labels: { app: 'backend' } },
          spec: {
            terminationGracePeriodSeconds: 5,
            containers: [
              {
                name: 'backend',
                image: 'loadscope-backend:dev',
                args: ['--config', '{"default":{"delayMs":1}}'],
                ports: [{ name: 'http', containerPort: 8080 }],
                resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
                readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1 },
              },
            ],
          },
        },
      },
    },
  });
  const listPods = async () => (await core.listNamespacedPod({ namespace: NS, labelSelector: 'app=backend' })).items;
  const readyPods = (n: number) => until(`${n} backend pods Running and Ready`, 30_000, async () => {
    const pods = (await listPods()).filter((p) => !p.metadata?.deletionTimestamp);
    return pods.length === n && pods.every(ready) ? pods : undefined;
  });
  const tDeploy = Date.now();
  const two = await readyPods(2);
  t.log(`Deployment created → 2 pods Running and Ready in the API: ${((Date.now() - tDeploy) / 1000).toFixed(1)} s`);
  for (const p of two) {
    t.is(p.spec?.nodeName, name, 'the scheduler bound it to the virtual node');
    t.regex(p.status?.podIP ?? '', new RegExp(`^${host.podCidr.replace(/0\/24$/, '').replace(/\./g, '\\.')}\\d+$`));
    t.is(p.status?.hostIP, host.hostIp);
    t.is(p.status?.containerStatuses?.[0].restartCount, 0);
    t.truthy(p.status?.containerStatuses?.[0].state?.running);
  }
  // The pod's cgroup holds its limits (cpu 500m → 50 ms per 100 ms; memory 256Mi).
  const cg = host.cgroups[0];
  const podDir = join(cg, `${NS}.${two[0].metadata!.name}`);
  if (host.layout.kind === 'v2') {
    t.is(readFileSync(join(podDir, 'cpu.max'), 'utf8').trim(), '50000 100000');
    t.is(readFileSync(join(podDir, 'memory.max'), 'utf8').trim(), String(256 * 2 ** 20));
  } else {
    t.is(readFileSync(join(host.layout.memory, 'loadscope', host.tag, `${NS}.${two[0].metadata!.name}`, 'memory.limit_in_bytes'), 'utf8').trim(), String(256 * 2 ** 20));
  }

  // The ClusterIP routes (eBPF, from the EndpointSlice) to the two pods; requests to it are answered by them.
  const ips = (pods: V1Pod[]) => pods.map((p) => `${p.status!.podIP}:8080`).sort();
  const table = (want: string[]) =>
    until(`routing table ${vip}:80 = ${want.join(' ')}`, 20_000, () => {
      const got = (kn!.router.tables()[`${vip}:80`] ?? []).map((b) => b.slice(b.indexOf('=') + 1)).sort();
      return got.join(' ') === want.join(' ') ? got : undefined;
    });
  await table(ips(two));
  const names2 = new Set(two.map((p) => p.metadata!.name!));
  const answers = await Promise.all(Array.from({ length: 20 }, () => get(`http://${vip}/`)));
  t.deepEqual([...new Set(answers.map((a) => a.status))], [200]);
  t.true(answers.every((a) => names2.has(a.by)), `answered by ${[...new Set(answers.map((a) => a.by))].join(', ')}`);
  const decisions = rec.samples.filter((s) => s.metric === 'routing.decision' && s.meta?.vip === `${vip}:80`);
  await until('routing decisions journalled', 5000, () => (rec.samples.filter((s) => s.metric === 'routing.decision' && s.meta?.vip === `${vip}:80`).length >= 20 ? true : undefined));
  t.true(decisions.length <= 20);
  const updates = rec.kind('routing.update').filter((e) => e.attrs.vip === `${vip}:80`);
  t.true(updates.length >= 1);
  t.deepEqual([...(updates.at(-1)!.attrs.backends as string[])].sort(), ips(two));
  t.is(updates.at(-1)!.attrs.via, 'ebpf');

  // Scale to 3: the third pod runs and joins the table.
  await apps.patchNamespacedDeploymentScale({ name: 'backend', namespace: NS, body: { spec: { replicas: 3 } } }, merge);
  const three = await readyPods(3);
  await table(ips(three));
  const third = three.find((p) => !names2.has(p.metadata!.name!))!;
  const readyAt = rec.kind('pod.ready').find((e) => e.attrs.pod === `${NS}/${third.metadata!.name}`)!.time;
  const routedAt = rec.kind('routing.update').find((e) => (e.attrs.pods as string[]).includes(`${NS}.${third.metadata!.name}`))!;
  t.log(`third pod: probe Ready → in the VIP table ${Math.round(routedAt.time - readyAt)} ms (status patch, EndpointSlice controller, watch, one balancer update of ${String(routedAt.attrs.tookMs)} ms)`);

  // Delete a pod: drained (its namespace goes), finalised (gone from the API); the ReplicaSet's replacement runs.
  const victim = three[0];
  const victimNs = `ls-${host.tag}-${NS}.${victim.metadata!.name}`;
  t.true(existsSync(`/run/netns/${victimNs}`));
  const tDelete = now(); // the run's time base, as the events'
  await core.deleteNamespacedPod({ name: victim.metadata!.name!, namespace: NS });
  await until('the deleted pod finalised', 20_000, async () => ((await listPods()).some((p) => p.metadata?.uid === victim.metadata?.uid) ? undefined : true)).catch(async (e: Error) => {
    t.log(JSON.stringify({ states: kn!.node.podStates(), api: (await listPods()).map((p) => [p.metadata?.name, p.metadata?.deletionTimestamp, p.status?.phase]) }));
    throw e;
  });
  t.log(`delete → drained and finalised: ${((now() - tDelete) / 1000).toFixed(1)} s`);
  t.false(existsSync(`/run/netns/${victimNs}`), 'its network namespace is gone');
  const replaced = await readyPods(3);
  t.false(replaced.some((p) => p.metadata?.uid === victim.metadata?.uid));
  await table(ips(replaced));
  // As in local mode: out of routing first (the EndpointSlice marks it terminating), then SIGTERM.
  const done = rec.kind('pod.terminated').find((e) => e.attrs.pod === `${NS}/${victim.metadata!.name}`)!;
  const victimAddr = `${victim.status!.podIP}:8080`;
  const dropped = rec.kind('routing.update').find((e) => e.time >= tDelete && !(e.attrs.backends as string[]).includes(victimAddr));
  t.truthy(dropped, 'a table update dropped the deleted pod');
  t.true(dropped!.time <= (done.attrs.signalledAt as number), `unrouted at ${dropped!.time}, signalled at ${String(done.attrs.signalledAt)}`);
  const after = await Promise.all(Array.from({ length: 10 }, () => get(`http://${vip}/`)));
  t.deepEqual([...new Set(after.map((a) => a.status))], [200]);

  // A container that dies is restarted in its pod (same address): restartCount 1, the last state, Ready again.
  const crashed = replaced[0];
  const procs = readFileSync(join(cg, `${NS}.${crashed.metadata!.name}`, 'cgroup.procs'), 'utf8').trim().split('\n').map(Number);
  t.true(procs.length >= 1);
  for (const pid of procs) process.kill(pid, 'SIGKILL');
  const restarted = await until('the killed container restarted and Ready', 20_000, async () => {
    const p = await core.readNamespacedPod({ name: crashed.metadata!.name!, namespace: NS });
    return ready(p) && p.status?.containerStatuses?.[0].restartCount === 1 ? p : undefined;
  });
  t.is(restarted.status?.podIP, crashed.status?.podIP);
  t.is(restarted.status?.containerStatuses?.[0].lastState?.terminated?.exitCode, 137);
  t.is(restarted.status?.containerStatuses?.[0].lastState?.terminated?.reason, 'Error');
  await table(ips(replaced));

  // A dead run's virtual node (its owner process gone) is swept with its pods; a live one is not.
  await core.createNode({ body: { metadata: { name: 'loadscope-dead', labels: { [NODE_LABEL]: 'true' }, annotations: { [OWNER_ANNOTATION]: '999999999 1' } } } });
  t.deepEqual(await sweepDeadNodes(kc), ['deleted virtual node loadscope-dead and 0 pod(s) (its process 999999999 is gone)']);
  await t.throwsAsync(core.readNode({ name: 'loadscope-dead' }));
  t.is((await core.readNode({ name })).metadata?.name, name);

  // A frontend pod reaches the backend's ClusterIP (eBPF, pod to Service) through the service-link variables.
  await core.createNamespacedService({ namespace: NS, body: { metadata: { name: 'frontend' }, spec: { selector: { app: 'frontend' }, ports: [{ port: 80, targetPort: 8080 }] } } });
  await core.createNamespacedPod({
    namespace: NS,
    body: {
      metadata: { name: 'frontend', labels: { app: 'frontend', 'loadscope.io/service': 'frontend' } },
      spec: { containers: [{ name: 'frontend', image: 'example/frontend', args: ['--backend', 'http://$(BACKEND_SERVICE_HOST):$(BACKEND_SERVICE_PORT)'], ports: [{ containerPort: 8080 }] }] },
    },
  });
  const fe = await until('frontend Ready', 30_000, async () => {
    const p = await core.readNamespacedPod({ name: 'frontend', namespace: NS });
    return ready(p) ? p : undefined;
  });
  const feVip = (await core.readNamespacedService({ name: 'frontend', namespace: NS })).spec!.clusterIP!;
  await until('frontend routed', 20_000, () => (kn!.router.tables()[`${feVip}:80`]?.length === 1 ? true : undefined));
  const viaFe = await get(`http://${feVip}/`);
  t.is(viaFe.status, 200, viaFe.body);
  t.true(replaced.some((p) => p.metadata?.name === viaFe.by), `the frontend forwarded to a backend pod (x-served-by ${viaFe.by})`);
  // the balancer's decision record reaches the journal through its loader's ring buffer and pipe, which the
  // response can beat: wait for it as for the decisions above
  const feDecision = () => rec.samples.some((s) => s.metric === 'routing.decision' && s.meta?.vip === `${vip}:80` && s.meta?.clientIp === fe.status?.podIP);
  await until('the frontend pod\'s decision journalled', 5000, () => (feDecision() ? true : undefined)).catch(() => undefined);
  t.true(feDecision(), 'the frontend pod connected to the backend VIP through the balancer');

  // An image that is no bundled service: the pod fails with reason UnsupportedImage.
  await core.createNamespacedPod({ namespace: NS, body: { metadata: { name: 'web' }, spec: { nodeName: name, restartPolicy: 'Never', containers: [{ name: 'web', image: 'nginx:1.27' }] } } });
  const web = await until('nginx pod Failed', 15_000, async () => {
    const p = await core.readNamespacedPod({ name: 'web', namespace: NS });
    return p.status?.phase === 'Failed' ? p : undefined;
  });
  t.is(web.status?.reason, 'UnsupportedImage');
  t.regex(web.status?.message ?? '', /nginx:1\.27.*loadscope-backend/);
  // The same under restartPolicy Always (what a controller would replace): Pending, the container waiting.
  await core.createNamespacedPod({ namespace: NS, body: { metadata: { name: 'web2' }, spec: { nodeName: name, containers: [{ name: 'web', image: 'nginx:1.27' }] } } });
  const web2 = await until('nginx pod reported', 15_000, async () => {
    const p = await core.readNamespacedPod({ name: 'web2', namespace: NS });
    return p.status?.reason ? p : undefined;
  });
  t.is(web2.status?.phase, 'Pending');
  t.is(web2.status?.containerStatuses?.[0].state?.waiting?.reason, 'UnsupportedImage');

  // Stop: Node and Lease gone; no namespace, link or cgroup of the node left; the ledger emptied.
  const tag = host.tag;
  await kn.stop();
  await t.throwsAsync(core.readNode({ name }), undefined, 'the Node is deleted');
  await t.throwsAsync(leases.readNamespacedLease({ name, namespace: 'kube-node-lease' }), undefined, 'the Lease is deleted');
  t.deepEqual(readdirSync('/run/netns').filter((n) => n.startsWith(`ls-${tag}-`)), []);
  t.deepEqual(readdirSync('/sys/class/net').filter((n) => n.includes(tag)), []);
  for (const dir of host.cgroups) t.false(existsSync(dir), `${dir} removed`);
  const left = JSON.parse(readFileSync(join(ledgerDir, `${runId}.json`), 'utf8')) as { resources: unknown[] };
  t.deepEqual(left.resources, []);
  t.log(`whole test ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});

it("a run that dies with its virtual node: the next run's sweeps remove its pods, namespaces, links, cgroups, claim and Node", async (t) => {
  t.timeout(60_000);
  if (!cp) cp = await ControlPlane.up({ dir: join(root, 'cp'), owned: true });
  const kc = new KubeConfig();
  kc.loadFromFile(cp.info.kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const runId = `nodecrash${process.pid}`;
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../helpers/kube-node-parent.ts', import.meta.url)), cp.info.kubeconfig, runId], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the child exited (${code}) before its node ran a pod`)));
  });
  const { tag, node } = JSON.parse(line) as { tag: string; node: string };
  t.true(readdirSync('/run/netns').some((n) => n.startsWith(`ls-${tag}-`)));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const swept = [...sweepStale(ledgerDir), ...(await sweepLocalLeftovers()), ...(await sweepDeadNodes(kc))];
  t.log(swept.join('; '));
  t.deepEqual(readdirSync('/run/netns').filter((n) => n.startsWith(`ls-${tag}-`)), []);
  t.deepEqual(readdirSync('/sys/class/net').filter((n) => n.includes(tag)), []);
  const layout = detectCgroups();
  if (typeof layout !== 'string') for (const dir of cgroupDirs(layout, join(CGROUP_DIR, tag))) t.false(existsSync(dir), `${dir} removed`);
  t.false(existsSync(join(CLAIM_DIR, 'octet-255')), 'the pod range is free again');
  await t.throwsAsync(core.readNode({ name: node }), undefined, "the dead run's Node is deleted");
  await until('its pod deleted', 10_000, async () => ((await core.listNamespacedPod({ namespace: NS })).items.some((p) => p.metadata?.name === 'orphan') ? undefined : true));
  t.true(swept.some((l) => l.includes(`virtual node ${node}`)));
});
