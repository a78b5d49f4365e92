import { z } from 'zod';
import { cpuMillicores, memoryBytes } from '../core/quantity.ts';
import { autoscalerSchema, checkAutoscalerRequests } from './autoscaler.ts';
import { clusterSchema } from './cluster.ts';
import { checkFaults, faultsSchema } from './faults.ts';
import { boundedDuration, headerRecord, LIMITS, rateValue, requestBody, requestPath, safeName, safeText } from './limits.ts';

// The scenario format. Defaults live here and only here; unknown keys are rejected everywhere.

const duration = boundedDuration(LIMITS.totalDurationMs);

const routeConfig = z.strictObject({
  cpuMs: z.number().min(0).max(1000).default(0).meta({ description: 'CPU work per request (busy loop), ms.' }),
  payloadBytes: z.number().int().min(0).max(16 * 1024 * 1024).default(64).meta({ description: 'Response body size, bytes.' }),
  delayMs: z.number().min(0).max(60_000).default(0).meta({ description: 'Added latency before responding, ms.' }),
  delayJitterMs: z.number().min(0).max(60_000).default(0).meta({ description: 'Uniform jitter added to delayMs, ms.' }),
  status: z.number().int().min(200).max(599).default(200),
});

/** A Kubernetes quantity ("250m", "1.5", "128Mi"; a number means what it does in a pod spec: cores, bytes) parsed by `parse`. */
const quantity = (what: string, parse: (q: string | number) => number, example: string) =>
  z
    .union([z.string(), z.number()])
    .meta({ description: `${what} as a Kubernetes quantity, e.g. "${example}".` })
    .transform((q, ctx) => {
      let v: number;
      try {
        v = parse(String(q));
      } catch {
        ctx.addIssue({ code: 'custom', message: `${JSON.stringify(q)} is not a Kubernetes quantity; write e.g. "${example}"` });
        return z.NEVER;
      }
      if (!(v > 0)) {
        ctx.addIssue({ code: 'custom', message: `${what} must be more than 0` });
        return z.NEVER;
      }
      return v;
    });

const resourceList = z.strictObject({
  cpu: quantity('CPU (becomes millicores)', cpuMillicores, '250m').optional(),
  memory: quantity('memory (becomes bytes)', memoryBytes, '128Mi').optional(),
});

const resources = z
  .strictObject({
    requests: resourceList.default({}).meta({ description: 'What each pod is guaranteed (cpu.shares / cpu.weight); what CPU utilization is a percentage of.' }),
    limits: resourceList.default({}).meta({ description: 'Caps per pod: CPU as a CFS quota, memory as the cgroup memory limit.' }),
  })
  .superRefine((r, ctx) => {
    for (const k of ['cpu', 'memory'] as const) {
      const req = r.requests[k];
      const lim = r.limits[k];
      if (req !== undefined && lim !== undefined && req > lim) ctx.addIssue({ code: 'custom', path: ['requests', k], message: `requests.${k} must not exceed limits.${k}` });
    }
  })
  .transform((r) => ({
    // As in Kubernetes: a limit without a request makes the request equal to the limit.
    requests: { cpu: r.requests.cpu ?? r.limits.cpu, memory: r.requests.memory ?? r.limits.memory },
    limits: { cpu: r.limits.cpu, memory: r.limits.memory },
  }))
  .meta({ description: 'Per pod CPU and memory, like a pod spec. The local cluster enforces them (cgroups); on loopback only the autoscaler reads the requests.' });


const replicas = z.number().int().min(0).max(LIMITS.replicas).default(1).meta({ description: 'Pods of the service at the start (an autoscaler may change it). Loopback runs this many backend processes and always one frontend.' });

const rateLimit = z
  .strictObject({
    requestsPerSecond: z.number().positive().max(1_000_000).meta({ description: 'Token refill rate per source address, requests/s.' }),
    burst: z.number().int().min(1).max(1_000_000).optional().meta({ description: 'Bucket size (default: requestsPerSecond rounded up).' }),
  })
  .meta({ description: 'Per-source token bucket in each backend pod; refused requests get 429 and are counted.' });

/** A pod's readiness probe (GET /healthz), as in a Kubernetes container spec; seconds may be fractional. */
const readinessProbe = z
  .strictObject({
    periodSeconds: z.number().min(0.05).max(300).default(1).meta({ description: 'How often the probe runs, s (default 1; Kubernetes: 10).' }),
    timeoutSeconds: z.number().min(0.05).max(60).default(1).meta({ description: 'A probe unanswered this long fails, s (default 1).' }),
    failureThreshold: z.number().int().min(1).max(100).default(3).meta({ description: 'Consecutive failures that take a ready pod out of routing (default 3).' }),
    successThreshold: z.number().int().min(1).max(100).default(1).meta({ description: 'Consecutive successes that bring it back (default 1).' }),
  })
  .meta({ description: 'Readiness probing of each pod (local cluster; the loopback cluster probes its backend processes): a pod whose probe fails leaves routing until it answers again.' });

export type ReadinessProbeSpec = z.output<typeof readinessProbe>;
const probeDefaults = readinessProbe.parse({});

const backendConfig = z.strictObject({
  routes: z.record(z.string().startsWith('/'), routeConfig).default({}),
  default: routeConfig.default(routeConfig.parse({})),
  replicas,
  resources: resources.prefault({}),
  rateLimit: rateLimit.optional(),
  readinessProbe: readinessProbe.default(probeDefaults),
});

const frontendConfig = z.strictObject({
  maxSockets: z.number().int().min(1).max(10_000).default(64),
  replicas,
  resources: resources.prefault({}),
  readinessProbe: readinessProbe.default(probeDefaults),
});

const target = z.union([
  z.strictObject({
    services: z.literal('bundled').meta({ description: 'Start the bundled frontend and backend (src/services) for this run.' }),
  }),
  z.strictObject({
    url: z.url({ protocol: /^https?$/ }).meta({ description: 'An already running service. Only loopback or 198.18.0.0/15 unless --allow-remote.' }),
  }),
]);

const method = z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);

const request = z.strictObject({
  name: safeName.optional(),
  method: method.default('GET'),
  path: requestPath,
  headers: headerRecord.default({}),
  body: requestBody.optional(),
  weight: z.number().int().min(1).max(1000).default(1).meta({ description: 'Relative share in the request mix.' }),
});

const rate = z.union([
  rateValue('positive').meta({ description: 'Constant arrival rate, requests/s.' }),
  z.strictObject({ from: rateValue('zero'), to: rateValue('zero') }).meta({ description: 'Linear ramp of the arrival rate over the stage.' }),
]);

/** Open model: the connection pool of a stage without `maxConnections` — enough for 100 ms of the peak rate, at least 16. */
export function defaultMaxConnections(rate: { from: number; to: number }): number {
  return Math.max(16, Math.ceil(Math.max(rate.from, rate.to) * 0.1));
}

const stage = z
  .strictObject({
    name: safeName.optional(),
    duration,
    connections: z.number().int().min(1).max(10_000).optional().meta({ description: 'Closed model: this many connections, each sending its next request when the last one answered.' }),
    rate: rate.optional().meta({ description: 'Open model: requests start on this schedule whatever the responses do (latency is measured from the intended start).' }),
    maxConnections: z.number().int().min(1).max(10_000).optional().meta({ description: 'Open model: connection pool size (default: enough for 100 ms of the peak rate, at least 16).' }),
  })
  .superRefine((s, ctx) => {
    if ((s.connections === undefined) === (s.rate === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'a stage needs exactly one of "connections" (closed model) or "rate" (open model)' });
    }
    if (s.maxConnections !== undefined && s.rate === undefined) {
      ctx.addIssue({ code: 'custom', path: ['maxConnections'], message: '"maxConnections" applies to open-model stages (with "rate") only' });
    }
  });

const stress = z.strictObject({
  name: safeName.optional(),
  start: duration.meta({ description: 'Offset from the start of the run.' }),
  duration,
  cores: z.number().int().min(1).max(256).meta({ description: 'How many cores to burn (one worker thread each).' }),
  utilization: z.number().gt(0).max(1).default(1).meta({ description: 'Duty cycle of each worker, 0 < u <= 1.' }),
});

/** k6-style threshold expressions: `p(99) < 250`, `avg<100`, `rate < 0.01`, `count > 100`, `value <= 1.5`. */
export const THRESHOLD_RE = /^\s*(avg|min|max|med|count|rate|value|p\((\d+(?:\.\d+)?)\))\s*(<=|>=|==|!=|<|>)\s*(-?\d+(?:\.\d+)?)\s*$/;
const thresholdExpr = z.string().regex(THRESHOLD_RE, {
  message: 'not a threshold expression; write e.g. "p(99) < 250", "avg < 100", "rate < 0.01"',
});
const thresholdLong = z
  .strictObject({
    threshold: thresholdExpr,
    abortOnFail: z.boolean().default(false).meta({ description: 'Stop the run as soon as the threshold fails (checked once a second on the data so far); exit 99.' }),
    delayAbortEval: duration.optional().meta({ description: 'With abortOnFail: do not judge it before this much of the run has passed.' }),
  })
  .meta({ description: 'k6\'s long form of a threshold.' });

const TREND = ['avg', 'min', 'max', 'med', 'count', 'p'] as const;

/** What a threshold metric measures, in what unit, with which aggregations (`p` stands for p(N), 0 <= N <= 100) and tag filters. */
export interface ThresholdMetric {
  unit: string;
  aggregations: readonly string[];
  tags: readonly string[];
  description: string;
}

/** Every metric a threshold can name: k6's four and loadscope's own signals. README "Thresholds" documents this table. */
export const THRESHOLD_CATALOG = {
  http_req_duration: { unit: 'ms', aggregations: TREND, tags: ['stage'], description: 'request latency (from the intended start in open stages)' },
  http_req_failed: { unit: 'share (rate), requests (count)', aggregations: ['rate', 'count'], tags: ['stage'], description: 'failed requests: status >= 400, timeouts, connection errors' },
  http_reqs: { unit: 'requests (count), requests/s (rate)', aggregations: ['count', 'rate'], tags: ['stage'], description: 'requests that got a response or failed' },
  dropped_iterations: { unit: 'arrivals (count), arrivals/s (rate)', aggregations: ['count', 'rate'], tags: [], description: 'open-model arrivals never sent' },
  packet_latency: { unit: 'ms', aggregations: TREND, tags: ['iface'], description: 'one-way packet latency seen by the probes (needs probes)' },
  tcp_retransmits: { unit: 'segments (count), segments/s (rate)', aggregations: ['count', 'rate'], tags: [], description: 'TCP retransmitted segments, SYN-ACKs included (needs probes)' },
  packet_drops: { unit: 'packets (count), packets/s (rate)', aggregations: ['count', 'rate'], tags: ['reason'], description: 'packets the kernel dropped, and connections the load balancer refused (needs probes or the local cluster)' },
  route_skew: { unit: 'ratio (1 = even)', aggregations: ['value'], tags: ['service'], description: 'busiest backend\'s share of the work over the mean; untagged: the largest of the services (needs the bundled services)' },
  hpa_reaction_time: { unit: 's', aggregations: TREND, tags: ['stage'], description: 'load step to the first scale-up, per step that saw one (needs an autoscaler)' },
  slo_violation_seconds: { unit: 's (value), share of windows (rate)', aggregations: ['value', 'rate'], tags: ['stage'], description: 'time in 1 s windows that broke the SLO (needs an http_req_duration percentile threshold)' },
  service_served: { unit: 'requests (count), requests/s (rate)', aggregations: ['count', 'rate'], tags: ['service'], description: 'requests each bundled service served; untagged: all services summed (needs the bundled services)' },
} as const satisfies Record<string, ThresholdMetric>;

export type ThresholdMetricName = keyof typeof THRESHOLD_CATALOG;
export const THRESHOLD_METRICS = Object.keys(THRESHOLD_CATALOG) as ThresholdMetricName[];

/** A threshold key: `metric` or `metric{tag:value,…}` as in k6. */
export interface ThresholdKey {
  metric: string;
  tags: Record<string, string>;
}

/** Splits a threshold key into its metric and tag filter; undefined when it is not of the form `name` or `name{tag:value,…}`. */
export function parseThresholdKey(key: string): ThresholdKey | undefined {
  const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\{([^{}]*)\})?\s*$/.exec(key);
  if (!m) return undefined;
  const tags: Record<string, string> = {};
  if (m[2] !== undefined) {
    for (const part of m[2].split(',')) {
      const kv = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(\S(?:.*\S)?)\s*$/.exec(part);
      if (!kv || kv[1] in tags) return undefined;
      tags[kv[1]] = kv[2];
    }
  }
  return { metric: m[1], tags };
}

/** Why `expression` can never be evaluated on `metric` (an aggregation the metric lacks, a percentile beyond 100), or undefined. */
export function thresholdMisfit(metric: ThresholdMetricName, expression: string): string | undefined {
  const m = THRESHOLD_RE.exec(expression);
  if (!m) return undefined;
  const agg = m[2] === undefined ? m[1] : 'p';
  const allowed: readonly string[] = THRESHOLD_CATALOG[metric].aggregations;
  if (!allowed.includes(agg)) {
    return `"${m[1]}" does not apply to ${metric}; use ${allowed.map((a) => (a === 'p' ? 'p(N)' : a)).join(', ')}`;
  }
  if (agg === 'p' && Number(m[2]) > 100) return `${m[1]}: a percentile is between 0 and 100`;
  return undefined;
}

/** What a scenario has that threshold metrics and tags depend on. */
export interface ThresholdContext {
  stages: string[];
  /** Bundled services by name; empty for a URL target. */
  services: string[];
  probes: boolean;
  localCluster: boolean;
  autoscaler: boolean;
  /** The scenario has an SLO: an untagged http_req_duration threshold p(N), med or max with < or <=. */
  slo: boolean;
}

/** Problems of one threshold key for this scenario (a metric or tag it does not have), each with a "did you mean". */
export function thresholdKeyProblems(key: string, ctx: ThresholdContext): string[] {
  const k = parseThresholdKey(key);
  if (!k) return [`"${key}" is not a threshold key; write a metric name, optionally with tags: http_req_duration{stage:peak}`];
  if (!(k.metric in THRESHOLD_CATALOG)) {
    const near = nearestName(k.metric, THRESHOLD_METRICS);
    return [`unknown threshold metric "${k.metric}"${near ? `; did you mean "${near}"?` : ''} (metrics: ${THRESHOLD_METRICS.join(', ')})`];
  }
  const metric = k.metric as ThresholdMetricName;
  const out: string[] = [];
  const needs: Partial<Record<ThresholdMetricName, [boolean, string]>> = {
    packet_latency: [ctx.probes, 'probes (this scenario has probes: off)'],
    tcp_retransmits: [ctx.probes, 'probes (this scenario has probes: off)'],
    packet_drops: [ctx.probes || ctx.localCluster, 'probes or the local cluster (this scenario has probes: off and no local cluster)'],
    route_skew: [ctx.services.length > 0, 'the bundled services (this scenario targets a URL)'],
    service_served: [ctx.services.length > 0, 'the bundled services (this scenario targets a URL)'],
    hpa_reaction_time: [ctx.autoscaler, 'an autoscaler section'],
    slo_violation_seconds: [ctx.slo, 'an SLO: an http_req_duration threshold on p(N), med or max with < or <='],
  };
  const need = needs[metric];
  if (need && !need[0]) out.push(`${metric} needs ${need[1]}`);
  const allowed: readonly string[] = THRESHOLD_CATALOG[metric].tags;
  for (const [tag, value] of Object.entries(k.tags)) {
    if (!allowed.includes(tag)) {
      const near = nearestName(tag, allowed);
      out.push(`${metric} has no tag "${tag}"${near ? `; did you mean "${near}"?` : ''} (${allowed.length ? `tags: ${allowed.join(', ')}` : 'it takes no tags'})`);
      continue;
    }
    const known = tag === 'stage' ? ctx.stages : tag === 'service' ? ctx.services : undefined;
    if (known && !known.includes(value)) {
      const near = nearestName(value, known);
      const what = tag === 'stage' ? 'stage' : 'service';
      out.push(`no ${what} is named "${value}"${near ? `; did you mean "${near}"?` : ''} (${what}s: ${known.join(', ') || 'none'})`);
    }
  }
  return out;
}

/** The name in `known` nearest to `name` by edit distance, if near enough to be a typo. */
export function nearestName(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const k of known) {
    const d = editDistance(name.toLowerCase(), k.toLowerCase());
    if (d < bestD) [bestD, best] = [d, k];
  }
  return best;
}

/** Levenshtein distance (insert, delete, substitute: 1 each), for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

/** A threshold with abortOnFail: stop the run when `expression` on `key` fails, once `delayMs` of the run has passed. */
export interface ThresholdAbort {
  key: string;
  expression: string;
  delayMs: number;
}

export const scenarioSchema = z
  .strictObject({
    $schema: z.string().optional(),
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, { message: 'use letters, digits, ".", "_" and "-" only (at most 64 characters)' })
      .meta({ description: 'Scenario name; used in the run directory name.' }),
    description: safeText.optional(),
    engine: z
      .enum(['autocannon', 'k6', 'lean'])
      .optional()
      .meta({ description: 'lean (default for http:// targets and the bundled services: a raw-socket HTTP/1.1 client, the most accurate open model here), autocannon (default for https://), or k6 (the real k6 binary). lean takes optional pipelining.' }),
    pipelining: z.number().int().min(1).max(64).optional().meta({ description: 'lean only: requests in flight per connection (HTTP/1.1 pipelining; latency then includes waiting behind earlier requests).' }),
    script: z.string().optional().meta({ description: 'k6 only: run this k6 script unchanged instead of generating one.' }),
    target: target.default({ services: 'bundled' }),
    cluster: clusterSchema,
    services: z
      .strictObject({ backend: backendConfig.default(backendConfig.parse({})), frontend: frontendConfig.default(frontendConfig.parse({})) })
      .default({ backend: backendConfig.parse({}), frontend: frontendConfig.parse({}) }),
    requests: z.array(request).min(1).default([{ method: 'GET', path: '/', headers: {}, weight: 1 }]),
    stages: z
      .array(stage)
      .min(1, { message: 'at least one stage is needed' })
      .refine((st) => st.reduce((a, x) => a + (typeof x?.duration === 'number' ? x.duration : 0), 0) <= LIMITS.totalDurationMs, { message: `the stages together last at most ${LIMITS.totalDurationMs / 3_600_000}h` }),
    stress: z.array(stress).default([]),
    probes: z
      .union([
        z.enum(['auto', 'required', 'off']),
        z.strictObject({
          mode: z.enum(['auto', 'required', 'off']).default('auto'),
          fidelity: z
            .enum(['sampled', 'full'])
            .default('sampled')
            .meta({ description: 'sampled (default): every packet counted, 1 in N timed (N chosen from the packet rate within a run-time budget, reported per window), srtt once per second per socket; full: every packet timed, srtt on every ACK (costs about 5% of throughput at saturation).' }),
        }),
      ])
      .default('auto')
      .meta({ description: 'eBPF probes: auto (default; off with the reason when the machine cannot run them), required, off; or { mode, fidelity }.' }),
    requestTimeout: boundedDuration(LIMITS.requestTimeoutMs).default(10_000).meta({ description: 'A request unanswered this long counts as an error.' }),
    thresholds: z
      .record(z.string(), z.array(z.union([thresholdExpr, thresholdLong])).min(1))
      .default({})
      .meta({ description: 'k6-style thresholds: metric (optionally with a tag filter, http_req_duration{stage:peak}) → expressions; README "Thresholds" lists the metrics.' }),
    faults: faultsSchema,
    autoscaler: autoscalerSchema.optional().meta({ description: 'An autoscaling/v2 HorizontalPodAutoscaler spec (paste it from your cluster) run by the local controller, plus syncPeriod and metricResolution.' }),
  })
  .superRefine((s, ctx) => {
    if (s.pipelining !== undefined && defaultEngine(s) !== 'lean') {
      ctx.addIssue({ code: 'custom', path: ['pipelining'], message: '"pipelining" needs engine: lean' });
    }
    if (s.script !== undefined && defaultEngine(s) !== 'k6') {
      ctx.addIssue({ code: 'custom', path: ['script'], message: '"script" needs engine: k6' });
    }
    const names = new Map<string, number>();
    s.stages.forEach((st, i) => {
      if (st.name === undefined) return;
      if (names.has(st.name)) ctx.addIssue({ code: 'custom', path: ['stages', i, 'name'], message: `stage name "${st.name}" is already used by stage ${names.get(st.name)! + 1}` });
      names.set(st.name, i);
    });
    const total = s.stages.reduce((a, st) => a + st.duration, 0);
    const phases = new Map<string, number>();
    s.stress.forEach((p, i) => {
      if (p.start >= total) ctx.addIssue({ code: 'custom', path: ['stress', i, 'start'], message: `stress starts after the last stage ends (${total / 1000}s)` });
      const name = stressName(p, i);
      if (phases.has(name)) {
        ctx.addIssue({ code: 'custom', path: ['stress', i, ...(p.name === undefined ? [] : ['name'])], message: `stress phase name "${name}" is already used by stress phase ${phases.get(name)! + 1}; give each phase its own name` });
      }
      phases.set(name, i);
    });
    checkFaults(
      s.faults,
      { services: 'url' in s.target ? [] : ['backend', 'frontend'], totalMs: total, mode: s.cluster.mode, ...(s.autoscaler ? { autoscaled: s.autoscaler.scaleTargetRef.name } : {}) },
      (path, message) => ctx.addIssue({ code: 'custom', path: ['faults', ...path], message }),
    );
    const tctx = thresholdContext(s);
    for (const [key, list] of Object.entries(s.thresholds)) {
      const keyProblems = thresholdKeyProblems(key, tctx);
      for (const message of keyProblems) ctx.addIssue({ code: 'custom', path: ['thresholds', key], message });
      const metric = parseThresholdKey(key)?.metric;
      if (keyProblems.length || !metric) continue;
      list.forEach((t, i) => {
        const e = typeof t === 'string' ? t : t.threshold;
        const why = thresholdMisfit(metric as ThresholdMetricName, e);
        if (why) ctx.addIssue({ code: 'custom', path: ['thresholds', key, i], message: `threshold "${e}" can never pass: ${why}` });
        if (typeof t !== 'string' && t.delayAbortEval !== undefined && !t.abortOnFail) {
          ctx.addIssue({ code: 'custom', path: ['thresholds', key, i, 'delayAbortEval'], message: '"delayAbortEval" applies with abortOnFail: true only' });
        }
      });
    }
  })
  .superRefine(
    (s, ctx) => checkAutoscalerRequests(s.autoscaler, (svc) => (s.services as Partial<typeof s.services> | undefined)?.[svc as 'backend' | 'frontend']?.resources?.requests, (path, message) => ctx.addIssue({ code: 'custom', path, message })),
    { when: (payload) => payload.value !== null && typeof payload.value === 'object' },
  )
  .transform(({ thresholds, ...s }) => ({ ...s, engine: defaultEngine(s), ...splitThresholds(thresholds) }));

/**
 * The engine a scenario runs with: the one it names, else lean for plain http:// (the bundled
 * services included) — its open model is the closest to k6's accuracy here (bench latency suite) —
 * and autocannon for https://, which lean does not speak.
 */
function defaultEngine(s: { engine?: 'autocannon' | 'k6' | 'lean'; target: { url: string } | object }): 'autocannon' | 'k6' | 'lean' {
  if (s.engine) return s.engine;
  return 'url' in s.target && typeof s.target.url === 'string' && s.target.url.toLowerCase().startsWith('https:') ? 'autocannon' : 'lean';
}

type ThresholdsWritten = Record<string, (string | { threshold: string; abortOnFail: boolean; delayAbortEval?: number })[]>;

/** The thresholds as expressions under canonical keys (`metric{tag:value,…}`), and those that abort the run on failure. */
function splitThresholds(written: ThresholdsWritten): { thresholds: Record<string, string[]>; thresholdAborts: ThresholdAbort[] } {
  const thresholds: Record<string, string[]> = {};
  const thresholdAborts: ThresholdAbort[] = [];
  for (const [raw, list] of Object.entries(written)) {
    const k = parseThresholdKey(raw);
    const key = k ? k.metric + (Object.keys(k.tags).length ? `{${Object.entries(k.tags).map(([t, v]) => `${t}:${v}`).join(',')}}` : '') : raw;
    for (const t of list) {
      const expression = typeof t === 'string' ? t : t.threshold;
      (thresholds[key] ??= []).push(expression);
      if (typeof t !== 'string' && t.abortOnFail) thresholdAborts.push({ key, expression, delayMs: t.delayAbortEval ?? 0 });
    }
  }
  return { thresholds, thresholdAborts };
}

/** What the scenario offers threshold metrics and tags (stage names, services, probes, autoscaler, SLO). */
function thresholdContext(s: {
  stages: { name?: string }[];
  target: object;
  probes: string | { mode: string };
  cluster: { mode: string };
  autoscaler?: unknown;
  thresholds: ThresholdsWritten;
}): ThresholdContext {
  const slo = Object.entries(s.thresholds).some(([key, list]) => {
    const k = parseThresholdKey(key);
    if (k?.metric !== 'http_req_duration' || Object.keys(k.tags).length) return false;
    return list.some((t) => {
      const m = THRESHOLD_RE.exec(typeof t === 'string' ? t : t.threshold);
      return !!m && (m[3] === '<' || m[3] === '<=') && (m[2] !== undefined ? Number(m[2]) > 0 : m[1] === 'med' || m[1] === 'max');
    });
  });
  return {
    stages: s.stages.map((st, i) => st.name ?? `stage-${i + 1}`),
    services: 'url' in s.target ? [] : ['frontend', 'backend'],
    probes: (typeof s.probes === 'string' ? s.probes : s.probes.mode) !== 'off',
    localCluster: !['loopback', 'kubernetes'].includes(s.cluster.mode) && !('url' in s.target),
    autoscaler: s.autoscaler !== undefined,
    slo,
  };
}

/** A stress phase's name: its own, else `stress-<position from 1>`. */
export function stressName(p: { name?: string }, index: number): string {
  return p.name ?? `stress-${index + 1}`;
}

/** The scenario as written (before defaults and transforms). */
export type ScenarioInput = z.input<typeof scenarioSchema>;
/** A validated scenario: defaults applied, durations in ms. Everything downstream trusts it. */
export type ScenarioSpec = z.output<typeof scenarioSchema>;
export type StageSpec = ScenarioSpec['stages'][number];
export type RequestSpec = ScenarioSpec['requests'][number];
export type StressSpec = ScenarioSpec['stress'][number];
export type BackendConfig = ScenarioSpec['services']['backend'];

/** JSON Schema of the format as a user writes it (schemas/scenario.schema.json). */
export function scenarioJsonSchema(): unknown {
  return z.toJSONSchema(scenarioSchema, { io: 'input', unrepresentable: 'any' });
}
