import { now } from '../core/clock.ts';
import { Pacer } from './pacer.ts';

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
 * schedule, until the stage's last arrival or `signal`. Woken by the pacer thread (src/load/pacer.ts)
 * at each arrival's time, not by Node's timers (≥ 1 ms ticks, 0–1 ms late, arrivals bunched per tick):
 * each arrival leaves within a thread wake-up of its time; everything that fell due while the
 * thread was busy leaves at once. The lateness that remains shows in latency, which engines measure
 * from the intended time.
 */
export function paceArrivals(pacer: Pacer, rate: { from: number; to: number }, begin: number, durationMs: number, signal: AbortSignal, arrive: (intended: number) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    // epoch ms (the run's time base) minus the pacer's monotonic ms: constant, both tick on hrtime
    const offset = now() - Pacer.clock();
    let k = 0;
    let next = arrivalTime(k, rate.from, rate.to, durationMs);
    const done = (): void => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    };
    const onAbort = (): void => {
      pacer.cancel();
      done();
    };
    const tick = (): void => {
      if (signal.aborted) return done();
      const t = now();
      while (next !== undefined && begin + next <= t) {
        arrive(begin + next);
        k++;
        next = arrivalTime(k, rate.from, rate.to, durationMs);
      }
      if (next === undefined) return done();
      pacer.wakeAt(begin + next - offset, tick);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    tick();
  });
}
