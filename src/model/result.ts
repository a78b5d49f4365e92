import { z } from 'zod';

// results.json: the machine-readable outcome of a run. Bump RESULT_SCHEMA_VERSION on any breaking
// change; schemas/results.schema.json is generated from this (npm run schemas).

export const RESULT_SCHEMA_VERSION = 1;

const latency = z.object({
  min: z.number(),
  mean: z.number(),
  p50: z.number(),
  p90: z.number(),
  p95: z.number(),
  p99: z.number(),
  p999: z.number(),
  max: z.number(),
});

export const runResultSchema = z.object({
  schemaVersion: z.literal(RESULT_SCHEMA_VERSION),
  runId: z.string(),
  scenario: z.object({ name: z.string(), file: z.string(), description: z.string().optional() }),
  engine: z.string(),
  startedAt: z.string().meta({ description: 'ISO 8601, UTC' }),
  endedAt: z.string(),
  durationS: z.number(),
  outcome: z.enum(['completed', 'interrupted', 'failed', 'crashed']).meta({ description: '"crashed": the journal has no end record' }),
  notices: z.array(z.string()),
  http: z.object({
    requests: z.number().int().meta({ description: 'Responses received (any status).' }),
    requestsSent: z.number().int(),
    errors: z.number().int().meta({ description: 'Status >= 400, timeouts and connection errors.' }),
    errorsByKind: z.record(z.string(), z.number().int()),
    errorRate: z.number(),
    rps: z.number().meta({ description: 'Responses per second over the load stages.' }),
    bytes: z.number(),
    inFlightAtCutoff: z.number().int().meta({ description: 'Requests sent but unanswered when the engine stopped; the services may have served them.' }),
    dropped: z.number().int().meta({ description: 'Open-model arrivals never sent (connection pool saturated until the end).' }),
    latencyBasis: z.string().meta({ description: 'What latency is measured from: the intended start (coordinated-omission corrected) or the actual send.' }),
    latencyMs: latency,
    serviceTimeMs: latency.optional().meta({ description: 'Open model: from the actual send; latencyMs minus this is time queued in the client.' }),
  }),
  stages: z.array(
    z.object({
      name: z.string(),
      model: z.enum(['closed', 'open']),
      startS: z.number(),
      durationS: z.number(),
      connections: z.number().optional(),
      rate: z.object({ from: z.number(), to: z.number() }).optional(),
      requests: z.number().int(),
      errors: z.number().int(),
      rps: z.number(),
      latencyMs: latency,
    }),
  ),
  windows: z.array(
    z.object({
      time: z.number().meta({ description: 'Window start, epoch ms' }),
      t: z.number().meta({ description: 'Seconds since the run started' }),
      stage: z.string(),
      rps: z.number(),
      errors: z.number(),
      latencyMs: z.object({ p50: z.number(), p90: z.number(), p99: z.number(), max: z.number() }),
      stressCores: z.number(),
    }),
  ),
  services: z.record(
    z.string(),
    z.object({
      role: z.string(),
      requestsServed: z.number().int(),
      requestsAborted: z.number().int(),
      cpuSeconds: z.number(),
      rssBytes: z.number(),
      pods: z
        .record(z.string(), z.object({ requestsServed: z.number(), requestsAborted: z.number(), cpuSeconds: z.number(), rssBytes: z.number() }))
        .optional()
        .meta({ description: 'Per replica (pod) counters, read from each pod at the end of the run.' }),
    }),
  ),
  checks: z.object({
    servedVsClient: z
      .object({
        service: z.string(),
        clientResponses: z.number().int(),
        served: z.number().int(),
        difference: z.number().int(),
        allowed: z.number().int(),
        ok: z.boolean(),
      })
      .optional(),
  }),
  stress: z.array(z.object({ name: z.string(), startS: z.number(), endS: z.number().optional(), cores: z.number(), utilization: z.number() })),
  thresholds: z.array(
    z.object({ metric: z.string(), expression: z.string(), observed: z.number().nullable(), ok: z.boolean() }),
  ),
  probes: z.record(z.string(), z.unknown()).meta({ description: 'eBPF probe results (probes.status says whether they ran and why not).' }),
  events: z.array(z.object({ t: z.number(), kind: z.string(), source: z.string(), text: z.string() })),
  environment: z.record(z.string(), z.unknown()),
});

/** The content of results.json. */
export type RunResult = z.infer<typeof runResultSchema>;
export type LatencySummary = z.infer<typeof latency>;
