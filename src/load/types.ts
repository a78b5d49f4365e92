import type { PlannedStage, Sink } from '../core/types.ts';
import type { RequestSpec } from '../scenario/schema.ts';
import type { Ledger } from '../core/ledger.ts';

/** What an engine is asked to do: the target, the request mix and the stage plan, already scaled. */
export interface LoadPlan {
  /** Base URL of the target (scheme, host, port); request paths are appended. */
  baseUrl: string;
  requests: RequestSpec[];
  stages: PlannedStage[];
  requestTimeoutMs: number;
  /** The run's time base origin; 1 s windows are aligned to it. */
  runStart: number;
  /** Where windows (http.*) and engine events go. */
  sink: Sink;
  /** The scenario's thresholds, for engines that evaluate them natively (k6). */
  thresholds?: Record<string, string[]>;
  /** k6 only: a user script to run unchanged. */
  script?: string;
  /** Directory for engine artefacts (generated scripts, raw output). */
  workDir: string;
  /**
   * The run's ledger (src/core/ledger.ts): what an engine creates that must not outlive a dead run
   * is listed here while it exists, so the next run removes it. (The in-process engines run on a
   * thread and leave nothing; the k6 engine no longer makes FIFOs since it reads remote write.)
   */
  ledger?: Pick<Ledger, 'add' | 'remove'>;
}

/** How latency was measured: from the intended send time (open model) or from the actual send. */
export type LatencyBasis =
  | 'intended-start (coordinated-omission corrected)'
  | 'actual-send (closed model, not corrected)'
  | 'actual-send (open model, k6: late arrivals dropped, not queued; no CO correction)'
  | 'mixed';

/** The engine's own totals, reported beside the windows; windows are the source of truth for rates. */
export interface EngineSummary {
  engine: string;
  requestsSent: number;
  responses: number;
  errors: number;
  /** Requests sent but unanswered when the engine stopped (they may have been served). */
  inFlightAtCutoff: number;
  /** Open model: arrivals never sent — still queued behind a saturated pool when the run ended (k6: found no free VU). */
  dropped: number;
  latencyBasis: LatencyBasis;
  connectionsMax: number;
  /** Engine-native extras (k6 checks and thresholds, …). */
  extra?: Record<string, unknown>;
}

/** A load engine. `run` resolves when the plan is done or `signal` aborts; it never throws for HTTP errors. */
export interface LoadEngine {
  readonly name: string;
  run(plan: LoadPlan, signal: AbortSignal): Promise<EngineSummary>;
}

/** Options that reach an engine from the scenario. */
export interface EngineOptions {
  /** lean only: requests in flight per connection (HTTP/1.1 pipelining). */
  pipelining?: number;
}
