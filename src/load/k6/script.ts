import type { PlannedStage } from '../../core/types.ts';
import { THRESHOLD_RE } from '../../scenario/schema.ts';
import { weightedSequence } from '../mix.ts';
import type { LoadPlan } from '../types.ts';

// Turns a loadscope plan into a k6 script. Stages map to k6 scenarios, all on one test timeline
// (`startTime` = the stage's offset):
//   - a run of consecutive closed stages → one `ramping-vus` scenario whose VU count steps (0 s
//     stages) at each boundary, so connections carry over as in the autocannon engine; a lone closed
//     stage → `constant-vus`;
//   - an open stage with a constant rate → `constant-arrival-rate`; with a ramp →
//     `ramping-arrival-rate` (k6 ramps linearly, as loadscope does).
// Requests follow the weighted mix in the same smooth round-robin order as autocannon, indexed by
// k6's test-wide iteration number. Scenario thresholds are passed to k6 where k6 can express them.

/** How long in-flight iterations may finish after their stage (as the autocannon engine's drain grace). */
export const GRACEFUL_STOP = '3s';
/** Custom k6 counter the generated script adds to before every request (requests sent). */
export const SENT_METRIC = 'loadscope_sent';
/** Custom k6 counter the generated setup() adds to once, right before k6 starts the scenarios: its time is the test start. */
export const START_METRIC = 'loadscope_start';

/** Tags kept on k6 metrics: what the engine reads, the request name, and k6's own submetrics. */
const SYSTEM_TAGS = ['status', 'method', 'name', 'scenario', 'error_code', 'expected_response', 'check', 'group'];
const TREND_STATS = ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)', 'p(99.9)', 'count'];

type Duration = string;

/** The k6 scenarios the generator produces (a subset of k6's `options.scenarios` entries). */
export type K6Scenario =
  | { executor: 'constant-vus'; vus: number; duration: Duration; startTime: Duration; gracefulStop: Duration }
  | { executor: 'ramping-vus'; startVUs: number; stages: { duration: Duration; target: number }[]; gracefulRampDown: Duration; startTime: Duration; gracefulStop: Duration }
  | { executor: 'constant-arrival-rate'; rate: number; timeUnit: Duration; duration: Duration; preAllocatedVUs: number; maxVUs: number; startTime: Duration; gracefulStop: Duration }
  | { executor: 'ramping-arrival-rate'; startRate: number; timeUnit: Duration; stages: { duration: Duration; target: number }[]; preAllocatedVUs: number; maxVUs: number; startTime: Duration; gracefulStop: Duration };

/** The `options` object of a generated script. */
export interface K6Options {
  scenarios: Record<string, K6Scenario>;
  thresholds: Record<string, string[]>;
  discardResponseBodies: boolean;
  systemTags: string[];
  summaryTrendStats: string[];
}

/** A scenario threshold k6 cannot evaluate (loadscope still does, on the merged data). */
export interface SkippedThreshold {
  metric: string;
  expression: string;
  reason: string;
}

/** A generated script and what the engine needs to read its output back. */
export interface GeneratedScript {
  source: string;
  options: K6Options;
  /** Per k6 scenario: [offset from the scenario's start in ms, loadscope stage name], in order. */
  spans: Record<string, [number, string][]>;
  skippedThresholds: SkippedThreshold[];
}

/** k6 metric types limit the aggregations a threshold may use (Trend, Rate, Counter). */
const K6_AGGREGATIONS: Record<string, (agg: string) => boolean> = {
  http_req_duration: (a) => a === 'avg' || a === 'min' || a === 'max' || a === 'med' || a.startsWith('p('),
  http_req_failed: (a) => a === 'rate',
  http_reqs: (a) => a === 'count' || a === 'rate',
};

/** Builds the k6 script for `plan` (pure: same plan, same text). */
export function generateScript(plan: Pick<LoadPlan, 'baseUrl' | 'requests' | 'stages' | 'requestTimeoutMs' | 'thresholds'>): GeneratedScript {
  const scenarios: Record<string, K6Scenario> = {};
  const spans: Record<string, [number, string][]> = {};
  const used = new Set<string>();
  const stages = plan.stages;
  for (let i = 0; i < stages.length; ) {
    const s = stages[i];
    if (s.model === 'closed') {
      let j = i + 1;
      while (j < stages.length && stages[j].model === 'closed') j++;
      const group = stages.slice(i, j);
      const name = uniqueName(group.length === 1 ? s.name : `${s.name}-to-${group.at(-1)!.name}`, used);
      scenarios[name] = group.length === 1 ? constantVus(s) : rampingVus(group);
      spans[name] = group.map((g) => [g.startMs - s.startMs, g.name]);
      i = j;
    } else {
      const name = uniqueName(s.name, used);
      scenarios[name] = arrivalRate(s);
      spans[name] = [[0, s.name]];
      i++;
    }
  }

  const thresholds: Record<string, string[]> = {};
  const skippedThresholds: SkippedThreshold[] = [];
  for (const [metric, exprs] of Object.entries(plan.thresholds ?? {})) {
    for (const expression of exprs) {
      const agg = THRESHOLD_RE.exec(expression)?.[1];
      const ok = agg !== undefined && (K6_AGGREGATIONS[metric]?.(agg) ?? false);
      if (ok) (thresholds[metric] ??= []).push(expression.trim());
      else skippedThresholds.push({ metric, expression, reason: `k6 has no "${agg ?? expression}" aggregation for ${metric}` });
    }
  }

  const options: K6Options = {
    scenarios,
    thresholds,
    discardResponseBodies: true,
    systemTags: SYSTEM_TAGS,
    summaryTrendStats: TREND_STATS,
  };

  const base = new URL(plan.baseUrl);
  const requests = plan.requests.map((r) => ({
    method: r.method,
    url: base.origin + joinPath(base.pathname, r.path),
    body: r.body ?? null,
    params: { headers: r.headers, tags: { name: r.name ?? `${r.method} ${r.path}` }, timeout: `${plan.requestTimeoutMs}ms` },
  }));
  const order = weightedSequence(plan.requests).map((r) => plan.requests.indexOf(r));

  const source = `// @ts-check
// Generated by loadscope (src/load/k6/script.ts) from the scenario's stages and request mix.
// Regenerated on every run; edit the scenario, not this file.
import http from 'k6/http';
import exec from 'k6/execution';
import { Counter } from 'k6/metrics';

/** @type {import('k6/options').Options} */
export const options = ${JSON.stringify(options, null, 2)};

/** @type {{ method: string, url: string, body: string | null, params: import('k6/http').Params }[]} */
const REQUESTS = ${JSON.stringify(requests, null, 2)};

/** Weighted order over REQUESTS (smooth weighted round-robin), walked by the test-wide iteration number. */
const ORDER = ${JSON.stringify(order)};

/** Per k6 scenario: [offset from the scenario's start in ms, loadscope stage]; several only for stepped closed stages. */
/** @type {Record<string, [number, string][]>} */
const SPANS = ${JSON.stringify(spans)};

const sent = new Counter('${SENT_METRIC}');
const started = new Counter('${START_METRIC}');

/** Runs right before k6 starts the scenarios: the sample's time tells loadscope when the stages begin. */
export function setup() {
  started.add(1);
}

export default function () {
  const r = REQUESTS[ORDER[exec.scenario.iterationInTest % ORDER.length]];
  const spans = SPANS[exec.scenario.name];
  let params = r.params;
  if (spans.length > 1) {
    const elapsed = Date.now() - exec.scenario.startTime;
    let stage = spans[0][1];
    for (const [at, name] of spans) if (elapsed >= at) stage = name;
    params = Object.assign({}, r.params, { tags: Object.assign({}, r.params.tags, { stage }) });
  }
  sent.add(1);
  http.request(r.method, r.url, r.body, params);
}
`;
  return { source, options, spans, skippedThresholds };
}

function constantVus(s: PlannedStage): K6Scenario {
  return { executor: 'constant-vus', vus: s.connections ?? 1, duration: ms(s.durationMs), startTime: ms(s.startMs), gracefulStop: GRACEFUL_STOP };
}

function rampingVus(group: PlannedStage[]): K6Scenario {
  const steps: { duration: Duration; target: number }[] = [];
  group.forEach((g, k) => {
    const vus = g.connections ?? 1;
    if (k > 0) steps.push({ duration: '0s', target: vus });
    steps.push({ duration: ms(g.durationMs), target: vus });
  });
  return { executor: 'ramping-vus', startVUs: group[0].connections ?? 1, stages: steps, gracefulRampDown: GRACEFUL_STOP, startTime: ms(group[0].startMs), gracefulStop: GRACEFUL_STOP };
}

/**
 * Open-model stage. A k6 VU holds one request at a time and k6 drops an arrival that finds no free
 * VU, where autocannon queues it behind its pool (100 ms of the peak rate). With no queue to absorb
 * a latency spike, k6 pre-allocates 500 ms of the peak rate (at least 16 VUs; a VU costs k6 about
 * 120 KB and 1 ms of CPU to start) and may grow to 2 s of it (new VUs start while arrivals are
 * dropped); with `maxConnections` the pool is exactly that.
 */
function arrivalRate(s: PlannedStage): K6Scenario {
  const rate = s.rate ?? { from: 1, to: 1 };
  const peak = Math.max(rate.from, rate.to);
  const pool = s.connections ?? Math.max(16, Math.ceil(peak * 0.5));
  const maxVUs = s.connections ?? Math.max(pool, Math.ceil(peak * 2));
  const [m, unit] = timeUnit([rate.from, rate.to]);
  const common = { timeUnit: unit, preAllocatedVUs: pool, maxVUs, startTime: ms(s.startMs), gracefulStop: GRACEFUL_STOP };
  if (rate.from === rate.to) return { executor: 'constant-arrival-rate', rate: Math.round(rate.from * m), duration: ms(s.durationMs), ...common };
  return { executor: 'ramping-arrival-rate', startRate: Math.round(rate.from * m), stages: [{ duration: ms(s.durationMs), target: Math.round(rate.to * m) }], ...common };
}

/** k6 rates are integers per timeUnit: the smallest of 1s, 10s, 100s, 1000s that keeps fractional rates exact. */
function timeUnit(rates: number[]): [number, Duration] {
  for (const m of [1, 10, 100, 1000]) {
    if (rates.every((r) => Math.abs(r * m - Math.round(r * m)) < 1e-9)) return [m, `${m}s`];
  }
  return [1000, '1000s'];
}

function ms(n: number): Duration {
  return `${Math.round(n)}ms`;
}

/** k6 scenario names allow letters, digits, "_" and "-"; stage names are mapped and kept unique. */
function uniqueName(stage: string, used: Set<string>): string {
  const base = stage.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 100) || 'stage';
  let name = base;
  for (let n = 2; used.has(name); n++) name = `${base}-${n}`;
  used.add(name);
  return name;
}

function joinPath(base: string, path: string): string {
  return base === '/' ? path : base.replace(/\/$/, '') + path;
}
