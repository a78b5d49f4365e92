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

// ---- analysis: every signal on the run's 1 s windows, and the answers derived from them (correlate/analysis.ts) ----

const perWindow = z.array(z.number()).meta({ description: 'One value per 1 s window, index = seconds since the run started.' });
const perWindowOrNull = z.array(z.number().nullable()).meta({ description: 'One value per 1 s window; null where the window had no data.' });
const at = z.number().meta({ description: 'Seconds since the run started.' });

export const analysisSchema = z.object({
  windowS: z.number(),
  windows: z.number().int(),
  slo: z
    .object({ percentile: z.number(), limitMs: z.number(), strict: z.boolean(), expression: z.string() })
    .nullable()
    .meta({ description: 'The per-window latency objective, from the scenario\'s http_req_duration threshold with the highest percentile; null when there is none (sloAbsent says so).' }),
  sloAbsent: z.string().optional(),
  series: z.object({
    t: perWindow,
    stage: perWindow.meta({ description: 'Index into stages, -1 outside every stage.' }),
    rps: perWindow,
    errors: perWindow,
    p50Ms: perWindowOrNull,
    p90Ms: perWindowOrNull,
    p99Ms: perWindowOrNull,
    sloMs: perWindowOrNull.meta({ description: 'The SLO percentile of the window (equals p99Ms when the SLO is on p99).' }),
    violation: perWindow.meta({ description: '1 where the window broke the SLO (or had errors but no responses), else 0.' }),
    stressCores: perWindow,
    replicas: z.array(z.object({ service: z.string(), ready: perWindowOrNull, desired: perWindowOrNull })).meta({ description: 'Ready pods per service at the end of each window (pod events); desired replicas from the autoscaler.' }),
    pods: z.array(z.object({ service: z.string(), pod: z.string(), cpuCores: perWindowOrNull, memoryMiB: perWindowOrNull })),
    routingUpdates: perWindow,
    backends: z.array(z.object({ service: z.string(), backend: z.string(), basis: z.string(), counts: perWindow })).meta({ description: 'Work each backend got per window; basis names what is counted.' }),
    packetLatency: z.array(z.object({ iface: z.string(), p50Us: perWindowOrNull, p99Us: perWindowOrNull, packets: perWindow })),
    rttMs: z.object({ p50: perWindowOrNull, p99: perWindowOrNull }).nullable(),
    retransmits: perWindow,
    drops: z.array(z.object({ reason: z.string(), counts: perWindow })),
  }),
  heatmaps: z
    .array(z.object({ iface: z.string(), edgesUs: z.array(z.number()), counts: z.array(z.array(z.number())) }))
    .meta({ description: 'Packet latency per interface: counts[window][bucket], bucket b holding values up to edgesUs[b] (the last one also everything above).' }),
  latencyDistribution: z.object({ edgesMs: z.array(z.number()), counts: z.array(z.number()) }),
  markers: z.array(z.object({ t: at, kind: z.string(), category: z.string(), source: z.string(), label: z.string() })),
  autoscalers: z.array(z.object({ hpa: z.string(), service: z.string(), minReplicas: z.number().nullable(), maxReplicas: z.number().nullable() })),
  rescales: z.array(z.object({ t: at, hpa: z.string(), service: z.string(), from: z.number().nullable(), to: z.number().nullable(), reason: z.string(), message: z.string() })),
  conditions: z.array(z.object({ t: at, hpa: z.string(), type: z.string(), status: z.string(), reason: z.string(), message: z.string() })).meta({ description: 'HPA condition transitions.' }),
  scaleUp: z
    .array(
      z.object({
        stage: z.string(),
        stepT: at,
        load: z.string(),
        rescaleT: z.number().nullable(),
        reactionS: z.number().nullable().meta({ description: 'Load step → first scale-up event.' }),
        readyT: z.number().nullable(),
        readyS: z.number().nullable().meta({ description: 'Load step → first new pod of the scaled service ready.' }),
        recoveredT: z.number().nullable(),
        recoveryS: z.number().nullable().meta({ description: 'Load step → latency back under the SLO (null: never broke it, or never recovered; see note).' }),
        from: z.number().nullable(),
        to: z.number().nullable(),
        note: z.string(),
      }),
    )
    .meta({ description: 'One entry per load step (a stage that raises the offered load).' }),
  violation: z
    .object({
      seconds: z.number(),
      episodes: z.array(z.object({ startT: at, endT: at, durationS: z.number(), peakMs: z.number().nullable(), recovered: z.boolean() })),
      timeToRecoverS: z.number().nullable().meta({ description: 'Longest violation that ended before the run did.' }),
      endedInViolation: z.boolean(),
    })
    .nullable(),
  latencyByReplicas: z.array(z.object({ service: z.string(), replicas: z.number(), windows: z.number(), requests: z.number(), p50Ms: z.number(), p90Ms: z.number(), p99Ms: z.number() })),
  balance: z
    .array(
      z.object({
        service: z.string(),
        basis: z.string(),
        backends: z.array(z.object({ backend: z.string(), count: z.number(), share: z.number() })),
        skew: z.number().meta({ description: 'Busiest backend\'s count over the mean count (1 = perfectly even).' }),
        cv: z.number().meta({ description: 'Coefficient of variation of the counts.' }),
      }),
    ),
  packetShare: z
    .object({ share: z.number(), networkMs: z.number(), requestMeanMs: z.number(), basis: z.string() })
    .nullable()
    .meta({ description: 'Estimated share of mean request latency spent in packet transit (probes only).' }),
  packetShareAbsent: z.string().optional(),
  signals: z.array(z.object({ signal: z.string(), present: z.boolean(), detail: z.string() })),
  findings: z.array(z.string()),
});

export type Analysis = z.infer<typeof analysisSchema>;

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
    rps: z.number().meta({ description: 'Responses received during the load stages over their time (responses received in the drain after the last stage are left out).' }),
    bytes: z.number(),
    inFlightAtCutoff: z.number().int().meta({ description: 'Requests sent but unanswered when the engine stopped; the services may have served them.' }),
    dropped: z.number().int().meta({ description: 'Open-model arrivals never sent (connection pool saturated until the end); threshold metric dropped_iterations.' }),
    latencyBasis: z.string().meta({ description: 'What latency is measured from: the intended start (coordinated-omission corrected) or the actual send.' }),
    latencyMs: latency.nullable().meta({ description: 'null: no request of the run finished (nothing to measure).' }),
    serviceTimeMs: latency.optional().meta({ description: 'Open model: from the actual send; latencyMs minus this is time queued in the client.' }),
  }),
  stages: z.array(
    z.object({
      name: z.string(),
      model: z.enum(['closed', 'open']),
      startS: z.number(),
      durationS: z.number().nullable().meta({ description: 'null: the stage did not end (the run crashed or stopped first, see note).' }),
      connections: z.number().optional(),
      rate: z.object({ from: z.number(), to: z.number() }).optional(),
      requests: z.number().int().meta({ description: 'Responses to requests sent in the stage, whenever they came.' }),
      errors: z.number().int(),
      rps: z.number().nullable().meta({ description: 'Responses received within the stage over its duration (those received after it ended are left out); null with durationS.' }),
      latencyMs: latency.nullable().meta({ description: 'null: the stage got no responses.' }),
      note: z.string().optional().meta({ description: 'Why a figure is null.' }),
    }),
  ),
  windows: z.array(
    z.object({
      time: z.number().meta({ description: 'Window start, epoch ms' }),
      t: z.number().meta({ description: 'Seconds since the run started' }),
      stage: z.string(),
      rps: z.number(),
      errors: z.number(),
      latencyMs: z
        .object({ p50: z.number().nullable(), p90: z.number().nullable(), p99: z.number().nullable(), max: z.number().nullable() })
        .meta({ description: 'null: no latency was recorded in the window (noData says why).' }),
      noData: z.string().optional(),
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
    z.object({
      metric: z.string(),
      expression: z.string(),
      observed: z.number().nullable().meta({ description: 'null: nothing to measure (status "no data"), or k6 judged it (source "k6").' }),
      ok: z.boolean().meta({ description: 'Only "pass" is ok: a threshold over no data fails the run.' }),
      status: z.enum(['pass', 'fail', 'no data', 'unknown']).meta({ description: '"unknown": the journal keeps no thresholds loadscope could read.' }),
      source: z.enum(['loadscope', 'k6']).meta({ description: 'loadscope: evaluated on the merged journal; k6: a user script\'s own threshold as k6 judged it (crossed in any k6 process = crossed).' }),
      note: z.string().optional().meta({ description: 'Why there was no data.' }),
      aborted: z
        .object({ t: z.number().meta({ description: 'Seconds since the run started.' }), observed: z.number().nullable().meta({ description: 'The value that failed, on the data up to then.' }) })
        .optional()
        .meta({ description: 'This threshold (abortOnFail) failed during the run and stopped it.' }),
    }),
  ),
  probes: z.record(z.string(), z.unknown()).meta({ description: 'eBPF probe results (probes.status says whether they ran and why not).' }),
  events: z.array(z.object({ t: z.number(), kind: z.string(), source: z.string(), text: z.string() })),
  environment: z.record(z.string(), z.unknown()),
  engineNative: z
    .record(z.string(), z.unknown())
    .meta({ description: "The engine's own end-of-run data, not recomputed (k6: per-process threshold verdicts, checks, dropped iterations); {} for autocannon." }),
  routing: z
    .object({
      via: z.string().meta({ description: '"ebpf": the local cluster\'s cgroup/connect4 socket load balancer; "frontend": the loopback frontend\'s userland round-robin.' }),
      services: z.record(
        z.string(),
        z.object({
          vip: z.string().optional(),
          connections: z.number().int().meta({ description: 'New connections routed to the service\'s pods.' }),
          pods: z.record(z.string(), z.object({ connections: z.number().int(), rateLimited: z.number().int() })).meta({ description: 'Per pod: new connections it was given, requests its rate limiter refused.' }),
          updates: z.number().int().meta({ description: 'Routing-table updates (a pod joined or left).' }),
          policyDrops: z.number().int().meta({ description: 'Connections refused by the policy (not from an allowed client).' }),
          noBackend: z.number().int().meta({ description: 'Connections refused because no pod was ready.' }),
          rateLimited: z.number().int(),
        }),
      ),
      updates: z.array(z.object({ t: z.number(), service: z.string(), generation: z.number(), pods: z.array(z.string()), reason: z.string() })),
      policyDrops: z.number().int(),
      rateLimited: z.number().int(),
      decisionsRecorded: z.number().int().meta({ description: 'Per-connection routing decisions in the journal (routing.decision samples).' }),
    })
    .optional()
    .meta({ description: 'Service routing of a cluster with replicas: who got which connections, table updates, refusals.' }),
  analysis: analysisSchema.optional().meta({ description: 'Correlated timeline and derived answers (scale-up reaction, SLO violation, balance, findings).' }),
  autoscaling: z
    .object({
      hpa: z.string(),
      target: z.string().meta({ description: 'The scale target, Kind/name.' }),
      minReplicas: z.number().int(),
      maxReplicas: z.number().int(),
      syncPeriodS: z.number(),
      syncs: z.number().int(),
      events: z
        .array(
          z.object({
            t: z.number().meta({ description: 'Seconds since the run started.' }),
            from: z.number().int(),
            to: z.number().int(),
            reason: z.string().meta({ description: 'Kubernetes Event reason: SuccessfulRescale, or FailedRescale.' }),
            message: z.string().meta({ description: 'As the controller writes it: "New size: 3; reason: cpu resource utilization (percentage of request) above target".' }),
            source: z.string().optional().meta({ description: 'Who decided: autoscaler (the local controller) or the Kubernetes component that reported it, e.g. horizontal-pod-autoscaler.' }),
          }),
        )
        .meta({ description: 'Rescale decisions of the HPA (the local controller, or the real one in Kubernetes mode), in order.' }),
      warnings: z.record(z.string(), z.number().int()).meta({ description: 'Warning events by reason (FailedGetResourceMetric, …), counted.' }),
      replicas: z
        .array(z.object({ t: z.number().int(), desired: z.number().int().nullable(), ready: z.number().int().nullable() }))
        .meta({ description: 'Per 1 s window: the target\'s desired replicas (its scale) and ready pods at the end of the window.' }),
      conditions: z
        .array(z.object({ type: z.string(), status: z.string(), reason: z.string(), message: z.string() }))
        .meta({ description: 'HPA status conditions after the last sync (AbleToScale, ScalingActive, ScalingLimited).' }),
      shadow: z
        .object({
          syncs: z.number().int(),
          compared: z.number().int(),
          agreements: z.number().int(),
          disagreements: z.array(z.object({ time: z.number(), real: z.number().int(), shadow: z.number().int(), metrics: z.unknown() })),
        })
        .optional()
        .meta({ description: 'Kubernetes mode on the test control plane: the local HPA port run in shadow on the answers the real controller got, compared sync by sync.' }),
    })
    .optional()
    .meta({ description: 'The local HPA controller: rescale events, replicas over time, syncs and final conditions (runs with an autoscaler section).' }),
  faults: z
    .array(
      z.object({
        name: z.string(),
        kind: z.string(),
        target: z.string().meta({ description: 'service or service/pod, as the scenario names it.' }),
        pods: z.array(z.string()).meta({ description: 'The pods it acted on.' }),
        startS: z.number().meta({ description: 'Seconds since the run started.' }),
        endS: z.number().nullable().meta({ description: 'When it was undone (= startS for pod-kill); null: never (the run crashed).' }),
        settings: z.record(z.string(), z.unknown()).meta({ description: 'The kind\'s own settings (probability, share, status, delayMs, …).' }),
        detectS: z.number().nullable().meta({ description: 'Fault start to the first reaction of the system (docs/faults.md "Time to detect"); null: none seen.' }),
        detectedBy: z.string().nullable(),
        recoverS: z.number().nullable().meta({ description: 'Fault end to recovery (docs/faults.md "Time to recover"); null: not recovered before the run ended.' }),
        recoveredBy: z.string().nullable(),
        requests: z.number().int().meta({ description: 'Responses and failures in the 1 s windows from the fault start to its recovery (or end).' }),
        errors: z.number().int(),
        failedByFault: z.number().int().meta({ description: 'errors minus what the baseline error rate predicts for `requests`, at least 0.' }),
        baseline: z
          .object({ windows: z.number().int(), errorRate: z.number(), p99Ms: z.number().nullable(), retransmitsPerS: z.number().nullable() })
          .meta({ description: 'The windows before the fault with no fault on: their error rate and median p99.' }),
        p99Ms: z.number().nullable().meta({ description: 'Highest window p99 from the fault start to its recovery.' }),
        packetsDropped: z.number().int().nullable().meta({ description: 'packet-loss, partition: packets the eBPF program dropped.' }),
        retransmits: z.number().int().nullable().meta({ description: 'TCP retransmits the probes saw from the fault start to its recovery (null: no probes).' }),
        reactions: z.array(z.object({ t: z.number(), kind: z.string(), text: z.string() })).meta({ description: 'What the cluster, autoscaler and kernel journalled from the fault start to its recovery (at most 20).' }),
      }),
    )
    .optional()
    .meta({ description: 'Scheduled faults (the scenario\'s faults:) with their effect; skipped faults are notices.' }),
  machine: z
    .object({
      wakeCpuUs: z
        .object({
          median: z.number(),
          p10: z.number(),
          p90: z.number(),
          readings: z.number().int().meta({ description: 'Seconds with a reading.' }),
        })
        .meta({ description: 'CPU µs of one wake-up of the run\'s gauge thread, woken by a loopback TCP message from another thread (machine.wake_cpu_us, src/run/wake-gauge.ts): the per-second medians\' median, p10 and p90.' }),
    })
    .optional()
    .meta({ description: 'How the machine itself behaved during the run (runs whose services run on this machine). A lightly loaded service\'s CPU per request moves with wakeCpuUs from run to run; compare uses its change (docs/compare.md).' }),
});

/** The content of results.json. */
export type RunResult = z.infer<typeof runResultSchema>;
export type LatencySummary = z.infer<typeof latency>;
