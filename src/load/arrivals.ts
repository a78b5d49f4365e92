import { setTimeout as sleep } from 'node:timers/promises';
import { now } from '../core/clock.ts';

/**
 * Offset in ms of the k-th arrival (k = 0, 1, …) of a stage whose rate ramps linearly from `from`
 * to `to` requests/s over `durationMs`: the time at which the cumulative count
 * N(t) = from·t + (to − from)·t²/(2D) reaches k. Undefined when it falls after the stage.
 */
export function arrivalTime(k: number, from: number, to: number, durationMs: number): number | undefined {
  if (from === 0 && to === 0) return undefined;
  const d = durationMs / 1000;
  const a = (to - from) / (2 * d);
  const b = from;
  const disc = b * b + 4 * a * k;
  if (disc < 0) return undefined;
  const denom = b + Math.sqrt(disc);
  if (denom <= 0) return k === 0 ? 0 : undefined;
  const t = (2 * k) / denom;
  return t < d ? t * 1000 : undefined;
}

/** Expected number of arrivals in a stage: the area under the rate ramp. */
export function expectedArrivals(from: number, to: number, durationMs: number): number {
  return ((from + to) / 2) * (durationMs / 1000);
}

/**
 * Calls `arrive(intendedTime)` for every arrival of a stage that began at `begin` (epoch ms), on
 * schedule, until the stage's last arrival or `signal`. Timer ticks of at least 1 ms send everything
 * that fell due (no spinning: the harness must not take a core from the services it measures); the
 * lateness of a tick shows in latency, which engines measure from the intended time.
 */
export async function paceArrivals(rate: { from: number; to: number }, begin: number, durationMs: number, signal: AbortSignal, arrive: (intended: number) => void): Promise<void> {
  let k = 0;
  let next = arrivalTime(k, rate.from, rate.to, durationMs);
  while (!signal.aborted && next !== undefined) {
    const t = now();
    while (next !== undefined && begin + next <= t) {
      arrive(begin + next);
      k++;
      next = arrivalTime(k, rate.from, rate.to, durationMs);
    }
    if (next === undefined) break;
    const wait = begin + next - now();
    await sleep(Math.min(Math.max(1, wait), 50), undefined, { signal }).catch(() => undefined);
  }
}
