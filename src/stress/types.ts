import type { Lifecycle } from '../core/types.ts';

/** One stress phase, already scaled: burn `cores` at `utilization` from `startMs` for `durationMs` after the run start. */
export interface StressPhase {
  name: string;
  startMs: number;
  durationMs: number;
  cores: number;
  utilization: number;
}

/**
 * Runs stress phases on schedule from start() and records stress.start / stress.stop events and stress.cores
 * samples; stop() (or the start signal's abort) ends running phases with a stress.stop and cancels pending ones.
 */
export type Stressor = Lifecycle;
