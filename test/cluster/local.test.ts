// The embedded local cluster on the real kernel: network namespaces, cgroups, the eBPF socket load
// balancer and policy (bpf/lb). Needs root and `make -C bpf`; skipped (with the reason) otherwise.
import test, { type ExecutionContext } from 'ava';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { LocalCluster } from '../../src/cluster/local/cluster.ts';
import { names } from '../../src/cluster/local/net.ts';
import { localUnavailable, resolveClusterMode } from '../../src/cluster/local/resolve.ts';
import { balancer } from '../../src/kernel/balancer.ts';
import { startProbes } from '../../src/kernel/probes.ts';
import { summarizeProbes } from '../../src/analyze/probes.ts';
import { sweepLocalLeftovers } from '../../src/cluster/local/sweep.ts';
import { now } from '../../src/core/clock.ts';
import { LoadscopeError } from '../../src/core/errors.ts';
import { runResultSchema } from '../../src/core/result.ts';
import type { JournalRecord, RunEvent, Sample } from '../../src/core/types.ts';
import { Ledger, sweepStale } from '../../src/core/ledger.ts';
import { runScenario } from '../../src/run/run.ts';
import { parseScenario } from '../../src/scenario/load.ts';
import { scenarioSchema } from '../../src/scenario/schema.ts';
import { processAlive } from '../helpers/with-server.ts';
import { needs } from '../helpers/needs.ts';
import { tempDir } from '../helpers/tmp.ts';

process.env.LOADSCOPE_LEDGER_DIR = tempDir('ls-local-ledger-');
const src = (p: string) => fileURLToPath(new URL(`../../src/${p}`, import.meta.url));

const unavailable = localUnavailable(balancer);
const kernel = needs('the local cluster tests', unavailable);

/** Journal stand-in: keeps every record. */
class Records {
  all: JournalRecord[] = [];
  sample = (s: Sample) => void this.all.push({ type: 'sample', ...s });
  event = (e: RunEvent) => void this.all.push({ type: 'event', ...e });
  events(kind: string): RunEvent[] {
    return this.all.filter((r): r is RunEvent & { type: 'event' } => r.type === 'event' && r.kind === kind);
  }
  samples(metric: string): Sample[] {
    return this.all.filter((r): r is Sample & { type: 'sample' } => r.type === 'sample' && r.metric === metric);
  }
  /** Sum of a metric's values by one tag. */
  sum(metric: string, by: string, since = 0): Record<string, number> {
    const out: Record<string, number> = {};
    for (const s of this.samples(metric)) if (s.time >= since) out[s.tags[by]] = (out[s.tags[by]] ?? 0) + s.value;
    return out;
  }
}

interface Reply {
  status: number;
  by: string;
  body: string;
}

function get(url: string, agent: http.Agent | false = false): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, by: String(res.headers['x-served-by'] ?? ''), body: Buffer.concat(chunks).toString('utf8').slice(0, 200) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
  });
}

function tally(replies: Reply[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of replies) out[r.status === 200 ? r.by : `status ${r.status}`] = (out[r.status === 200 ? r.by : `status ${r.status}`] ?? 0) + 1;
  return out;
}

/** A closed-loop load: `workers` keep-alive connections, each sending its next GET when the last answered. */
async function steadyLoad(url: string, workers: number, until: Promise<void>) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: workers });
  let done = false;
  void until.then(() => (done = true));
  const stats = { ok: 0, failed: 0, byPod: {} as Record<string, number>, failures: [] as string[] };
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (!done) {
        try {
          const r = await get(`${url}/`, agent);
          if (r.status === 200) {
            stats.ok++;
            stats.byPod[r.by] = (stats.byPod[r.by] ?? 0) + 1;
          } else {
            stats.failed++;
            stats.failures.push(`status ${r.status} from ${r.by}: ${r.body.trim()}`);
          }
        } catch (err) {
          stats.failed++;
          stats.failures.push((err as Error).message);
        }
      }
    }),
  );
  agent.destroy();
  return stats;
}

/** connect() from this process: resolves 'connected' or the error code. */
function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/** connect() from another process (optionally inside a namespace): its result line. */
function connectFrom(host: string, port: number, netns?: string): string {
  const code = `const s=require('net').connect(${port},'${host}');s.on('connect',()=>{console.log('connected');s.destroy()});s.on('error',e=>console.log(e.code))`;
  const argv = [...(netns ? ['ip', 'netns', 'exec', netns] : []), process.execPath, '-e', code];
  return execFileSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 10_000 }).trim();
}

function bpfLinkIds(): number[] {
  const out = spawnSync('bpftool', ['-j', 'link', 'show'], { encoding: 'utf8' });
  return (JSON.parse(out.stdout || '[]') as { id: number }[]).map((l) => l.id);
}

/** What is left of a run with `tag` (namespaces, links, cgroups, processes, BPF links). */
function leftovers(tag: string, cgroups: string[], pids: number[], links: number[]): string[] {
  const out: string[] = [];
  const ns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  for (const line of ns.split('\n')) if (line.startsWith(`ls-${tag}-`)) out.push(`netns ${line}`);
  const ip = spawnSync('ip', ['-br', 'link'], { encoding: 'utf8' }).stdout;
  for (const line of ip.split('\n')) if (line.includes(tag)) out.push(`link ${line.split(/\s+/)[0]}`);
  for (const c of cgroups) if (existsSync(c)) out.push(`cgroup ${c}`);
  for (const p of pids) if (processAlive(p)) out.push(`process ${p}`);
  const live = bpfLinkIds();
  for (const l of links) if (live.includes(l)) out.push(`bpf link ${l}`);
  return out;
}

async function eventually(t: ExecutionContext, what: () => string[], timeoutMs: number): Promise<string[]> {
  const deadline = performance.now() + timeoutMs;
  let left = what();
  while (left.length > 0 && performance.now() < deadline) {
    await sleep(100);
    left = what();
  }
  return left;
}

// ---- one cluster for the routing, policy, scaling and cleanup tests ----

const rec = new Records();
const runId = `local-test-${process.pid}`;
let ledger: Ledger;
let cluster: LocalCluster;
let url = '';
let started = 0;

test.before(async () => {
  if (unavailable) return;
  const spec = scenarioSchema.parse({
    name: 'local-test',
    stages: [{ duration: '1s', connections: 1 }],
    services: {
      backend: { replicas: 2, default: { delayMs: 5 }, resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '1', memory: '512Mi' } } },
      frontend: { replicas: 1 },
    },
  });
  ledger = new Ledger(runId);
  cluster = new LocalCluster(spec, { runId, sink: rec, ledger, onStatus: () => {}, balancer });
  const t0 = now();
  url = (await cluster.start(new AbortController().signal)).url;
  started = now() - t0;
});

test.after.always(async () => {
  if (unavailable) return;
  await cluster?.stop();
  ledger?.close();
});

kernel('1 frontend + 2 backend pods come up in namespaces and cgroups with their limits', async (t) => {
  t.log(`cluster up in ${Math.round(started)} ms at ${url}`);
  const info = cluster.info()!;
  t.regex(url, new RegExp(`^http://198\\.19\\.${info.octet}\\.1$`));
  const be = await cluster.podMetrics('backend');
  const fe = await cluster.podMetrics('frontend');
  t.deepEqual(be.map((p) => [p.pod, p.phase, p.ready]), [
    ['backend-1', 'Running', true],
    ['backend-2', 'Running', true],
  ]);
  t.deepEqual(fe.map((p) => p.pod), ['frontend-1']);
  const netns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  for (const p of info.netns) t.true(netns.includes(p), p);
  for (const p of be) {
    t.true(p.ip.startsWith(`198.18.${info.octet}.`));
    t.deepEqual(p.requests, { cpuMillis: 100, memoryBytes: 64 * 2 ** 20 });
    t.deepEqual(p.limits, { cpuMillis: 1000, memoryBytes: 512 * 2 ** 20 });
    t.true(p.cpuSeconds > 0 && p.memoryBytes > 0, JSON.stringify(p));
    t.true(p.readyTransitionTime! >= p.startTime);
  }
  // the limits are in the cgroup files (v1 names in the hybrid layout, v2 names otherwise)
  const cpuDir = info.cgroups.find((c) => c.includes('/cpu/')) ?? info.cgroups[0];
  const quota = existsSync(join(cpuDir, 'backend-1', 'cpu.max'))
    ? readFileSync(join(cpuDir, 'backend-1', 'cpu.max'), 'utf8').trim()
    : `${readFileSync(join(cpuDir, 'backend-1', 'cpu.cfs_quota_us'), 'utf8').trim()} ${readFileSync(join(cpuDir, 'backend-1', 'cpu.cfs_period_us'), 'utf8').trim()}`;
  t.is(quota, '100000 100000');
  t.deepEqual(rec.events('pod.ready').map((e) => e.attrs.pod).sort(), ['backend-1', 'backend-2', 'frontend-1']);
  const last = rec.events('routing.update').filter((e) => e.attrs.service === 'backend').at(-1)!;
  t.deepEqual(last.attrs.pods, ['backend-1', 'backend-2']);
  t.is(last.attrs.via, 'ebpf');
});

kernel('pod memory is the working set (memory.current less inactive file pages), as metrics-server reports it', async (t) => {
  const info = cluster.info()!;
  const dir = join(info.cgroups.find((c) => c.includes('/memory/')) ?? info.cgroups[0], 'backend-1');
  const v2 = existsSync(join(dir, 'memory.current'));
  const file = join('/var/tmp', `ls-working-set-${process.pid}`);
  t.teardown(() => rmSync(file, { force: true }));
  // page cache charged to the pod: 64 MiB written by a process inside its cgroup
  const dd = spawnSync('sh', ['-c', `echo $$ > ${join(dir, 'cgroup.procs')} && dd if=/dev/zero of=${file} bs=1M count=64 status=none`]);
  t.is(dd.status, 0, String(dd.stderr));
  const pod = (await cluster.podMetrics('backend')).find((p) => p.pod === 'backend-1')!;
  const current = Number(readFileSync(join(dir, v2 ? 'memory.current' : 'memory.usage_in_bytes'), 'utf8'));
  const inactive = Number(new RegExp(`^${v2 ? '' : 'total_'}inactive_file (\\d+)$`, 'm').exec(readFileSync(join(dir, 'memory.stat'), 'utf8'))![1]);
  t.log(`memory.current ${current}, inactive_file ${inactive}, reported ${pod.memoryBytes}`);
  t.true(inactive >= 32 * 2 ** 20, 'the written file sits in the pod\'s inactive file pages');
  t.true(Math.abs(pod.memoryBytes - (current - inactive)) <= 4 * 2 ** 20, `reported ${pod.memoryBytes}, working set ${current - inactive}`);
});

kernel('new connections through the frontend spread over both backends (x-served-by, kernel counts)', async (t) => {
  const since = now();
  const replies = await Promise.all(Array.from({ length: 40 }, () => get(`${url}/`)));
  const by = tally(replies);
  t.log('requests by backend pod:', by);
  t.is(replies.filter((r) => r.status !== 200).length, 0);
  t.true(by['backend-1'] > 0 && by['backend-2'] > 0, JSON.stringify(by));
  await sleep(1300); // the loader's 1 s window closes
  const conns = rec.sum('routing.connections', 'pod', since - 1000);
  t.log('new connections by pod (eBPF counts):', conns);
  t.is(conns['frontend-1'], 40, 'every client connection went through the frontend VIP');
  const a = conns['backend-1'] ?? 0;
  const b = conns['backend-2'] ?? 0;
  t.true(a > 0 && b > 0 && Math.abs(a - b) <= 1, `round robin: ${a} vs ${b}`);
  const d = rec.samples('routing.decision').filter((s) => s.time >= since && s.tags.service === 'backend');
  t.is(d.length, a + b, 'one decision record per new backend connection');
  t.like(d[0].meta, { client: 'frontend-1' });
});

kernel('the backend refuses anyone but frontend pods, and counts it as a policy drop', async (t) => {
  const info = cluster.info()!;
  const [vip, vport] = info.vips.backend.split(':');
  const be = await cluster.podMetrics('backend');
  const since = now();
  t.is(await tryConnect(vip, Number(vport)), 'EPERM', 'root namespace (the harness) → backend VIP');
  t.is(connectFrom(vip, Number(vport)), 'EPERM', 'another root-namespace process → backend VIP');
  t.is(connectFrom(be[1].ip, 8080), 'EPERM', 'another root-namespace process → a backend pod directly');
  t.is(connectFrom(be[1].ip, 8080, names.netns(info.tag, 'backend-1')), 'EPERM', 'backend-1 namespace → backend-2');
  const [fvip, fport] = info.vips.frontend.split(':');
  t.is(connectFrom(fvip, Number(fport)), 'connected', 'the frontend VIP is open to everyone');
  t.is((await get(`${url}/`)).status, 200, 'the frontend still reaches the backend');
  await sleep(1300);
  const drops = rec.sum('routing.policy_drops', 'service', since - 1000);
  t.is(drops.backend, 4);
  const events = rec.events('routing.policy_drop').filter((e) => e.time >= since);
  t.is(events.length, 4);
  t.is(events[0].attrs.client, 'host');
  t.is(events[0].attrs.dst, info.vips.backend);
  t.log(events.map((e) => e.attrs.message));
});

kernel('scale 2→3: the new pod joins after it is ready and receives new connections', async (t) => {
  const t0 = now();
  await cluster.scale('backend', 3);
  t.is(cluster.replicas('backend'), 3);
  await cluster.settled();
  const ready = rec.events('pod.ready').find((e) => e.attrs.pod === 'backend-3')!;
  const routed = rec.events('routing.update').find((e) => Array.isArray(e.attrs.pods) && (e.attrs.pods as string[]).includes('backend-3'))!;
  t.truthy(ready);
  t.truthy(routed);
  t.true(routed.time >= ready.time, 'routed only after ready');
  t.log(`scale() → backend-3 ready in ${Math.round(ready.time - t0)} ms, in the routing table after ${Math.round(routed.time - t0)} ms`);
  const since = now();
  // The balancer routes new connections; the frontend's keep-alive pool only opens new ones as
  // backends retire sockets (100 requests each) or as concurrency grows: send enough for both.
  const replies: Reply[] = [];
  for (let round = 0; round < 6 && !replies.some((r) => r.by === 'backend-3'); round++) {
    replies.push(...(await Promise.all(Array.from({ length: 60 }, () => get(`${url}/`)))));
  }
  const by = tally(replies);
  t.log('requests by backend pod:', by);
  t.true((by['backend-3'] ?? 0) > 0, JSON.stringify(by));
  await sleep(1300);
  const conns = rec.sum('routing.connections', 'pod', since - 1000);
  t.log('new backend connections after the scale-up:', conns);
  t.true((conns['backend-3'] ?? 0) > 0);
});

kernel('scale 3→1 under steady load: zero failed requests; drained pods exit 0', async (t) => {
  const since = now();
  let stop!: () => void;
  const until = new Promise<void>((r) => (stop = r));
  const load = steadyLoad(url, 16, until);
  await sleep(1500);
  const t0 = now();
  await cluster.scale('backend', 1);
  await cluster.settled();
  const tookMs = now() - t0;
  await sleep(1500);
  stop();
  const stats = await load;
  t.log(`scale-down took ${Math.round(tookMs)} ms; ${stats.ok} ok, ${stats.failed} failed; by pod:`, stats.byPod);
  t.deepEqual(stats.failures.slice(0, 5), []);
  t.is(stats.failed, 0);
  t.true(stats.ok > 200, `${stats.ok} requests`);
  const gone = rec.events('pod.terminated').filter((e) => e.time >= since);
  // ReplicaSet order: the most recently ready pods go first
  const readyOrder = rec.events('pod.ready').filter((e) => e.attrs.service === 'backend').map((e) => String(e.attrs.pod));
  const survivor = readyOrder[0];
  t.deepEqual(gone.map((e) => e.attrs.pod).sort(), readyOrder.slice(1).sort());
  for (const e of gone) {
    t.is(e.attrs.exitCode, 0, String(e.attrs.message));
    const out = rec.events('routing.update').find((u) => u.time >= since && !(u.attrs.pods as string[]).includes(String(e.attrs.pod)));
    t.true(out !== undefined && out.time < e.time, 'out of the routing table before it stopped');
  }
  t.deepEqual((await cluster.podMetrics('backend')).map((p) => p.pod), [survivor]);
  const after = await Promise.all(Array.from({ length: 10 }, () => get(`${url}/`)));
  t.deepEqual(tally(after), { [survivor]: 10 });
  const fe = (await cluster.counters()).find((c) => c.pod === 'frontend-1')!;
  t.true(fe.requestsServed > stats.ok);
});

kernel('pod usage is sampled every second and counters cover pods that are gone', async (t) => {
  const cpu = rec.samples('pod.cpu_seconds');
  const mem = rec.samples('pod.memory_bytes');
  t.true(cpu.some((s) => s.tags.pod === 'backend-1' && s.tags.service === 'backend' && s.value > 0));
  t.true(mem.some((s) => s.tags.pod === 'frontend-1' && s.value > 0));
  const counters = await cluster.counters();
  t.deepEqual(counters.map((c) => c.pod).sort(), ['backend-1', 'backend-2', 'backend-3', 'frontend-1']);
  const served = (svc: string) => counters.filter((c) => c.service === svc).reduce((a, c) => a + c.requestsServed, 0);
  t.true(served('backend') >= served('frontend'), `backend ${served('backend')} frontend ${served('frontend')}`);
  for (const c of counters) t.true(c.cpuSeconds > 0, JSON.stringify(c));
});

kernel('a pod that dies leaves the routing table and its namespace, and is replaced', async (t) => {
  const info = cluster.info()!;
  const [victim] = await cluster.podMetrics('backend');
  const since = now();
  const pid = rec.events('pod.ready').find((e) => e.attrs.pod === victim.pod)!.attrs.pid as number;
  process.kill(pid, 'SIGKILL');
  const deadline = now() + 15_000;
  const replaced = () => rec.events('routing.update').find((e) => e.time >= since && e.attrs.service === 'backend' && (e.attrs.pods as string[]).length === 1);
  while (!replaced() && now() < deadline) await sleep(100);
  await cluster.settled();
  const failed = rec.events('pod.failed').find((e) => e.time >= since)!;
  t.like(failed?.attrs, { service: 'backend', pod: victim.pod, signal: 'SIGKILL', reason: 'Error' });
  const updates = rec.events('routing.update').filter((e) => e.time >= since && e.attrs.service === 'backend');
  const successor = String((updates[1]?.attrs.pods as string[] | undefined)?.[0]);
  t.deepEqual(updates.map((e) => e.attrs.pods), [[], [successor]], 'out of the table, then its replacement in');
  t.not(successor, victim.pod);
  t.is(cluster.replicas('backend'), 1);
  t.false(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.includes(names.netns(info.tag, victim.pod)), 'its namespace is gone');
  const after = await Promise.all(Array.from({ length: 10 }, () => get(`${url}/`)));
  t.deepEqual(tally(after), { [successor]: 10 });
});

kernel('a pod added by a scale-up has packet-latency pairs on its veth from its first packets', async (t) => {
  const own = 'probe' + runId.slice(-6);
  const spec = scenarioSchema.parse({ name: 'local-probes', stages: [{ duration: '1s', connections: 1 }], services: { backend: { replicas: 1 }, frontend: { replicas: 1 } } });
  const sink = new Records();
  const led = new Ledger(own);
  const c = new LocalCluster(spec, { runId: own, sink, ledger: led, onStatus: () => {}, balancer });
  let probes: Awaited<ReturnType<typeof startProbes>> | undefined;
  try {
    const target = await c.start(new AbortController().signal);
    // Every packet timed: sampled fidelity starts at 1 in 16 until the loader has seen a window's
    // packet rate, so a handful of early requests may leave fewer pairs than packets.
    probes = await startProbes({ sink, filter: { ports: target.ports, ifaces: target.ifaces, cidrs: target.cidrs }, mode: 'required', fidelity: 'full', probes: ['pktlat'] });
    await c.scale('backend', 2);
    await c.settled();
    // The frontend keeps its backend connections and routing picks a pod per connection: backend-2
    // may get one connection of a round. Rounds go on until it has answered 10 requests (each a
    // request and a response through its veth).
    const replies: Reply[] = [];
    const by2 = () => replies.filter((r) => r.by === 'backend-2').length;
    for (let round = 0; round < 20 && by2() < 10; round++) replies.push(...(await Promise.all(Array.from({ length: 60 }, () => get(`${target.url}/`)))));
    t.true(by2() >= 10, JSON.stringify(tally(replies)));
    await probes.stop();
    const tag = c.info()!.tag;
    const lat = summarizeProbes(sink.all).packetLatency;
    const pairs = (veth: string) => lat.filter((l) => l.iface === veth || l.peer === veth).reduce((a, l) => a + l.count, 0);
    const vethRe = new RegExp(`^lsv${tag}\\d+$`);
    const atStart = target.ifaces.filter((i) => vethRe.test(i));
    const later = [...new Set(lat.flatMap((l) => [l.iface, l.peer]).filter((i) => vethRe.test(i) && !atStart.includes(i)))];
    const added = [...new Set(sink.samples('probe.pkt_count').map((s) => s.tags.iface).filter((i) => vethRe.test(i) && !atStart.includes(i)))];
    t.log(`veths at start ${atStart.map((v) => `${v}: ${pairs(v)} pairs`).join(', ')}; added later (seen in packet counts) ${added.join(', ') || 'none'}; pairs on them ${added.map((v) => `${v}: ${pairs(v)}`).join(', ') || 'none'}`);
    t.is(added.length, 1, 'the added pod\'s veth is counted');
    t.true(later.includes(added[0]) && pairs(added[0]) >= 20, `pairs on ${added[0]}: ${pairs(added[0])}`);
  } finally {
    await probes?.stop();
    await c.stop();
    led.close();
  }
});

kernel('stop leaves no namespace, link, cgroup, process or BPF link', async (t) => {
  const info = cluster.info()!;
  t.true(info.bpfLinks.length === 1 && bpfLinkIds().includes(info.bpfLinks[0]), 'attached while running');
  const pids = [info.loaderPid, ...info.podPids];
  await cluster.stop();
  const left = await eventually(t, () => leftovers(info.tag, info.cgroups, pids, info.bpfLinks), 3000);
  t.deepEqual(left, []);
  t.deepEqual(ledger.close(), [], 'nothing left for the janitor');
  const stopped = rec.events('routing.stopped');
  t.is(stopped.length, 1);
  t.log(String(stopped[0].attrs.message));
});

kernel('a SIGKILLed run leaves nothing once the next run has swept', async (t) => {
  const code = `
    import { LocalCluster } from ${JSON.stringify(src('cluster/local/cluster.ts'))};
    import { Ledger } from ${JSON.stringify(src('core/ledger.ts'))};
    import { balancer } from ${JSON.stringify(src('kernel/balancer.ts'))};
    import { scenarioSchema } from ${JSON.stringify(src('scenario/schema.ts'))};
    const spec = scenarioSchema.parse({ name: 'doomed', stages: [{ duration: '1s', connections: 1 }], services: { backend: { replicas: 2 } } });
    const runId = 'doomed-' + process.pid;
    const c = new LocalCluster(spec, { runId, sink: { sample() {}, event() {} }, ledger: new Ledger(runId), onStatus() {}, balancer });
    await c.start(new AbortController().signal);
    process.stdout.write(JSON.stringify(c.info()) + '\\n');
    setInterval(() => {}, 60_000);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (c) => reject(new Error(`child exited with ${c}`)));
  });
  const info = JSON.parse(line) as NonNullable<ReturnType<LocalCluster['info']>>;
  const pids = [info.loaderPid, ...info.podPids];
  t.is(info.podPids.length, 3);
  const running = leftovers(info.tag, info.cgroups, pids, info.bpfLinks);
  t.is(running.length, 3 + 4 + info.cgroups.length + 4 + 1, `everything is there while it runs: ${running.join(', ')}`);
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  // the BPF link goes with the loader, which dies with its parent (PR_SET_PDEATHSIG)
  const loaderGone = () => leftovers(info.tag, [], [info.loaderPid], info.bpfLinks).filter((l) => /^(process|bpf link)/.test(l));
  t.deepEqual(await eventually(t, loaderGone, 3000), []);
  // what the next run does first
  const swept = [...sweepStale(), ...(await sweepLocalLeftovers())];
  t.log(swept);
  t.deepEqual(await eventually(t, () => leftovers(info.tag, info.cgroups, pids, info.bpfLinks), 3000), []);
});

kernel('a run in local mode: per-pod connections, rate-limit refusals and updates in results.json', async (t) => {
  const dir = tempDir('ls-local-run-');
  const text = [
    'name: local-routing',
    'cluster: { mode: local }',
    'services:',
    '  backend:',
    '    replicas: 2',
    '    rateLimit: { requestsPerSecond: 20, burst: 5 }',
    'stages:',
    '  - duration: 2s',
    '    connections: 8',
    'probes: off',
  ].join('\n');
  const file = join(dir, 'scenario.yaml');
  writeFileSync(file, text);
  const out = await runScenario(parseScenario(text, file), { outDir: dir });
  const res = runResultSchema.parse(JSON.parse(readFileSync(out.files.results, 'utf8')));
  const routing = res.routing!;
  t.truthy(routing);
  t.log(JSON.stringify(routing.services.backend));
  t.is(routing.via, 'ebpf');
  t.deepEqual(Object.keys(routing.services.backend.pods).sort(), ['backend-1', 'backend-2']);
  for (const p of Object.values(routing.services.backend.pods)) t.true(p.connections > 0 && p.rateLimited > 0, JSON.stringify(p));
  t.true(routing.rateLimited > 0);
  const refusedSeen = res.http.errorsByKind.http_4xx ?? 0;
  t.true(refusedSeen > 0 && Math.abs(routing.rateLimited - refusedSeen) <= res.http.inFlightAtCutoff, `client saw ${refusedSeen} 429s, pods refused ${routing.rateLimited}`);
  t.true(routing.updates.length >= 3);
  t.deepEqual(Object.keys(res.services.backend.pods ?? {}).sort(), ['backend-1', 'backend-2']);
  t.true(res.notices.some((n) => /local cluster: pods in network namespaces/.test(n)));
  t.true(res.notices.some((n) => /rate limit/.test(n)));
});

test.serial('without the lb build, auto falls back to loopback and says why', async (t) => {
  const saved = process.env.LOADSCOPE_LB_BINARY;
  process.env.LOADSCOPE_LB_BINARY = '/nonexistent/lb';
  try {
    const notices: string[] = [];
    t.is(resolveClusterMode(notices, balancer), 'loopback');
    t.is(notices.length, 1);
    t.regex(notices[0], /cluster mode auto chose loopback: .*(not root|not built|\/nonexistent\/lb)/);
    const spec = scenarioSchema.parse({ name: 'x', stages: [{ duration: '1s', connections: 1 }] });
    const c = new LocalCluster(spec, { runId: 'no-lb', sink: new Records(), ledger: new Ledger('no-lb'), onStatus: () => {}, balancer });
    const err = await t.throwsAsync(c.start(new AbortController().signal), { instanceOf: LoadscopeError });
    t.is(err?.code, 'ENVIRONMENT');
    t.regex(err?.message ?? '', /cannot run here/);
    if (unavailable) return;
    const dir = tempDir('ls-local-fallback-');
    const text = 'name: fallback\nstages:\n  - duration: 1s\n    connections: 2\nprobes: off\n';
    const out = await runScenario(parseScenario(text, join(dir, 's.yaml')), { outDir: dir });
    t.true(out.result.notices.some((n) => /chose loopback: .*not built/.test(n)), JSON.stringify(out.result.notices));
    t.is(out.result.routing?.via ?? 'frontend', 'frontend');
  } finally {
    if (saved === undefined) delete process.env.LOADSCOPE_LB_BINARY;
    else process.env.LOADSCOPE_LB_BINARY = saved;
  }
});
