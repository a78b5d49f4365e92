import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parseDuration } from '../../core/clock.ts';
import type { PlannedStage } from '../../core/types.ts';

// What a user's k6 script will run, from `k6 inspect` (k6 evaluates the script's init code and
// prints the consolidated options). A script without `scenarios` gets k6's implicit "default"
// scenario, derived here the way k6 derives it from vus/duration/stages/iterations.

/** One k6 scenario of a user script, as loadscope shows it. */
export interface K6ScenarioInfo {
  name: string;
  executor: string;
  /** Offset from the k6 test start. */
  startMs: number;
  /** Scheduled length; for iteration-based executors the maxDuration bound (k6 may finish sooner). */
  durationMs: number;
  /** Open model: arrival-rate executors (k6 starts iterations on a schedule and drops what it cannot start). */
  model: 'closed' | 'open';
  /** Closed model: (peak) VUs; open model: the VU pool (maxVUs or preAllocatedVUs). */
  vus: number;
  /** Open model: iterations per second at the start and at the end. */
  rate?: { from: number; to: number };
}

interface RawScenario {
  executor?: string;
  startTime?: string | null;
  duration?: string | null;
  maxDuration?: string | null;
  stages?: { duration?: string; target?: number }[] | null;
  vus?: number | null;
  startVUs?: number | null;
  rate?: number | null;
  startRate?: number | null;
  timeUnit?: string | null;
  preAllocatedVUs?: number | null;
  maxVUs?: number | null;
}

/** Runs `k6 inspect` on a script; undefined when k6 cannot evaluate it (the run reports why). */
export async function inspectScript(k6: string, script: string, opts: { cwd: string; env: NodeJS.ProcessEnv; args?: string[] }): Promise<K6ScenarioInfo[] | undefined> {
  try {
    const { stdout } = await promisify(execFile)(k6, ['inspect', ...(opts.args ?? []), script], { cwd: opts.cwd, env: opts.env, timeout: 60_000, maxBuffer: 16 << 20 });
    return scenariosOf(JSON.parse(stdout));
  } catch {
    return undefined;
  }
}

/** k6 options (as `k6 inspect` prints them) → the scenarios k6 will run. */
export function scenariosOf(options: { scenarios?: Record<string, RawScenario> | null } & RawScenario & { iterations?: number | null }): K6ScenarioInfo[] {
  let scenarios = options.scenarios ?? undefined;
  if (!scenarios || Object.keys(scenarios).length === 0) {
    if (options.stages?.length) scenarios = { default: { executor: 'ramping-vus', stages: options.stages, startVUs: options.vus ?? 1 } };
    else if (options.duration) scenarios = { default: { executor: 'constant-vus', duration: options.duration, vus: options.vus ?? 1 } };
    else scenarios = { default: { executor: 'shared-iterations', vus: options.vus ?? 1, maxDuration: '10m' } };
  }
  return Object.entries(scenarios).map(([name, s]) => info(name, s));
}

function info(name: string, s: RawScenario): K6ScenarioInfo {
  const d = (x: string | null | undefined, dflt = 0) => (x ? parseDuration(x) ?? dflt : dflt);
  const stages = s.stages ?? [];
  const executor = s.executor ?? 'shared-iterations';
  const stagesMs = stages.reduce((a, st) => a + d(st.duration), 0);
  const unitS = d(s.timeUnit, 1000) / 1000;
  const base = { name, executor, startMs: d(s.startTime) };
  switch (executor) {
    case 'constant-vus':
      return { ...base, durationMs: d(s.duration), model: 'closed', vus: s.vus ?? 1 };
    case 'ramping-vus':
      return { ...base, durationMs: stagesMs, model: 'closed', vus: Math.max(s.startVUs ?? 1, ...stages.map((st) => st.target ?? 0)) };
    case 'constant-arrival-rate':
      return { ...base, durationMs: d(s.duration), model: 'open', vus: s.maxVUs ?? s.preAllocatedVUs ?? 1, rate: { from: (s.rate ?? 0) / unitS, to: (s.rate ?? 0) / unitS } };
    case 'ramping-arrival-rate':
      return { ...base, durationMs: stagesMs, model: 'open', vus: s.maxVUs ?? s.preAllocatedVUs ?? 1, rate: { from: (s.startRate ?? 0) / unitS, to: (stages.at(-1)?.target ?? s.startRate ?? 0) / unitS } };
    case 'externally-controlled':
      return { ...base, durationMs: d(s.duration), model: 'closed', vus: s.maxVUs ?? s.vus ?? 1 };
    default:
      return { ...base, durationMs: d(s.maxDuration, 600_000), model: 'closed', vus: s.vus ?? 1 };
  }
}

/**
 * The stage plan of a user script, one stage per k6 scenario, ordered by start: what run.ts can put
 * in the journal header for `script:` runs so results.json's stages match the script's scenarios.
 */
export function planFromScenarios(list: K6ScenarioInfo[]): PlannedStage[] {
  return [...list]
    .sort((a, b) => a.startMs - b.startMs)
    .map((s) => ({
      name: s.name,
      startMs: s.startMs,
      durationMs: s.durationMs,
      model: s.model,
      connections: s.vus,
      ...(s.rate ? { rate: s.rate } : {}),
    }));
}
