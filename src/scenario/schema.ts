import { z } from 'zod';
import { cpuMillicores, memoryBytes } from '../core/quantity.ts';
import { autoscalerSchema, checkAutoscalerRequests } from './autoscaler.ts';
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

const backendConfig = z.strictObject({
  routes: z.record(z.string().startsWith('/'), routeConfig).default({}),
  default: routeConfig.default(routeConfig.parse({})),
  replicas,
  resources: resources.prefault({}),
  rateLimit: rateLimit.optional(),
});

const frontendConfig = z.strictObject({
  maxSockets: z.number().int().min(1).max(10_000).default(64),
  replicas,
  resources: resources.prefault({}),
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

/** k6-style threshold expressions: `p(99) < 250`, `avg<100`, `rate < 0.01`, `count > 100`. */
export const THRESHOLD_RE = /^\s*(avg|min|max|med|count|rate|p\((\d+(?:\.\d+)?)\))\s*(<=|>=|==|!=|<|>)\s*(-?\d+(?:\.\d+)?)\s*$/;
const thresholdExpr = z.string().regex(THRESHOLD_RE, {
  message: 'not a threshold expression; write e.g. "p(99) < 250", "avg < 100", "rate < 0.01"',
});
export const THRESHOLD_METRICS = ['http_req_duration', 'http_req_failed', 'http_reqs', 'dropped_iterations'] as const;
/** The aggregations each metric has, as in k6: a trend, a rate and two counters (dropped_iterations: open-model arrivals never sent). `p` stands for p(N), 0 <= N <= 100. */
const THRESHOLD_AGGREGATIONS: Record<(typeof THRESHOLD_METRICS)[number], readonly string[]> = {
  http_req_duration: ['avg', 'min', 'max', 'med', 'count', 'p'],
  http_req_failed: ['rate', 'count'],
  http_reqs: ['count', 'rate'],
  dropped_iterations: ['count', 'rate'],
};

/** Why `expression` can never be evaluated on `metric` (an aggregation the metric lacks, a percentile beyond 100), or undefined. */
export function thresholdMisfit(metric: (typeof THRESHOLD_METRICS)[number], expression: string): string | undefined {
  const m = THRESHOLD_RE.exec(expression);
  if (!m) return undefined;
  const agg = m[2] === undefined ? m[1] : 'p';
  const allowed = THRESHOLD_AGGREGATIONS[metric];
  if (!allowed.includes(agg)) {
    return `"${m[1]}" does not apply to ${metric}; use ${allowed.map((a) => (a === 'p' ? 'p(N)' : a)).join(', ')}`;
  }
  if (agg === 'p' && Number(m[2]) > 100) return `${m[1]}: a percentile is between 0 and 100`;
  return undefined;
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
      .default('autocannon')
      .meta({ description: 'autocannon (default), k6 (the real k6 binary), or lean (a raw-socket HTTP/1.1 client for plain http://, with optional pipelining).' }),
    pipelining: z.number().int().min(1).max(64).optional().meta({ description: 'lean only: requests in flight per connection (HTTP/1.1 pipelining; latency then includes waiting behind earlier requests).' }),
    script: z.string().optional().meta({ description: 'k6 only: run this k6 script unchanged instead of generating one.' }),
    target: target.default({ services: 'bundled' }),
    cluster: z
      .strictObject({
        mode: z.enum(['auto', 'loopback', 'local']).default('auto').meta({ description: 'Where bundled services run. auto: the embedded local cluster when it can run here, else loopback processes.' }),
      })
      .default({ mode: 'auto' }),
    services: z
      .strictObject({ backend: backendConfig.default(backendConfig.parse({})), frontend: frontendConfig.default(frontendConfig.parse({})) })
      .default({ backend: backendConfig.parse({}), frontend: frontendConfig.parse({}) }),
    requests: z.array(request).min(1).default([{ method: 'GET', path: '/', headers: {}, weight: 1 }]),
    stages: z
      .array(stage)
      .min(1, { message: 'at least one stage is needed' })
      .refine((st) => st.reduce((a, x) => a + (typeof x?.duration === 'number' ? x.duration : 0), 0) <= LIMITS.totalDurationMs, { message: `the stages together last at most ${LIMITS.totalDurationMs / 3_600_000}h` }),
    stress: z.array(stress).default([]),
    probes: z.enum(['auto', 'required', 'off']).default('auto'),
    requestTimeout: boundedDuration(LIMITS.requestTimeoutMs).default(10_000).meta({ description: 'A request unanswered this long counts as an error.' }),
    thresholds: z.partialRecord(z.enum(THRESHOLD_METRICS), z.array(thresholdExpr).min(1)).default({}),
    autoscaler: autoscalerSchema.optional().meta({ description: 'An autoscaling/v2 HorizontalPodAutoscaler spec (paste it from your cluster) run by the local controller, plus syncPeriod and metricResolution.' }),
  })
  .superRefine((s, ctx) => {
    if (s.pipelining !== undefined && s.engine !== 'lean') {
      ctx.addIssue({ code: 'custom', path: ['pipelining'], message: '"pipelining" needs engine: lean' });
    }
    if (s.script !== undefined && s.engine !== 'k6') {
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
    for (const [metric, exprs] of Object.entries(s.thresholds) as [(typeof THRESHOLD_METRICS)[number], string[]][]) {
      exprs.forEach((e, i) => {
        const why = thresholdMisfit(metric, e);
        if (why) ctx.addIssue({ code: 'custom', path: ['thresholds', metric, i], message: `threshold "${e}" can never pass: ${why}` });
      });
    }
  })
  .superRefine(
    (s, ctx) => checkAutoscalerRequests(s.autoscaler, (svc) => (s.services as Partial<typeof s.services> | undefined)?.[svc as 'backend' | 'frontend']?.resources?.requests, (path, message) => ctx.addIssue({ code: 'custom', path, message })),
    { when: (payload) => payload.value !== null && typeof payload.value === 'object' },
  );

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
