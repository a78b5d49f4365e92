// One generator of synthetic run journals, for the tests and the benches: a run with every signal the
// report shows (HTTP windows, stages, stress, HPA events and conditions, replicas, pod CPU and memory,
// routing updates and per-backend connections, packet latency per interface, RTT, retransmits, drops,
// sampled packet records) built from the real model types and histogram codec, deterministic per seed.
import { createWriteStream, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { createHistogram, decodeSparse, encode, valueFromIndex, type Histogram } from '../../src/core/histogram.ts';
import type { JournalRecord, PlannedStage, Sample } from '../../src/core/types.ts';
import { xorshift32 } from '../../src/core/random.ts';

export interface SyntheticOptions {
  /** Length of the run: one 1 s window per second. */
  seconds: number;
  /** Sampled per-packet/per-connection records (probe.route, routing.decision, probe.conn). */
  packetRecords: number;
  /** Run events besides the sampled records (stages, stress, HPA, pods, routing). */
  events: number;
  /** Put this string into every name a run can carry (pods, services, ifaces, reasons, messages). */
  hostile?: string;
  seed?: number;
  /** Start of the run, epoch ms. */
  startedAt?: number;
  /** How histograms are written (default: the codec's encode; a test passes an old journal's encoder). */
  encodeHist?: (h: Histogram) => string;
  /** machine.wake_cpu_us once a second around this many µs (src/run/wake-gauge.ts); none when absent, as in journals before the gauge. */
  wakeUs?: number;
}

const rng = xorshift32;

/** A latency histogram of `n` values around `median` µs with a long tail (a few dozen distinct values). */
function latencyHist(r: () => number, n: number, median: number, tail: number): Histogram {
  const h = createHistogram();
  if (n <= 0) return h;
  const k = Math.min(40, n);
  let left = n;
  for (let i = 0; i < k; i++) {
    const c = i === k - 1 ? left : Math.max(1, Math.floor(n / k));
    left -= c;
    const q = (i + r()) / k;
    const v = median * Math.exp((q - 0.5) * 1.2) * (q > 0.97 ? tail : 1);
    h.recordValueWithCount(Math.max(1, Math.min(3_600_000_000, Math.round(v))), c);
    if (left <= 0) break;
  }
  return h;
}

const SCENARIO = (hostile: string) => `# synthetic one-hour run for the report benchmark
name: report-scale
description: ${JSON.stringify(`Synthetic hour: step load, HPA scale-up and scale-down ${hostile}`)}
requests:
  - { method: GET, path: ${JSON.stringify(`/api/items${hostile ? `?q=${hostile.replace(/\s/g, '/')}` : ''}`)}, headers: { x-note: ${JSON.stringify(hostile || 'none')} } }
stages:
  - { name: warm, duration: 5m, connections: 20 }
  - { name: base, duration: 15m, rate: 200 }
  - { name: ramp, duration: 10m, rate: { from: 200, to: 900 } }
  - { name: peak, duration: 15m, rate: 1200 }
  - { name: down, duration: 15m, rate: { from: 1200, to: 100 } }
stress:
  - { name: burn, start: 40m, duration: 3m, cores: 1, utilization: 0.5 }
thresholds:
  http_req_duration: ["p(99) < 250", "p(50) < 50"]
  http_req_failed: ["rate < 0.01"]
`;

/** The synthetic run's records in journal order (a generator: a 1M-record journal never sits in memory). */
export function* syntheticRecords(o: SyntheticOptions): Generator<JournalRecord> {
  const r = rng(o.seed ?? 42);
  const hist = (n: number, median: number, tail: number) => (o.encodeHist ?? encode)(latencyHist(r, n, median, tail));
  const X = o.hostile ?? '';
  const t0 = o.startedAt ?? Date.UTC(2026, 0, 15, 2, 0, 0);
  const S = o.seconds;
  const scale = S / 3600;
  const stageDefs: { name: string; dur: number; model: 'open' | 'closed'; rate?: { from: number; to: number }; connections?: number }[] = [
    { name: 'warm', dur: 300, model: 'closed', connections: 20 },
    { name: 'base', dur: 900, model: 'open', rate: { from: 200, to: 200 } },
    { name: 'ramp', dur: 600, model: 'open', rate: { from: 200, to: 900 } },
    { name: 'peak', dur: 900, model: 'open', rate: { from: 1200, to: 1200 } },
    { name: 'down', dur: 900, model: 'open', rate: { from: 1200, to: 100 } },
  ];
  let at = 0;
  const plan: PlannedStage[] = stageDefs.map((s) => {
    const p: PlannedStage = { name: s.name + X, startMs: at, durationMs: Math.max(1000, Math.round(s.dur * scale * 1000)), model: s.model, ...(s.rate ? { rate: s.rate } : {}), ...(s.connections ? { connections: s.connections } : {}) };
    at += p.durationMs;
    return p;
  });
  const stressStart = Math.round(2400 * scale);
  const stressEnd = stressStart + Math.max(1, Math.round(180 * scale));
  yield {
    type: 'run',
    runId: `20260115T020000Z-report-scale-${X}`,
    schemaVersion: 1,
    scenarioName: `report-scale${X}`,
    scenarioFile: `scenarios/report-scale${X}.yaml`,
    scenarioText: SCENARIO(X),
    engine: 'autocannon',
    startedAt: t0,
    durationScale: 1,
    plan,
    environment: { loadscope: '0.1.0', gitRevision: `abc1234${X}`, node: 'v20.20.2', kernel: `6.1.0-synthetic${X}`, host: `bench-host${X}`, cpus: 2, cpuModel: 'synthetic', memoryGiB: 24, root: true },
    notices: [`synthetic journal for the report benchmark${X}`],
  };
  const ev = (kind: string, time: number, source: string, attrs: Record<string, unknown>): JournalRecord => ({ type: 'event', kind, time, source, attrs });
  const sm = (s: Sample): JournalRecord => ({ type: 'sample', ...s });
  yield ev('probes.status', t0, 'probes', { enabled: true, probes: ['pktlat', 'fibroute', 'tcpwatch'] });
  yield ev('hpa.start', t0 + 5, 'autoscaler', { hpa: `backend${X}`, target: `Deployment/backend${X}`, minReplicas: 2, maxReplicas: 12, message: `HorizontalPodAutoscaler backend${X} watches Deployment/backend${X} (2..12 replicas)` });

  const svc = `backend${X}`;
  const ifaces = ['lo', `br-ls${X}`, 'veth-fe', 'veth-be'];
  const reasons = ['NETFILTER_DROP', `TCP_INVALID_SEQUENCE${X}`, 'SKB_CSUM'];
  type Pod = { name: string; ip: string; readyAt: number; goneAt: number; cpu: number; served: number };
  let podSeq = 0;
  const newPod = (readyAt: number): Pod => {
    podSeq++;
    return { name: `backend-${podSeq}${X}`, ip: `198.18.1.${podSeq}`, readyAt, goneAt: Infinity, cpu: 0, served: 0 };
  };
  const pods: Pod[] = [newPod(-1), newPod(-1)];
  for (const p of pods) yield ev('pod.ready', t0 - 2000, 'cluster', { service: `backend${X}`, pod: p.name, ip: p.ip, startupMs: 3900, message: `pod ${p.name} ready after 3900 ms` });
  let desired = 2;
  let generation = 1;
  let lastScaleUp = -1e9;
  let lowSince = -1;
  let events = 4;
  const pending: JournalRecord[] = [];
  const packetEvery = o.packetRecords / S;
  let packetsOwed = 0;
  const fe = 'frontend';
  let sampledSeq = 0;

  for (let w = 0; w < S; w++) {
    const tw = t0 + w * 1000;
    const st = plan.findIndex((p) => w * 1000 >= p.startMs && w * 1000 < p.startMs + p.durationMs);
    const stage = st >= 0 ? plan[st] : undefined;
    if (stage && w * 1000 === stage.startMs) {
      if (st > 0) {
        yield ev('stage.end', tw, 'load', { stage: plan[st - 1].name });
        events++;
      }
      yield ev('stage.start', tw + 3, 'load', { stage: stage.name, model: stage.model, connections: stage.connections, rate: stage.rate });
      events++;
    }
    if (w === stressStart) {
      yield ev('stress.start', tw + 1, 'stress', { name: 'burn', kind: 'cpu', cores: 1, utilization: 0.5 });
      events++;
    }
    if (w === stressEnd) {
      yield ev('stress.stop', tw + 1, 'stress', { name: 'burn', kind: 'cpu', reason: 'scheduled' });
      events++;
    }
    const frac = stage ? (w * 1000 - stage.startMs) / stage.durationMs : 0;
    const offered = !stage ? 0 : stage.rate ? stage.rate.from + (stage.rate.to - stage.rate.from) * frac : 180;
    const ready = pods.filter((p) => p.readyAt <= w && p.goneAt > w);
    const capacity = ready.length * 150 * (w >= stressStart && w < stressEnd ? 0.8 : 1);
    const u = capacity > 0 ? offered / capacity : 2;
    const rps = Math.max(0, Math.round(Math.min(offered, capacity * 1.05) * (0.97 + r() * 0.06)));
    const p50 = 4000 / Math.max(0.05, 1 - Math.min(0.97, u));
    const errors = u > 1 ? Math.round(rps * 0.02 * (u - 1) * 10) : r() < 0.01 ? 1 : 0;
    const tags = { stage: stage?.name ?? '' };
    const ts = tw + 999;
    yield sm({ metric: 'http.reqs', time: ts, value: rps, tags });
    yield sm({ metric: 'http.bytes', time: ts, value: rps * 612, tags });
    if (errors) yield sm({ metric: 'http.errors', time: ts, value: errors, tags: { ...tags, kind: u > 1.2 ? 'timeout' : 'status_503' } });
    if (rps) {
      yield sm({ metric: 'http.latency_us', time: ts, value: rps, tags, hist: hist(rps, p50, u > 0.9 ? 6 : 2.5) });
      yield sm({ metric: 'http.service_time_us', time: ts, value: rps, tags, hist: hist(rps, p50 * 0.9, 2) });
    }
    if (w >= stressStart && w < stressEnd) yield sm({ metric: 'stress.cores', time: ts, value: 0.5, tags: { name: 'burn' } });

    // HPA: a sync every 15 s
    if (w % 15 === 5) {
      const want = Math.max(2, Math.min(12, Math.ceil((ready.length * u) / 0.7)));
      const conditions = [
        { type: 'AbleToScale', status: 'True', reason: 'ReadyForNewScale', message: 'recommended size matches current size' },
        { type: 'ScalingActive', status: 'True', reason: 'ValidMetricFound', message: `the HPA was able to successfully calculate a replica count from cpu resource utilization${X}` },
        want >= 12 ? { type: 'ScalingLimited', status: 'True', reason: 'TooManyReplicas', message: 'the desired replica count is more than the maximum replica count' } : { type: 'ScalingLimited', status: 'False', reason: 'DesiredWithinRange', message: 'the desired count is within the acceptable range' },
      ];
      if (want > desired && w - lastScaleUp >= 15) {
        yield ev('hpa.rescale', tw + 250, 'autoscaler', { hpa: svc, type: 'Normal', reason: 'SuccessfulRescale', message: `New size: ${want}; reason: cpu resource utilization (percentage of request) above target${X}`, from: desired, to: want });
        events++;
        for (let k = desired; k < want; k++) {
          const p = newPod(w + 4 + Math.floor(r() * 6));
          pods.push(p);
          yield ev('pod.created', tw + 300, 'cluster', { service: svc, pod: p.name, ip: p.ip, phase: 'Pending', message: `Created pod ${p.name} (${p.ip})` });
          events++;
        }
        desired = want;
        lastScaleUp = w;
        lowSince = -1;
      } else if (want < desired) {
        if (lowSince < 0) lowSince = w;
        if (w - lowSince >= 300) {
          yield ev('hpa.rescale', tw + 250, 'autoscaler', { hpa: svc, type: 'Normal', reason: 'SuccessfulRescale', message: `New size: ${want}; reason: All metrics below target`, from: desired, to: want });
          events++;
          const live = pods.filter((p) => p.goneAt === Infinity).slice(-(desired - want));
          for (const p of live) {
            p.goneAt = w + 1;
            yield ev('pod.terminating', tw + 400, 'cluster', { service: svc, pod: p.name, reason: 'scale down', message: `Deleted pod ${p.name} (scale down)` });
            generation++;
            yield ev('routing.update', tw + 410, 'cluster', { service: svc, via: 'ebpf', vip: '198.18.0.10:80', generation, pods: pods.filter((q) => q.goneAt > w + 1 && q.readyAt <= w).map((q) => q.name), backends: [], reason: `pod ${p.name} terminating`, message: `routing for ${svc} updated` });
            events += 2;
          }
          desired = want;
          lowSince = -1;
        }
      } else lowSince = -1;
      yield ev('hpa.status', tw + 260, 'autoscaler', { hpa: svc, currentReplicas: desired, desiredReplicas: want, conditions, message: `replicas ${desired}, desired ${want}` });
      events++;
      yield sm({ metric: 'hpa.replicas', time: tw + 260, value: desired, tags: { hpa: svc, kind: 'current' } });
      yield sm({ metric: 'hpa.replicas', time: tw + 260, value: want, tags: { hpa: svc, kind: 'desired' } });
    }
    for (const p of pods) {
      if (p.readyAt === w) {
        yield ev('pod.ready', tw + 500, 'cluster', { service: svc, pod: p.name, ip: p.ip, startupMs: 4200, message: `pod ${p.name} ready after 4200 ms` });
        generation++;
        yield ev('routing.update', tw + 520, 'cluster', { service: svc, via: 'ebpf', vip: '198.18.0.10:80', generation, pods: pods.filter((q) => q.readyAt <= w && q.goneAt > w).map((q) => q.name), backends: [], reason: `pod ${p.name} ready`, message: `routing for ${svc} updated` });
        events += 2;
      }
      if (p.goneAt === w + 5) {
        yield ev('pod.terminated', tw + 100, 'cluster', { service: svc, pod: p.name, message: `pod ${p.name} exited` });
        events++;
      }
    }

    // the machine gauge: a deterministic wobble, not drawn from r() (the other signals stay as they were)
    if (o.wakeUs !== undefined) yield sm({ metric: 'machine.wake_cpu_us', time: tw + 600, value: Math.round(o.wakeUs * (1 + 0.08 * Math.sin(w * 1.7)) * 100) / 100, tags: {} });

    // pods: usage and routing per backend
    const weights = ready.map((_, i) => 1 + (i === 0 ? 0.3 : 0) + r() * 0.1);
    const wsum = weights.reduce((a, b) => a + b, 0) || 1;
    for (const p of pods) {
      if (p.goneAt <= w || (p.readyAt > w && p.readyAt - w > 8)) continue;
      const i = ready.indexOf(p);
      const share = i >= 0 ? (rps * weights[i]) / wsum : 0;
      p.cpu += 0.02 + share * 0.0009 * (0.9 + r() * 0.2);
      p.served += Math.round(share);
      const ptags = { service: svc, pod: p.name };
      yield sm({ metric: 'pod.cpu_seconds', time: tw + 700, value: p.cpu, tags: ptags });
      yield sm({ metric: 'pod.memory_bytes', time: tw + 700, value: (60 + share * 0.05 + r() * 2) * 1048576, tags: ptags });
      yield sm({ metric: 'pod.requests_served', time: tw + 710, value: p.served, tags: ptags });
      if (share > 0) yield sm({ metric: 'routing.connections', time: tw + 990, value: Math.round(share / 40) + 1, tags: ptags, meta: { windowMs: 1000, backend: `${p.ip}:8080` } });
    }

    // probes
    for (const iface of ifaces) {
      for (const dir of ['to', 'from']) {
        const pk = Math.round(rps * (dir === 'to' ? 2.2 : 1.8) * (iface === 'lo' ? 0.2 : 1)) + 3;
        const base = (iface === 'lo' ? 4_000 : 18_000) * (1 + Math.min(3, u) * 0.3);
        yield sm({ metric: 'probe.pkt_count', time: tw, value: pk, tags: { iface, dir } });
        yield sm({ metric: 'probe.pkt_bytes', time: tw, value: pk * 400, tags: { iface, dir } });
        yield sm({ metric: 'probe.pkt_latency_ns', time: tw, value: pk, tags: { iface, peer: iface, dir }, hist: hist(pk, base, 8), meta: { sum: pk * base * 1.1 } });
      }
    }
    for (const p of ready.slice(0, 6)) {
      const n = 20 + Math.round(rps / 20);
      yield sm({ metric: 'probe.tcp_srtt_us', time: tw, value: n, tags: { peer: p.ip, port: '8080', side: 'client' }, hist: hist(n, 60 * (1 + u), 3), meta: { sum: n * 70 } });
    }
    for (let k = 0; k < 4; k++) yield sm({ metric: 'probe.route_lookups', time: tw, value: Math.round(rps / 4) + 1, tags: { table: '254', oif: ifaces[k], err: '0' }, meta: { src: '198.18.0.1', dst: `198.18.1.${k + 1}`, gw: '0.0.0.0', proto: 6 } });
    if (u > 0.85 || r() < 0.05) yield sm({ metric: 'probe.tcp_retrans_segs', time: tw, value: 1 + Math.round(r() * 4 * Math.max(0, u - 0.8) * 10), tags: { peer: ready[0]?.ip ?? '198.18.1.1', port: '8080', side: 'client' } });
    if (u > 1 || r() < 0.03) yield sm({ metric: 'probe.drops', time: tw, value: 1 + Math.round(r() * 5), tags: { reason: reasons[Math.floor(r() * reasons.length)], iface: ifaces[1] } });
    yield sm({ metric: 'probe.tcp_conn_opened', time: tw, value: 5, tags: {} });
    yield sm({ metric: 'probe.tcp_conn_closed', time: tw, value: 5, tags: {} });

    // sampled per-packet / per-connection records
    packetsOwed += packetEvery;
    while (packetsOwed >= 1) {
      packetsOwed--;
      sampledSeq++;
      const tp = tw + r() * 1000;
      const k = sampledSeq % 10;
      const p = ready[sampledSeq % Math.max(1, ready.length)] ?? pods[0];
      if (k < 7) {
        pending.push(ev('probe.route', tp, 'probe.fibroute', { table: 254, src: '198.18.0.1', dst: p.ip, gw: '0.0.0.0', oif: ifaces[sampledSeq % 4], oif_index: 4, flow_oif: 0, flow_iif: 1, err: 0, proto: 6, sport: 30000 + (sampledSeq % 30000), dport: 8080, first: false }));
      } else if (k < 9) {
        pending.push(sm({ metric: 'routing.decision', time: tp, value: 1, tags: { service: svc, pod: p.name }, meta: { client: 'frontend-1', clientIp: '198.18.0.2', vip: '198.18.0.10:80', backend: `${p.ip}:8080`, generation } }));
      } else {
        pending.push(ev('probe.conn', tp, 'probe.tcpwatch', { side: 'client', laddr: '198.18.0.2', lport: 30000 + (sampledSeq % 30000), raddr: p.ip, rport: 8080, state: 'closed', from: fe, startMs: tp, establishedMs: tp + 0.1, endMs: tp + 40, durationMs: 40, connectMs: 0.1 }));
      }
    }
    pending.sort((a, b) => (a as { time: number }).time - (b as { time: number }).time);
    yield* pending;
    pending.length = 0;
    // top the run events up to the asked number, evenly
    while (events < Math.floor(((w + 1) / S) * o.events) - 4) {
      yield ev('hpa.warning', tw + 800, 'autoscaler', { hpa: svc, type: 'Warning', reason: 'FailedGetResourceMetric', message: `failed to get cpu utilization: missing request for cpu in container backend of pod ${pods[0].name}${X}` });
      events++;
    }
  }
  const tend = t0 + S * 1000;
  yield ev('stage.end', tend - 5, 'load', { stage: plan[plan.length - 1].name });
  yield ev('engine.summary', tend - 2, 'load', { requestsSent: 0, latencyBasis: 'intended start (coordinated-omission corrected)', inFlightAtCutoff: 0, dropped: 0 });
  yield ev('hpa.stop', tend - 1, 'autoscaler', { hpa: svc, syncs: Math.floor(S / 15), conditions: [], message: `HPA ${svc} stopped` });
  const counters: { service: string; role: string; pod: string; served: number }[] = pods.map((p) => ({ service: svc, role: 'backend', pod: p.name, served: p.served }));
  for (const c of counters) {
    const tags = { service: c.service, role: c.role, pod: c.pod };
    yield sm({ metric: 'service.requests_served', time: tend, value: c.served, tags });
    yield sm({ metric: 'service.requests_aborted', time: tend, value: 0, tags });
    yield sm({ metric: 'service.cpu_seconds', time: tend, value: 1, tags });
    yield sm({ metric: 'service.rss_bytes', time: tend, value: 64 * 1048576, tags });
  }
  yield { type: 'end', endedAt: tend + 50, outcome: 'completed' };
}

/** Writes the synthetic journal to `path` (streamed); returns its size and record count. */
export async function writeSyntheticJournal(path: string, o: SyntheticOptions): Promise<{ bytes: number; records: number }> {
  mkdirSync(dirname(path), { recursive: true });
  const out = createWriteStream(path);
  let buf: string[] = [];
  let records = 0;
  const flush = async () => {
    if (!buf.length) return;
    const text = buf.join('\n') + '\n';
    buf = [];
    if (!out.write(text)) await new Promise<void>((res) => out.once('drain', () => res()));
  };
  for (const r of syntheticRecords(o)) {
    buf.push(JSON.stringify(r));
    records++;
    if (buf.length >= 5000) await flush();
  }
  await flush();
  await new Promise<void>((res, rej) => out.end((err?: Error | null) => (err ? rej(err) : res())));
  return { bytes: statSync(path).size, records };
}

/** A record edit for a slower candidate: every http.latency_us histogram's values times `factor`. */
export function slowerBy(factor: number): (r: JournalRecord) => JournalRecord {
  return (r) => {
    if (r.type !== 'sample' || r.metric !== 'http.latency_us' || !r.hist) return r;
    const s = decodeSparse(r.hist);
    const h = createHistogram();
    for (let i = 0; i < s.idx.length; i++) h.recordValueWithCount(valueFromIndex(s.layout, s.idx[i]) * factor, s.cnt[i]);
    return { ...r, hist: encode(h) };
  };
}
