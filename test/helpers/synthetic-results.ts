// Synthetic results.json documents (the full RunResult shape, valid against runResultSchema) for a
// history of runs: one scenario run `n` times, a day apart, with noisy figures around a level that may
// step at a chosen run. Deterministic per seed. Used by the history tests and the history bench.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RESULT_SCHEMA_VERSION, type LatencySummary, type RunResult } from '../../src/core/result.ts';
import { xorshift32 } from '../../src/core/random.ts';

export interface SyntheticHistoryOptions {
  scenario: string;
  runs: number;
  seed: number;
  /** Median request latency (ms) before any step. */
  p50Ms?: number;
  /** Relative noise (standard deviation / level) of every figure, run to run. */
  noise?: number;
  /** From this run on (0-based), latency is multiplied by `stepFactor` and throughput divided by it. */
  stepAt?: number;
  stepFactor?: number;
  /** First run's start, epoch ms. */
  startMs?: number;
  /** Windows per run (results.json `windows`). */
  windows?: number;
}

const rng = xorshift32;

const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

/** The runs of a synthetic history, oldest first. */
export function syntheticHistory(o: SyntheticHistoryOptions): RunResult[] {
  const r = rng(o.seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const noise = o.noise ?? 0.04;
  const start = o.startMs ?? Date.UTC(2026, 0, 1, 2, 0, 0);
  const out: RunResult[] = [];
  for (let i = 0; i < o.runs; i++) {
    const factor = o.stepAt !== undefined && i >= o.stepAt ? (o.stepFactor ?? 1.3) : 1;
    const jitter = () => Math.max(0.2, 1 + noise * gauss());
    const p50 = (o.p50Ms ?? 4) * factor * jitter();
    const lat = (scale: number): LatencySummary => ({
      min: round(p50 * 0.3 * scale),
      mean: round(p50 * 1.4 * scale),
      p50: round(p50 * scale),
      p90: round(p50 * 2.6 * scale * jitter()),
      p95: round(p50 * 3.4 * scale * jitter()),
      p99: round(p50 * 5.5 * scale * jitter()),
      p999: round(p50 * 8 * scale * jitter()),
      max: round(p50 * 12 * scale * jitter()),
    });
    const latencyMs = lat(1);
    const rps = round((200 / factor) * jitter(), 2);
    const durationS = 60;
    const requests = Math.round(rps * durationS);
    const errors = Math.round(requests * 0.001 * Math.abs(jitter()));
    const startedMs = start + i * 86_400_000 + Math.round(r() * 60_000);
    const nWin = o.windows ?? 30;
    const windows = Array.from({ length: nWin }, (_, w) => ({
      time: startedMs + w * 1000,
      t: w,
      stage: w < nWin / 3 ? 'warm' : 'peak',
      rps: round(rps * jitter(), 1),
      errors: 0,
      latencyMs: { p50: round(p50 * jitter()), p90: round(p50 * 2.6 * jitter()), p99: round(p50 * 5.5 * jitter()), max: round(p50 * 12 * jitter()) },
      stressCores: w > nWin / 2 ? 1 : 0,
    }));
    const stamp = new Date(startedMs).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    const served = (role: string, share: number) => ({ role, requestsServed: Math.round(requests * share), requestsAborted: 0, cpuSeconds: round(requests * 0.0004 * factor * jitter()), rssBytes: Math.round(60e6 * jitter()) });
    out.push({
      schemaVersion: RESULT_SCHEMA_VERSION,
      runId: `${stamp}-${o.scenario}-${(o.seed * 1000 + i).toString(16).padStart(6, '0')}`,
      scenario: { name: o.scenario, file: `scenarios/${o.scenario}.yaml` },
      engine: 'autocannon',
      startedAt: new Date(startedMs).toISOString(),
      endedAt: new Date(startedMs + durationS * 1000).toISOString(),
      durationS,
      outcome: 'completed',
      notices: [],
      http: {
        requests,
        requestsSent: requests,
        errors,
        errorsByKind: errors ? { 'status 503': errors } : {},
        errorRate: round(errors / requests, 6),
        rps,
        bytes: requests * 1968,
        inFlightAtCutoff: 0,
        dropped: 0,
        latencyBasis: 'intended-start (coordinated-omission corrected)',
        latencyMs,
        serviceTimeMs: lat(0.9),
      },
      stages: [
        { name: 'warm', model: 'open', startS: 0, durationS: 20, rate: { from: 50, to: 200 }, requests: Math.round(requests / 3), errors: 0, rps: round(rps * 0.6, 2), latencyMs: lat(0.8) },
        { name: 'peak', model: 'open', startS: 20, durationS: 40, rate: { from: 200, to: 200 }, requests: requests - Math.round(requests / 3), errors, rps, latencyMs: lat(1.1) },
      ],
      windows,
      services: { frontend: served('frontend', 1), backend: served('backend', 1) },
      checks: {},
      stress: [{ name: 'cpu', startS: 30, endS: 45, cores: 1, utilization: 1 }],
      thresholds: [{ metric: 'http_req_duration', expression: 'p(99)<200', observed: latencyMs.p99, ok: true, status: 'pass', source: 'loadscope' }],
      probes: { status: { enabled: false, reason: 'synthetic run' } },
      events: [],
      environment: { loadscope: '0.1.0', gitRevision: 'abcdef0', node: 'v20.20.2', host: 'ci-runner', cpus: 2, cpuModel: 'synthetic', memoryGiB: 8, root: false },
      engineNative: {},
    });
  }
  return out;
}

/** Writes each run as <dir>/<runId>/results.json (a run directory without a journal); returns the files. */
export function writeResults(dir: string, runs: readonly RunResult[]): string[] {
  return runs.map((run) => {
    const runDir = join(dir, run.runId);
    mkdirSync(runDir, { recursive: true });
    const file = join(runDir, 'results.json');
    writeFileSync(file, JSON.stringify(run, null, 2) + '\n');
    return file;
  });
}
