/**
 * Offset in ms of the k-th arrival (k = 0, 1, …) of a stage whose rate ramps linearly from `from`
 * to `to` requests/s over `durationMs`: the time at which the cumulative count
 * N(t) = from·t + (to − from)·t²/(2D) reaches k. Undefined when it falls after the stage.
 */
export function arrivalTime(k: number, from: number, to: number, durationMs: number): number | undefined {
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
