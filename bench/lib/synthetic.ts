// A synthetic run journal built with the real model types and histogram encoding, so buildResult and
// renderReport do their real work on it: one window per second, each with http.* samples and an
// encoded latency histogram, plus the events of a long run (stages, stress, scaling, routing).
import { createHistogram, encode, record } from '../../src/core/histogram.ts';
import type { JournalRecord, PlannedStage, RunEvent, RunHeader, Sample } from '../../src/core/types.ts';

export interface SyntheticOptions {
  windows: number;
  events: number;
  /** Latency values recorded into each window's histogram. */
  valuesPerWindow?: number;
  seed?: number;
}

const SCENARIO = `name: synthetic-hour
description: synthetic one-hour run (bench/lib/synthetic.ts)
engine: autocannon
target:
  services: bundled
requests:
  - { name: items, method: GET, path: /api/items }
stages:
  - { name: warmup, duration: 5m, connections: 8 }
  - { name: ramp-up, duration: 20m, rate: { from: 100, to: 2000 } }
  - { name: steady, duration: 25m, rate: 2000 }
  - { name: ramp-down, duration: 10m, rate: { from: 2000, to: 100 } }
thresholds:
  http_req_duration: ["p(99) < 250", "p(50) < 50"]
  http_req_failed: ["rate < 0.01"]
`;

/** xorshift32: a deterministic generator, so every run of the bench renders the same journal. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 4294967296;
  };
}

export function syntheticJournal(opts: SyntheticOptions): JournalRecord[] {
  const rand = rng(opts.seed ?? 7);
  const perWindow = opts.valuesPerWindow ?? 200;
  const t0 = Date.UTC(2026, 0, 1, 12, 0, 0);
  const total = opts.windows * 1000;
  const shares = [5, 20, 25, 10];
  const names = ['warmup', 'ramp-up', 'steady', 'ramp-down'];
  const sum = shares.reduce((a, b) => a + b, 0);
  let at = 0;
  const plan: PlannedStage[] = names.map((name, i) => {
    const durationMs = Math.round((shares[i] / sum) * total);
    const p: PlannedStage = i === 0 ? { name, startMs: at, durationMs, model: 'closed', connections: 8 } : { name, startMs: at, durationMs, model: 'open', rate: i === 1 ? { from: 100, to: 2000 } : i === 2 ? { from: 2000, to: 2000 } : { from: 2000, to: 100 } };
    at += durationMs;
    return p;
  });
  const header: RunHeader = {
    runId: 'synthetic-hour',
    schemaVersion: 1,
    scenarioName: 'synthetic-hour',
    scenarioFile: 'bench/lib/synthetic.ts',
    scenarioText: SCENARIO,
    engine: 'autocannon',
    startedAt: t0,
    durationScale: 1,
    plan,
    environment: { synthetic: true },
    notices: ['synthetic journal made by the bench'],
  };
  const recs: JournalRecord[] = [{ type: 'run', ...header }];
  const ev = (e: RunEvent) => recs.push({ type: 'event', ...e });
  const smp = (s: Sample) => recs.push({ type: 'sample', ...s });
  const eventTimes: RunEvent[] = [];
  // Stage boundaries.
  for (const p of plan) {
    eventTimes.push({ kind: 'stage.start', time: t0 + p.startMs, source: 'load', attrs: { stage: p.name, model: p.model, connections: p.connections, rate: p.rate } });
    eventTimes.push({ kind: 'stage.end', time: t0 + p.startMs + p.durationMs, source: 'load', attrs: { stage: p.name } });
  }
  // Fill up to `events` with stress, scaling, pod and routing events spread over the run.
  const kinds = ['stress', 'service.scaled', 'pod.ready', 'routing.update'] as const;
  let k = 0;
  while (eventTimes.length < opts.events) {
    const time = t0 + Math.floor(rand() * total);
    const kind = kinds[k++ % kinds.length];
    if (kind === 'stress') {
      const name = `cpu-burn-${k}`;
      eventTimes.push({ kind: 'stress.start', time, source: 'stress', attrs: { name, kind: 'cpu', cores: 1, utilization: 0.5 } });
      eventTimes.push({ kind: 'stress.stop', time: Math.min(t0 + total, time + 30_000), source: 'stress', attrs: { name, kind: 'cpu', reason: 'scheduled' } });
    } else if (kind === 'service.scaled') {
      eventTimes.push({ kind, time, source: 'cluster', attrs: { service: 'backend', from: 2, to: 3, message: 'Scaled backend from 2 to 3 replicas' } });
    } else if (kind === 'pod.ready') {
      eventTimes.push({ kind, time, source: 'cluster', attrs: { service: 'backend', pod: `backend-${k}`, message: `pod backend-${k} ready` } });
    } else {
      eventTimes.push({ kind, time, source: 'cluster', attrs: { service: 'backend', backends: ['198.18.0.2', '198.18.0.3'], message: 'routes updated' } });
    }
  }
  eventTimes.length = opts.events;
  eventTimes.sort((a, b) => a.time - b.time);
  let ei = 0;
  const h = createHistogram();
  for (let w = 0; w < opts.windows; w++) {
    const time = t0 + w * 1000;
    while (ei < eventTimes.length && eventTimes[ei].time < time + 1000) ev(eventTimes[ei++]);
    const stage = plan.find((p) => w * 1000 >= p.startMs && w * 1000 < p.startMs + p.durationMs)?.name ?? names[3];
    const rps = 1000 + Math.floor(rand() * 1000);
    h.reset();
    for (let i = 0; i < perWindow; i++) record(h, 800 + Math.floor(-Math.log(1 - rand()) * 4000));
    const tags = { stage };
    smp({ metric: 'http.reqs', time, value: rps, tags });
    smp({ metric: 'http.bytes', time, value: rps * 2048, tags });
    if (rand() < 0.05) smp({ metric: 'http.errors', time, value: 1 + Math.floor(rand() * 5), tags: { stage, kind: 'http_5xx' } });
    smp({ metric: 'http.latency_us', time, value: h.totalCount, tags, hist: encode(h) });
  }
  while (ei < eventTimes.length) ev(eventTimes[ei++]);
  const end = t0 + total;
  for (const [name, role] of [['frontend', 'frontend'], ['backend', 'backend']] as const) {
    const tags = { service: name, role };
    smp({ metric: 'service.requests_served', time: end, value: 0, tags });
    smp({ metric: 'service.cpu_seconds', time: end, value: 1800, tags });
    smp({ metric: 'service.rss_bytes', time: end, value: 80 * 2 ** 20, tags });
  }
  ev({ kind: 'engine.summary', time: end, source: 'load', attrs: { engine: 'autocannon', requestsSent: 0, responses: 0, errors: 0, inFlightAtCutoff: 0, dropped: 0, latencyBasis: 'mixed', connectionsMax: 64 } });
  recs.push({ type: 'end', endedAt: end + 500, outcome: 'completed' });
  return recs;
}
