import { performance } from 'node:perf_hooks';

/**
 * The run's single time base: epoch milliseconds as a float with µs resolution, monotonic within a
 * process (performance.timeOrigin + performance.now()). Every Sample and Event uses it.
 */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

/** Index of the 1 s window that `time` falls in, counted from `start`. */
export function windowIndex(time: number, start: number): number {
  return Math.floor((time - start) / 1000);
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses "500ms", "10s", "1m30s", "2h" into milliseconds; returns undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    total += Number(m[1]) * UNITS[m[2]];
    matched = re.lastIndex;
  }
  return matched === text.length && matched > 0 ? total : undefined;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.round(ms / 1000);
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}
