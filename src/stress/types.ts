import type { Lifecycle } from '../core/types.ts';

/** One stress phase, already scaled: burn `cores` at `utilization` from `startMs` for `durationMs` after the run start. */
export interface StressPhase {
  name: string;
  startMs: number;
  durationMs: number;
  cores: number;
  utilization: number;
}

/** Runs stress phases on schedule and records stress.start / stress.stop events and stress.cores samples. */
export interface Stressor extends Lifecycle {
  /** Phases started so far (for the summary). */
  started(): number;
}
