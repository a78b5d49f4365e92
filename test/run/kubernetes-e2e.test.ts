// Issue 19's acceptance, end to end: `loadscope run` of a short scenarios/kubernetes.yaml against the
// real test control plane. loadscope is the cluster's node (netns pods, eBPF ClusterIP routing) and its
// metrics server; kube-controller-manager's own HPA controller scales the backend Deployment up while
// the load is high and back down after it falls. Then a run killed mid-way: the next run's sweeps
// leave nothing of it in the cluster or on the machine.
import { ApiregistrationV1Api, AutoscalingV2Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import test from 'ava';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execFileSync } from 'node:child_process';
import { balancer } from '../../src/kernel/balancer.ts';
import { localUnavailable } from '../../src/cluster/local/resolve.ts';
import { ControlPlane, missingBinaries } from '../../src/kube/controlplane.ts';
import { API_SERVICES } from '../../src/kube/metrics-register.ts';
import { startCli, runCli } from '../helpers/cli.ts';
import { needs } from '../helpers/needs.ts';

const missing = missingBinaries() ?? (process.getuid?.() === 0 ? localUnavailable(balancer) : 'root is needed (netns pods, eBPF routing, the metrics APIs\' address)');
const it = needs('the Kubernetes end-to-end run on the test control plane', missing);
const root = mkdtempSync(join(tmpdir(), 'ls-kube-e2e-'));
let cp: ControlPlane | undefined;

test.after.always(async () => {
  await cp?.down().catch(() => undefined);
  rmSync(root, { recursive: true, force: true });
});

/** scenarios/kubernetes.yaml (metricResolution 5 s) shortened: 200 req/s for 20 s (80 per replica → 3 replicas), then 10 req/s for 20 s; scale-down window 5 s. */
function scenario(kubeconfig: string, stages: string): string {
  const text = readFileSync(join(import.meta.dirname, '..', '..', 'scenarios', 'kubernetes.yaml'), 'utf8');
  const out = text
    .replace(/kubeconfig: .*\n/, `kubeconfig: ${kubeconfig}\n`)
    .replace(/\nstages:\n(  - .*\n)+/, `\nstages:\n${stages}`)
    .replace('stabilizationWindowSeconds: 15', 'stabilizationWindowSeconds: 5');
  if (out === text || !out.includes('metricResolution: 5s') || !out.includes('stabilizationWindowSeconds: 5')) throw new Error('scenarios/kubernetes.yaml changed shape: the test cannot shorten it');
  return out;
}

const LOAD = '  - { name: ramp-up, duration: 8s, rate: { from: 20, to: 200 } }\n  - { name: hold, duration: 20s, rate: 200 }\n  - { name: low, duration: 20s, rate: 10 }\n';

/** The run's bridge (lsb<tag>) and metrics link (lsm…) as its status lines name them. */
function bridgeOf(output: string): string {
  const m = /behind bridge (lsb[0-9a-z]+)/.exec(output);
  const l = /on link (lsm[0-9a-z]+)/.exec(output);
  if (!m || !l) throw new Error(`the run did not start a virtual node and metrics APIs:\n${output.slice(-3000)}`);
  return `${m[1]} ${l[1]}`;
}

/** What of a run is left on the machine (its tag's network namespaces, links, cgroups) and in the cluster. */
async function leftovers(kc: KubeConfig, names: string): Promise<string[]> {
  const [bridge, metricsLink] = names.split(' ') as [string, string];
  const tag = bridge.slice(3);
  const out: string[] = [];
  out.push(...readdirSync('/run/netns').filter((n) => n.startsWith(`ls-${tag}-`)).map((n) => `netns ${n}`));
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
  for (const l of links.split('\n')) {
    const name = /^\d+: ([^:@]+)/.exec(l)?.[1];
    if (name && (name === bridge || name.startsWith(`lsv${tag}`) || name === metricsLink)) out.push(`link ${name}`);
  }
  for (const base of ['/sys/fs/cgroup/loadscope', '/sys/fs/cgroup/cpu/loadscope', '/sys/fs/cgroup/memory/loadscope']) if (existsSync(join(base, tag))) out.push(`cgroup ${join(base, tag)}`);
  const core = kc.makeApiClient(CoreV1Api);
  out.push(...(await core.listNamespace({ labelSelector: 'loadscope.io/run' })).items.map((n) => `namespace ${n.metadata?.name} (${n.status?.phase})`));
  out.push(...(await core.listNode()).items.map((n) => `node ${n.metadata?.name}`));
  const reg = kc.makeApiClient(ApiregistrationV1Api);
  for (const a of API_SERVICES) if (await reg.readAPIService({ name: a.name }).then(() => true, () => false)) out.push(`apiservice ${a.name}`);
  return out;
}

it('scenarios/kubernetes.yaml on the test control plane: the real HPA scales pods on the virtual node up under load and back down; nothing is left', async (t) => {
  t.timeout(240_000);
  cp = await ControlPlane.up({ dir: join(root, 'cp'), owned: true });
  const kc = new KubeConfig();
  kc.loadFromFile(cp.info.kubeconfig);
  const file = join(root, 'kubernetes.yaml');
  writeFileSync(file, scenario(cp.info.kubeconfig, LOAD));
  const out = join(root, 'run');
  const r = await runCli(['run', file, '--out', out]);
  const output = r.stdout + r.stderr;
  t.is(r.code, 0, output.slice(-3000));
  const bridge = bridgeOf(output);
  const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));

  // The real controller's decisions, with their Kubernetes source.
  const rescales = res.events.filter((e: { kind: string }) => e.kind === 'hpa.rescale');
  t.true(rescales.length >= 2, JSON.stringify(res.autoscaling?.events));
  for (const e of rescales) t.is(e.source, 'horizontal-pod-autoscaler');
  const ev: { t: number; from: number; to: number; reason: string; source?: string }[] = res.autoscaling.events;
  for (const e of ev) t.is(e.source, 'horizontal-pod-autoscaler', 'results.json autoscaling.events[] carry their Kubernetes source');
  const up = ev.find((e) => e.reason === 'SuccessfulRescale' && e.to > e.from);
  const down = ev.find((e) => e.reason === 'SuccessfulRescale' && e.to < e.from && e.t > (up?.t ?? Infinity));
  t.truthy(up, `a scale-up: ${JSON.stringify(ev)}`);
  t.truthy(down, `a scale-down after it: ${JSON.stringify(ev)}`);
  t.true(up!.t < 28 + 2, `scaled up while the load was high (at ${up!.t} s)`);
  t.true(Math.max(...ev.map((e) => e.to)) >= 2);

  // The scale-up's pods ran on the virtual node and took traffic through the ClusterIP.
  const pods: Record<string, { requestsServed: number }> = res.services.backend.pods;
  const serving = Object.entries(pods).filter(([, p]) => p.requestsServed > 0);
  t.true(serving.length >= 2, `backend pods serving: ${JSON.stringify(pods)} (one replica before the load)`);
  const journal = readFileSync(join(out, 'events.ndjson'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const created = journal.filter((x) => x.kind === 'node.pod.created' && String(x.attrs.pod).includes('/backend-'));
  const runStart = journal.find((x) => x.type === 'run').startedAt;
  const later = created.filter((x) => x.time > runStart).map((x) => String(x.attrs.pod).split('/')[1]);
  t.true(later.length >= 1, 'a backend pod created during the load');
  t.true(later.some((p) => (pods[p]?.requestsServed ?? 0) > 0), `a pod of the scale-up served requests: ${later.join(', ')} in ${JSON.stringify(pods)}`);
  const routes = journal.filter((x) => x.kind === 'routing.update' && String(x.attrs.service).endsWith('/backend'));
  t.true(routes.some((x) => x.attrs.via === 'ebpf' && x.attrs.backends.length >= 2), 'the backend ClusterIP routed to two pods or more');
  t.true(res.http.errors === 0 || res.http.errors / res.http.responses < 0.05, `errors ${res.http.errors}`);

  // The report shows the real controller's events.
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  t.true(html.includes('SuccessfulRescale') || html.includes('New size: '), 'the report lists the rescales');
  t.true(html.includes('horizontal-pod-autoscaler'), 'with their source');

  // The local port in shadow, on the metric values the real controller was served.
  const sh = res.autoscaling.shadow;
  t.truthy(sh, 'results.json autoscaling.shadow');
  t.log(`shadow: ${sh.syncs} syncs, ${sh.compared} compared, ${sh.agreements} agree, disagreements ${JSON.stringify(sh.disagreements)}`);
  t.true(sh.compared >= 5, `syncs compared: ${sh.compared}`);
  t.is(sh.agreements + sh.disagreements.length, sh.compared);
  t.true(html.includes('Shadow HPA'), 'the report has the shadow section');
  t.regex(output, /shadow HPA: \d+ syncs of the real controller seen, \d+ compared/);

  t.deepEqual(await leftovers(kc, bridge), [], 'nothing of the run is left');
});

it("a run killed mid-load: the next run's sweeps remove its namespace, Node, APIServices, pods, links and cgroups", async (t) => {
  t.timeout(180_000);
  if (!cp) cp = await ControlPlane.up({ dir: join(root, 'cp'), owned: true });
  const kc = new KubeConfig();
  kc.loadFromFile(cp.info.kubeconfig);
  const file = join(root, 'long.yaml');
  writeFileSync(file, scenario(cp.info.kubeconfig, '  - { name: steady, duration: 60s, rate: 50 }\n'));
  const victim = startCli(['run', file, '--out', join(root, 'killed')]);
  let seen = '';
  victim.child.stdout!.on('data', (d) => (seen += d));
  victim.child.stderr!.on('data', (d) => (seen += d));
  for (const deadline = Date.now() + 60_000; !/\[steady\] \d+s/.test(seen); await sleep(200)) if (Date.now() > deadline) t.fail(`the run never got to its load:\n${seen.slice(-2000)}`);
  const bridge = bridgeOf(seen);
  victim.child.kill('SIGKILL');
  await victim.done;
  const left = await leftovers(kc, bridge);
  t.true(left.some((l) => l.startsWith('namespace ')) && left.some((l) => l.startsWith('node ')) && left.some((l) => l.startsWith('netns ')), `the killed run left its objects: ${left.join(', ')}`);

  // The next run (a short one) sweeps on its way in and removes its own on its way out.
  const next = join(root, 'next.yaml');
  writeFileSync(next, scenario(cp.info.kubeconfig, '  - { name: short, duration: 2s, rate: 10 }\n'));
  const r = await runCli(['run', next, '--out', join(root, 'next')]);
  t.is(r.code, 0, (r.stdout + r.stderr).slice(-3000));
  t.regex(r.stdout + r.stderr, /swept|cleanup/);
  // the namespace sweep deletes; its pods' last deletions may take a moment after the run
  let rest: string[] = [];
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(500)) if ((rest = await leftovers(kc, bridge)).length === 0) break;
  t.deepEqual(rest, [], "nothing of the killed run is left after the next run's sweeps");
  t.deepEqual(await leftovers(kc, bridgeOf(r.stdout + r.stderr)), [], 'nor of the next run');
});

/** One look at the run's namespace through the API: its backend pods and the HPA's ScalingActive condition. */
interface Seen {
  time: number;
  pods: { name: string; ip?: string; ready: boolean; deleting: boolean }[];
  scalingActive?: { status: string; reason: string };
}

/** Polls the API every 250 ms while `done` is pending: what the cluster itself says during the run. */
async function watchCluster(kc: KubeConfig, done: Promise<unknown>): Promise<Seen[]> {
  const core = kc.makeApiClient(CoreV1Api);
  const auto = kc.makeApiClient(AutoscalingV2Api);
  const seen: Seen[] = [];
  let over = false;
  void done.then(() => (over = true));
  while (!over) {
    const ns = (await core.listNamespace({ labelSelector: 'loadscope.io/run' }).catch(() => ({ items: [] }))).items.find((n) => n.status?.phase === 'Active')?.metadata?.name;
    if (ns) {
      const time = Date.now();
      const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=backend' }).catch(() => ({ items: [] }))).items;
      const hpa = await auto.readNamespacedHorizontalPodAutoscaler({ namespace: ns, name: 'backend' }).catch(() => undefined);
      const sa = hpa?.status?.conditions?.find((c) => c.type === 'ScalingActive');
      seen.push({
        time,
        pods: pods.map((p) => ({ name: p.metadata!.name!, ip: p.status?.podIP, ready: p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false, deleting: !!p.metadata?.deletionTimestamp })),
        ...(sa ? { scalingActive: { status: sa.status, reason: sa.reason ?? '' } } : {}),
      });
    }
    await sleep(250);
  }
  return seen;
}

const FAULTS = `faults:
  - { name: kill-one, kind: pod-kill, target: backend, at: 4s }
  - { name: lossy, kind: packet-loss, target: backend, at: 8s, duration: 3s, probability: 0.05 }
  - { name: blind, kind: metrics-outage, target: backend, at: 11s, duration: 8s }
  - { name: errors, kind: http-errors, target: backend, at: 12s, duration: 3s, share: 0.3, status: 503 }
  - { name: hang, kind: pod-pause, target: backend, at: 18s, duration: 10s }
  - { name: narrow, kind: bandwidth, target: frontend, at: 25s, duration: 30s, rate: 50mbit }
`;

it('faults in Kubernetes mode: pod-kill deletes the pod through the API and its ReplicaSet replaces it; metrics-outage fails the real HPA; pause, loss and http errors on the node\'s pods; nothing is left', async (t) => {
  t.timeout(150_000);
  if (!cp) cp = await ControlPlane.up({ dir: join(root, 'cp'), owned: true });
  const kc = new KubeConfig();
  kc.loadFromFile(cp.info.kubeconfig);
  const file = join(root, 'faults.yaml');
  const text = scenario(cp.info.kubeconfig, '  - { name: steady, duration: 33s, rate: 40 }\n')
    .replace('    replicas: 1\n', '    replicas: 2\n')
    .replace('  minReplicas: 1\n', '  minReplicas: 2\n')
    .replace('http_req_failed: ["rate < 0.05"]', 'http_req_failed: ["rate < 0.5"]');
  writeFileSync(file, `${text}${FAULTS}`);
  const out = join(root, 'faults');
  const run = startCli(['run', file, '--out', out]);
  const seen = await watchCluster(kc, run.done);
  const r = await run.done;
  const output = r.stdout + r.stderr;
  t.is(r.code, 0, output.slice(-3000));
  const journal = readFileSync(join(out, 'events.ndjson'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
  t.deepEqual(journal.filter((x) => x.kind === 'fault.skipped').map((x) => x.attrs.message), [], 'no fault skipped');
  const start = (name: string) => journal.find((x) => x.kind === 'fault.start' && x.attrs.name === name);
  const end = (name: string) => journal.find((x) => x.kind === 'fault.end' && x.attrs.name === name);
  const row = (name: string) => res.faults.find((f: { name: string }) => f.name === name);
  const backendRoutes = journal.filter((x) => x.kind === 'routing.update' && String(x.attrs.service).endsWith('/backend'));

  // pod-kill: the API no longer has the pod, the ReplicaSet made another that became Ready and routed
  const kill = start('kill-one');
  t.truthy(kill, 'fault.start kill-one');
  t.is(end('kill-one')?.attrs.reason, 'instant');
  const killed: string = kill.attrs.pods[0];
  const before = seen.filter((s) => s.time < kill.time);
  const namesBefore = new Set(before.flatMap((s) => s.pods.map((p) => p.name)));
  // its address from the last poll before the kill that had one (the first polls may predate it: Pending, no IP yet)
  const killedIp = before.flatMap((s) => s.pods).filter((p) => p.name === killed && p.ip).at(-1)?.ip;
  t.true(namesBefore.has(killed) && !!killedIp, `the API listed ${killed} before the kill: ${[...namesBefore].join(', ')}`);
  const after = seen.filter((s) => s.time > kill.time + 200);
  const gone = after.find((s) => !s.pods.some((p) => p.name === killed));
  t.truthy(gone, `${killed} is gone from the API after the kill`);
  const replacement = after.flatMap((s) => s.pods).find((p) => !namesBefore.has(p.name) && p.ready);
  t.truthy(replacement, `a new backend pod (another name) became Ready: ${JSON.stringify(after.at(-1)?.pods)}`);
  t.log(`pod-kill: ${killed} deleted, gone from the API ${Math.round(gone!.time - kill.time)} ms after (250 ms polls), replacement ${replacement?.name}`);
  const out1 = backendRoutes.find((x) => x.time >= kill.time && !x.attrs.backends.some((b: string) => b.startsWith(`${killedIp}:`)));
  t.truthy(out1, 'routing to the backend without the killed pod\'s address');
  t.truthy(backendRoutes.find((x) => x.time >= out1.time && x.attrs.backends.length >= 2 && x.attrs.backends.includes(`${replacement!.ip}:8080`)), 'then routing to the replacement too');
  t.like(row('kill-one'), { kind: 'pod-kill', pods: [killed] });
  t.is(row('kill-one').endS, row('kill-one').startS);
  // results.json: detected when the Service's routing (namespace/name, pods namespace.pod) left the pod
  t.true(row('kill-one').detectS !== null && row('kill-one').detectS < 5, `pod-kill detected after ${row('kill-one').detectS} s by ${row('kill-one').detectedBy}`);
  t.regex(String(row('kill-one').detectedBy), new RegExp(`without ${killed}`));
  t.not(row('kill-one').recoverS, null, 'recovered when a replacement was routed');

  // metrics-outage: the real HPA says it cannot get its metrics, from the API and in the journal
  const blind = start('blind');
  const blindEnd = end('blind');
  t.is(blindEnd?.attrs.reason, 'duration');
  const during = seen.filter((s) => s.time > blind.time && s.time < blindEnd.time + 1000);
  const off = during.find((s) => s.scalingActive?.status === 'False');
  t.truthy(off, `ScalingActive False during the outage: ${JSON.stringify(during.map((s) => s.scalingActive))}`);
  t.regex(off!.scalingActive!.reason, /^FailedGet(Resource|Object)Metric$/);
  t.true(seen.some((s) => s.time > blindEnd.time && s.scalingActive?.status === 'True'), 'ScalingActive True again after it');
  t.true(journal.some((x) => x.kind === 'hpa.warning' && x.time > blind.time && x.attrs.reason === 'FailedGetResourceMetric'), 'a FailedGetResourceMetric Event of the HPA');
  t.regex(String(row('blind').detectedBy), /ScalingActive False \(FailedGet/);
  t.not(row('blind').recoverS, null);

  // packet-loss and http-errors on the node's pods
  t.true(row('lossy').packetsDropped > 0, `packets dropped: ${row('lossy').packetsDropped}`);
  t.true(row('errors').errors > 0, `errors during http-errors: ${JSON.stringify(row('errors'))}`);

  // pod-pause: the node's readiness probe takes the stopped pod out, SIGCONT brings it back
  const hang = start('hang');
  const paused: string = hang.attrs.pods[0];
  const hangEnd = end('hang');
  const pausedSeen = seen.filter((s) => s.time > hang.time && s.time < hangEnd.time).map((s) => s.pods.find((p) => p.name === paused));
  t.true(pausedSeen.some((p) => p && !p.ready), `${paused} not Ready while stopped`);
  t.true(seen.some((s) => s.time > hangEnd.time && s.pods.some((p) => p.name === paused && p.ready)), `${paused} Ready again after SIGCONT`);
  t.true(journal.some((x) => x.kind === 'pod.unready' && x.attrs.pod === paused && x.time > hang.time), 'pod.unready from the API');
  t.not(row('hang').detectS, null, `pod-pause detected by routing: ${row('hang').detectedBy}`);
  t.not(row('hang').recoverS, null, `pod-pause recovered: ${row('hang').recoveredBy}`);

  // a fault still on when the load ends is undone by the run (the tbf on the frontend pod's veth and eth0)
  t.like(start('narrow')?.attrs, { kind: 'bandwidth', rateBitsPerSecond: 50_000_000 });
  t.is(end('narrow')?.attrs.reason, 'run end');

  for (const f of res.faults) t.log(`${f.name} (${f.kind}): detect ${f.detectS} s by ${f.detectedBy}; recover ${f.recoverS} s by ${f.recoveredBy}; ${f.requests} requests, ${f.errors} errors, dropped ${f.packetsDropped}`);
  t.deepEqual(await leftovers(kc, bridgeOf(output)), [], 'nothing of the run is left');
});
