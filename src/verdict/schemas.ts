// The shapes of capacity.json and whatif.json as zod schemas: `loadscope schemas` publishes them as JSON
// Schemas (schemas/capacity.schema.json, schemas/whatif.schema.json) and the tests validate documents the
// commands wrote. The compile-time checks at the end keep each schema equal to its document type.
import { z } from 'zod';
import type { CapacityDoc } from '../render/capacity.ts';
import type { WhatifDoc } from '../render/whatif.ts';

const outcome = z.enum(['completed', 'interrupted', 'failed', 'crashed']);

const capacityStep = z.object({
  index: z.number().int(),
  phase: z.enum(['step-up', 'bisection']),
  rate: z.number().meta({ description: 'Arrival rate offered, req/s.' }),
  pass: z.boolean().nullable().meta({ description: 'true: every threshold passed; false: one failed (see failed); null: interrupted, not judged.' }),
  outcome,
  throughput: z.number().meta({ description: 'Responses per second within the step.' }),
  latencyMs: z.object({ mean: z.number(), p50: z.number(), p99: z.number() }).nullable(),
  concurrency: z.number().nullable().meta({ description: "Little's law: throughput × mean latency (requests in flight on average)." }),
  errorRate: z.number(),
  dropped: z.number(),
  cpuMsPerRequest: z.number().nullable().meta({ description: 'CPU of the scaled service per request served, ms (bundled services only).' }),
  failed: z.array(z.string()),
  runDir: z.string(),
  retryOf: z.number().int().optional().meta({ description: 'This step repeats step retryOf, which failed.' }),
  overruled: z.boolean().optional().meta({ description: 'Failed, but a repeat at the same rate passed: not counted, nor used for the knee and the fit.' }),
});

const usl = z.union([
  z.object({
    ok: z.literal(true),
    lambda: z.number(),
    sigma: z.number(),
    kappa: z.number(),
    peak: z.object({ concurrency: z.number(), throughput: z.number() }).nullable().meta({ description: 'null when κ ≈ 0 (no peak).' }),
    r2: z.number(),
    rmse: z.number(),
    points: z.number().int(),
    note: z.string().optional(),
  }),
  z.object({ ok: z.literal(false), reason: z.string(), points: z.number().int() }),
]);

/** capacity.json (docs/capacity.md). */
export const capacityDocSchema = z.object({
  schemaVersion: z.literal(1),
  scenario: z.string(),
  scenarioFile: z.string(),
  outDir: z.string(),
  maxRate: z.number().nullable().meta({ description: 'Highest passing rate, req/s; null when no step passed.' }),
  firstFailingRate: z.number().nullable().meta({ description: "The lowest rate tried that failed (the bracket's upper end); null when none failed." }),
  knee: z.object({ rate: z.number(), throughput: z.number(), latencyMs: z.number(), concurrency: z.number().nullable() }).nullable(),
  steps: z.array(capacityStep),
  usl,
  replicas: z.object({ service: z.string(), count: z.number().int(), fixed: z.boolean() }),
  replicasNeeded: z
    .object({
      rate: z.number(),
      service: z.string(),
      perReplicaCapacity: z.number(),
      forThresholds: z.number().int(),
      hpa: z.object({ desired: z.number().int().nullable(), metrics: z.array(z.object({ metric: z.string(), desired: z.number().int().nullable(), note: z.string() })) }).nullable(),
      assumption: z.string(),
    })
    .nullable(),
  thresholds: z.record(z.string(), z.array(z.string())),
  settings: z.object({ stepS: z.number(), startRate: z.number(), maxRate: z.number(), precision: z.number(), maxSteps: z.number().int() }),
  stopped: z.enum(['done', 'interrupted', 'limit']).meta({ description: 'interrupted: Ctrl-C stopped the search; limit: maxSteps or maxRate ended it before the bracket closed.' }),
  notes: z.array(z.string()),
});

const spec = z.object({
  source: z.string(),
  target: z.string(),
  minReplicas: z.number().int(),
  maxReplicas: z.number().int(),
  metrics: z.array(z.string()),
  behavior: z.string(),
  syncPeriodS: z.number(),
  metricResolutionS: z.number(),
});

const replicas = z.object({ current: z.number().int(), desired: z.number().int() });

/** whatif.json (docs/capacity.md, whatif). */
export const whatifDocSchema = z.object({
  schemaVersion: z.literal(1),
  runDir: z.string(),
  runId: z.string(),
  scenario: z.string(),
  recordedSpec: spec,
  otherSpec: spec,
  syncs: z.array(
    z.object({
      t: z.number().meta({ description: 'Seconds since the run started.' }),
      cpuMillis: z.number(),
      rps: z.number(),
      recorded: replicas.nullable().meta({ description: "The run's own sync nearest in time." }),
      replayed: replicas.extend({ ready: z.number().int(), reason: z.string() }),
    }),
  ),
  windows: z
    .object({
      t: z.array(z.number()),
      offeredRps: z.array(z.number()),
      recordedReady: z.array(z.number().nullable()),
      replayedReady: z.array(z.number()),
      recordedOver: z.array(z.number()),
      replayedOver: z.array(z.number()),
      measuredViolation: z.array(z.number().nullable()),
    })
    .meta({ description: 'Per 1 s window (index = seconds since the start).' }),
  overSlo: z.object({
    measuredS: z.number().nullable().meta({ description: "Windows the run's own SLO analysis found in violation (null: the run had no SLO)." }),
    estimatedRecordedS: z.number(),
    estimatedReplayedS: z.number(),
    capacityPerReplica: z.number().nullable(),
    capacitySource: z.string(),
    method: z.string(),
  }),
  fidelity: z.object({ syncs: z.number().int(), sameDesired: z.number().int(), maxDifference: z.number() }).nullable(),
  approximations: z.array(z.string()),
});

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const capacityMatches: Same<z.infer<typeof capacityDocSchema>, CapacityDoc> = true;
const whatifMatches: Same<z.infer<typeof whatifDocSchema>, WhatifDoc> = true;
void capacityMatches;
void whatifMatches;
