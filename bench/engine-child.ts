// Runs one loadscope load engine in its own process so its CPU can be measured in isolation.
// argv[2]: JSON EngineChildSpec. Prints one JSON line (EngineChildResult) on stdout and exits.
// The parent measures CPU from /proc; this process only reports what the engine itself counted.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { now } from '../src/core/clock.ts';
import { createHistogram, decode, summarize } from '../src/core/histogram.ts';
import type { LoadEngine, LoadPlan } from '../src/load/types.ts';
import type { PlannedStage, RunEvent, Sample, Sink } from '../src/core/types.ts';

/** What to run: one stage against one URL. `engine` names an entry of src/load/engines.ts or a bench-only mode. */
export interface EngineChildSpec {
  engine: string;
  url: string;
  connections: number;
  durationMs: number;
  /** Open model when set (requests/s); closed otherwise. */
  rate?: number;
  requestTimeoutMs?: number;
  /** Extra options for modes that take them (workers, pipelining). */
  options?: Record<string, unknown>;
  /** Print each finished 1 s window as it comes, a line `{"window":{"start":epochMs,"responses":n}}`, before the result line. */
  windows?: boolean;
}

/** The engine's own counts and latency (µs), and when the load ran (epoch ms). */
export interface EngineChildResult {
  engine: string;
  responses: number;
  sent: number;
  errors: number;
  loadStart: number;
  loadEnd: number;
  latencyUs: { p50: number; p90: number; p99: number; max: number; count: number };
  summary: unknown;
}

async function makeEngine(name: string, options: Record<string, unknown>): Promise<LoadEngine> {
  const { engines } = await import('../src/load/engines.ts');
  const factory = (engines as Record<string, (o: Record<string, unknown>) => LoadEngine>)[name];
  if (!factory) throw new Error(`unknown engine ${name}`);
  return factory(options);
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as EngineChildSpec;
  const engine = await makeEngine(spec.engine, spec.options ?? {});
  const hist = createHistogram();
  let responses = 0;
  let errors = 0;
  let loadStart = NaN;
  let loadEnd = NaN;
  const sink: Sink = {
    sample(s: Sample) {
      if (s.metric === 'http.reqs') {
        responses += s.value;
        if (spec.windows) process.stdout.write(JSON.stringify({ window: { start: s.time, responses: s.value } }) + '\n');
      } else if (s.metric === 'http.errors') errors += s.value;
      else if (s.metric === 'http.latency_us' && s.hist) hist.add(decode(s.hist));
    },
    event(e: RunEvent) {
      if (e.kind === 'stage.start') loadStart = e.time;
      if (e.kind === 'stage.end') loadEnd = e.time;
    },
  };
  const stage: PlannedStage = {
    name: 'bench',
    startMs: 0,
    durationMs: spec.durationMs,
    model: spec.rate ? 'open' : 'closed',
    connections: spec.connections,
    ...(spec.rate ? { rate: { from: spec.rate, to: spec.rate } } : {}),
  };
  const url = new URL(spec.url);
  const workDir = mkdtempSync(join(tmpdir(), 'loadscope-bench-engine-'));
  const plan: LoadPlan = {
    baseUrl: url.origin,
    requests: [{ method: 'GET', path: url.pathname + url.search, headers: {}, weight: 1 }],
    stages: [stage],
    requestTimeoutMs: spec.requestTimeoutMs ?? 10_000,
    runStart: now(),
    sink,
    workDir,
  };
  const ac = new AbortController();
  const hard = setTimeout(() => ac.abort(), spec.durationMs + 30_000);
  hard.unref();
  process.on('SIGTERM', () => ac.abort());
  try {
    const summary = await engine.run(plan, ac.signal);
    const s = summarize(hist);
    const out: EngineChildResult = {
      engine: spec.engine,
      responses,
      sent: (summary as { requestsSent?: number }).requestsSent ?? responses,
      errors,
      loadStart,
      loadEnd,
      latencyUs: { p50: s.p50, p90: s.p90, p99: s.p99, max: s.max, count: s.count },
      summary,
    };
    process.stdout.write(JSON.stringify(out) + '\n');
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`engine-child: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
