// The one data model every module speaks. No imports from other modules.

/** Low-cardinality labels: stage, service, pod, iface, route. Never per-request values. */
export type Tags = Record<string, string>;

/**
 * One measured value at one time. `time` is epoch milliseconds as a float (µs resolution) on the
 * run's single time base (see clock.ts). Window aggregates carry `hist`: an encoded HDR histogram
 * (histogram.ts) of the window's values, and then `value` is the histogram's count.
 */
export interface Sample {
  metric: string;
  time: number;
  value: number;
  tags: Tags;
  /** Encoded HDR histogram (the bucket text of core/histogram.ts; journals before it: compressed base64); present only on histogram samples. */
  hist?: string;
  /** Per-record detail that must not become a tag (connection tuple, packet addresses). */
  meta?: Record<string, unknown>;
}

/**
 * Something that happened at one time: stage start/end, stress on/off, pod ready/terminated,
 * HPA rescale, route-table update, probe lost-events. `attrs` holds the kind-specific fields.
 */
export interface RunEvent {
  kind: string;
  time: number;
  source: string;
  attrs: Record<string, unknown>;
}

/** The header written first to the journal: what ran, where and how. */
export interface RunHeader {
  runId: string;
  schemaVersion: number;
  scenarioName: string;
  scenarioFile: string;
  scenarioText: string;
  engine: string;
  startedAt: number;
  durationScale: number;
  /** Planned stages with their offsets from startedAt (ms), after duration scaling. */
  plan: PlannedStage[];
  /** The scenario's thresholds as resolved at the start (the SLO comes from them); `report` reads these, never the scenario again. Absent in older journals. */
  thresholds?: Record<string, string[]>;
  /** The scenario's description, for the report. */
  description?: string;
  /** engine k6 with a user script: that script (k6's own thresholds of it then decide too). */
  script?: string;
  environment: Record<string, unknown>;
  /** Notes that the report must show (e.g. "probes off: not root"). */
  notices: string[];
}

export interface PlannedStage {
  name: string;
  startMs: number;
  durationMs: number;
  model: 'closed' | 'open';
  connections?: number;
  rate?: { from: number; to: number };
}

/** The footer written last to the journal. Missing when the run crashed. */
export interface RunFooter {
  endedAt: number;
  outcome: 'completed' | 'interrupted' | 'failed';
  reason?: string;
}

/** One NDJSON line of events.ndjson. */
export type JournalRecord =
  | ({ type: 'run' } & RunHeader)
  | ({ type: 'sample' } & Sample)
  | ({ type: 'event' } & RunEvent)
  | ({ type: 'end' } & RunFooter);

/** Where producers put what they measure; the run's journal implements it. */
export interface Sink {
  sample(s: Sample): void;
  event(e: RunEvent): void;
}

/**
 * A part that runs beside the load for the whole run: start(signal) once it may begin, stop() once at the end
 * (or the signal aborts). Implemented by the CPU stressor and the local HPA controller.
 */
export interface Lifecycle {
  start(signal: AbortSignal): Promise<void>;
  stop(): Promise<void>;
}
