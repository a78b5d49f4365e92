// npm run soak [-- --minutes N] [--rate R] [--out DIR]
// A long steady run of the harness itself (issue 20): open-model load at R req/s on the bundled
// frontend → backend, probes on, the backend scaled by the local HPA, for N minutes (default 30).
// Then the checks: the client's count equals the sum of the 1 s windows and what the services
// served; no probe event lost; the harness's memory flat (RSS sampled every 10 s, least-squares slope
// after the warm-up — a fifth of the run, at least 1 min — bound RSS_SLOPE_MAX_MIB_PER_MIN). Prints a progress line every
// 30 s and one line per check; exit 0 when every check passes, 1 when one fails, 2 on bad arguments.
// Not part of `npm test`. It uses the public run API (runScenario), as the CLI does.
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { RunResult } from '../src/core/result.ts';
import type { JournalRecord } from '../src/core/types.ts';
import { runScenario } from '../src/run/run.ts';
import { parseScenario } from '../src/scenario/load.ts';

/** The harness's RSS may grow at most this fast after warm-up (MiB per minute): 1 MiB/min is 30 MiB over the default 30 min. */
export const RSS_SLOPE_MAX_MIB_PER_MIN = 1;
/**
 * Warm-up, not in the slope: the first fifth of the run, and at least the first minute (pools, JIT,
 * the pods the HPA adds, the heap settling: a 3 min soak's RSS fell 281 → 224 MiB between 0.6 and 0.95 min).
 */
export const WARMUP_FRACTION = 0.2;
export const WARMUP_MIN_MINUTES = 1;

/** Minutes of warm-up in a run of `totalMin` minutes (never more than half of it). */
export function warmupMinutes(totalMin: number): number {
  return Math.min(totalMin / 2, Math.max(totalMin * WARMUP_FRACTION, WARMUP_MIN_MINUTES));
}

/**
 * One RSS reading: minutes since the load began, MiB; beside it the main thread's V8 heap (in use and
 * reserved) and the memory outside any V8 heap it knows of (external, of which ArrayBuffers), to tell
 * a heap leak from native memory or the allocator keeping pages.
 */
export interface RssPoint {
  min: number;
  mib: number;
  heapMib?: number;
  heapTotalMib?: number;
  externalMib?: number;
  arrayBuffersMib?: number;
}

/** A reading of this process now (RssPoint without its time). */
export function memoryPoint(): Omit<RssPoint, 'min'> {
  const m = process.memoryUsage();
  const mib = (b: number) => b / 2 ** 20;
  return { mib: mib(m.rss), heapMib: mib(m.heapUsed), heapTotalMib: mib(m.heapTotal), externalMib: mib(m.external), arrayBuffersMib: mib(m.arrayBuffers) };
}

/**
 * The slopes (MiB/min) after warm-up of RSS and of each part of it: the main thread's heap in use and
 * reserved, external, and the rest (RSS − heap reserved − external: the load thread's heap, native
 * allocations, the allocator's free pages). One line for the soak's output.
 */
export function memorySplit(points: readonly RssPoint[], totalMin: number): string {
  const steady = points.filter((p) => p.min >= warmupMinutes(totalMin));
  const line = (name: string, y: (p: RssPoint) => number | undefined): string => {
    const pts = steady.flatMap((p) => (y(p) === undefined ? [] : [{ x: p.min, y: y(p)! }]));
    const s = slope(pts);
    return `${name} ${Number.isFinite(s) ? `${s >= 0 ? '+' : ''}${s.toFixed(3)}` : 'n/a'} (${pts.length ? `${pts[0].y.toFixed(1)}→${pts[pts.length - 1].y.toFixed(1)}` : 'no samples'})`;
  };
  const rest = (p: RssPoint) => (p.heapTotalMib === undefined || p.externalMib === undefined ? undefined : p.mib - p.heapTotalMib - p.externalMib);
  return `memory after warm-up, slope MiB/min (first→last MiB): ${[
    line('RSS', (p) => p.mib),
    line('heap used', (p) => p.heapMib),
    line('heap reserved', (p) => p.heapTotalMib),
    line('external', (p) => p.externalMib),
    line('of which ArrayBuffers', (p) => p.arrayBuffersMib),
    line('rest (RSS − heap reserved − external)', rest),
  ].join(', ')}`;
}

/** Least-squares slope of y on x; NaN with fewer than two distinct x. */
export function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const p of points) {
    sxy += (p.x - mx) * (p.y - my);
    sxx += (p.x - mx) ** 2;
  }
  return sxx === 0 ? NaN : sxy / sxx;
}

/** One check of the soak: its name, pass or fail, and the figures it compared. */
export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/**
 * The soak's checks on a finished run: counts (client = windows = served, within what was unanswered
 * at the cut-off), probe events lost, RSS slope after warm-up.
 */
export function soakChecks(result: RunResult, clientResponses: number, rss: readonly RssPoint[], totalMin: number, loadersLost = 0): Check[] {
  const windows = result.windows.reduce((a, w) => a + w.rps, 0);
  const fe = Object.values(result.services).find((s) => s.role === 'frontend');
  const be = Object.values(result.services).find((s) => s.role === 'backend');
  const unanswered = result.http.inFlightAtCutoff + (result.http.errorsByKind.timeout ?? 0) + (result.http.errorsByKind.conn ?? 0);
  const checks: Check[] = [];
  checks.push({ name: 'client count = sum of windows', ok: clientResponses === windows, detail: `client ${clientResponses}, windows ${windows}` });
  if (!fe) checks.push({ name: 'served = client count', ok: false, detail: 'no frontend counters in the results' });
  else {
    const d = fe.requestsServed - clientResponses;
    checks.push({ name: 'served = client count', ok: d >= 0 && d <= unanswered, detail: `frontend served ${fe.requestsServed}, client ${clientResponses}, difference ${d} (allowed 0..${unanswered}: in flight at cut-off ${result.http.inFlightAtCutoff}, timeouts and connection errors ${unanswered - result.http.inFlightAtCutoff})` });
  }
  if (fe && be) checks.push({ name: 'backend served = frontend served', ok: be.requestsServed === fe.requestsServed, detail: `backend ${be.requestsServed} over ${Object.keys(be.pods ?? {}).length || 1} pod(s), frontend ${fe.requestsServed}` });
  const st = result.probes.status as { enabled?: boolean; reason?: string };
  const windowsLost = (result.probes.lostEvents as { total?: number } | undefined)?.total ?? 0;
  const lost = Math.max(windowsLost, loadersLost);
  checks.push({ name: 'probe events lost = 0', ok: st.enabled === true && lost === 0, detail: st.enabled ? `${lost} lost (lost-event records ${windowsLost}, loaders' end reports ${loadersLost})` : `probes off: ${st.reason ?? 'unknown'}` });
  const warm = warmupMinutes(totalMin);
  const steady = rss.filter((p) => p.min >= warm);
  const s = slope(steady.map((p) => ({ x: p.min, y: p.mib })));
  const range = steady.length ? `${Math.min(...steady.map((p) => p.mib)).toFixed(1)}..${Math.max(...steady.map((p) => p.mib)).toFixed(1)} MiB` : 'no samples';
  checks.push({ name: 'harness RSS flat', ok: Number.isFinite(s) && s <= RSS_SLOPE_MAX_MIB_PER_MIN, detail: `slope ${Number.isFinite(s) ? s.toFixed(3) : 'n/a'} MiB/min over ${steady.length} samples after ${warm.toFixed(1)} min (${range}); bound ${RSS_SLOPE_MAX_MIB_PER_MIN} MiB/min` });
  return checks;
}

/** The soak's scenario: one steady open stage, the local HPA on the backend by requests per second. */
export function soakScenarioText(minutes: number, rate: number): string {
  return `name: soak
description: Steady open-model load with probes and the local HPA, for the harness's own soak (npm run soak).
engine: lean
target: { services: bundled }
services:
  backend:
    routes:
      /api/items: { cpuMs: 0.3, payloadBytes: 1024 }
    resources:
      requests: { cpu: 200m, memory: 128Mi }
requests:
  - { method: GET, path: /api/items }
stages:
  - { name: steady, duration: ${Math.round(minutes * 60_000)}ms, rate: ${rate} }
probes: required
autoscaler:
  scaleTargetRef: { apiVersion: apps/v1, kind: Deployment, name: backend }
  minReplicas: 1
  maxReplicas: 3
  metrics:
    - type: Object
      object:
        describedObject: { apiVersion: v1, kind: Service, name: backend }
        metric: { name: http_requests_per_second }
        target: { type: AverageValue, averageValue: ${Math.ceil(rate / 2.5)} }
  syncPeriod: 5s
  metricResolution: 5s
`;
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { minutes: { type: 'string', default: '30' }, rate: { type: 'string', default: '200' }, out: { type: 'string' } }, strict: true });
  const minutes = Number(values.minutes);
  const rate = Number(values.rate);
  if (!(minutes > 0 && minutes <= 24 * 60)) return usage(`--minutes ${values.minutes}: give a number of minutes, more than 0, at most 1440`);
  if (!(rate > 0 && rate <= 5000)) return usage(`--rate ${values.rate}: give requests per second, more than 0, at most 5000`);
  const scenario = parseScenario(soakScenarioText(minutes, rate), join(process.cwd(), 'soak.yaml'));

  const ac = new AbortController();
  process.once('SIGINT', () => {
    console.error('\nsoak: interrupted, stopping the run (its results are still written; the checks are not judged)');
    ac.abort(new Error('interrupted'));
  });
  let loadStart = 0;
  let clientResponses = 0;
  let errors = 0;
  let replicas = 1;
  let windowResponses = 0;
  let loadersLost = 0;
  const rss: RssPoint[] = [];
  const mib = () => process.memoryUsage.rss() / 2 ** 20;
  const onRecord = (r: JournalRecord): void => {
    if (r.type === 'event' && r.kind === 'stage.start' && !loadStart) loadStart = r.time;
    else if (r.type === 'event' && r.kind === 'engine.summary') clientResponses = Number(r.attrs.responses);
    else if (r.type === 'event' && r.kind === 'probes.stopped') loadersLost = Number(r.attrs.lostEvents ?? 0);
    else if (r.type === 'event' && r.kind === 'hpa.rescale' && typeof r.attrs.to === 'number') replicas = r.attrs.to;
    else if (r.type === 'sample' && r.metric === 'http.reqs') windowResponses += r.value;
    else if (r.type === 'sample' && r.metric === 'http.errors') errors += r.value;
  };
  const sampler = setInterval(() => {
    if (loadStart) rss.push({ min: (Date.now() - loadStart) / 60_000, ...memoryPoint() });
  }, 10_000);
  let lastWindows = 0;
  const progress = setInterval(() => {
    if (!loadStart) return;
    const el = (Date.now() - loadStart) / 60_000;
    console.log(`soak: ${el.toFixed(1)}/${minutes} min  ${((windowResponses - lastWindows) / 30).toFixed(0)} req/s  ${windowResponses} responses  ${errors} errors  backend replicas ${replicas}  RSS ${mib().toFixed(1)} MiB`);
    lastWindows = windowResponses;
  }, 30_000);
  console.log(`soak: ${minutes} min at ${rate} req/s, lean engine, probes required, local HPA on the backend (1..3 by requests per second); RSS every 10 s, bound ${RSS_SLOPE_MAX_MIB_PER_MIN} MiB/min after ${warmupMinutes(minutes).toFixed(1)} min of warm-up`);
  let out;
  try {
    out = await runScenario(scenario, { outDir: values.out, signal: ac.signal, onStatus: (l) => console.log(`soak: ${l}`), onRecord });
  } finally {
    clearInterval(sampler);
    clearInterval(progress);
  }
  const r = out.result;
  console.log(`soak: run ${r.outcome}, ${r.http.requests} responses, ${r.http.errors} errors ${JSON.stringify(r.http.errorsByKind)}, ${r.http.rps} req/s, p99 ${r.http.latencyMs?.p99 ?? 'n/a'} ms; autoscaling: ${r.autoscaling ? r.autoscaling.events.map((e) => `${e.from}→${e.to} at ${Math.round(e.t)} s`).join(', ') || 'no rescale' : 'none'}`);
  console.log(`soak: RSS samples (min, MiB): ${rss.map((p) => `${p.min.toFixed(2)}:${p.mib.toFixed(1)}`).join(' ')}`);
  console.log(`soak: ${memorySplit(rss, minutes)}`);
  if (ac.signal.aborted) return 130;
  const checks = soakChecks(r, clientResponses, rss, minutes, loadersLost);
  for (const c of checks) console.log(`${c.ok ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}`);
  console.log(`soak: results ${out.files.results}`);
  return checks.every((c) => c.ok) ? 0 : 1;
}

function usage(msg: string): number {
  console.error(`soak: ${msg}\nusage: npm run soak -- [--minutes N] [--rate R] [--out DIR]`);
  return 2;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      const e = err as { message?: string; hint?: string };
      console.error(`soak: ${e.message ?? String(err)}${e.hint ? `\nhint: ${e.hint}` : ''}`);
      process.exit(1);
    },
  );
}
