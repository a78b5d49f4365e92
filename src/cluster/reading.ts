import { now } from '../core/clock.ts';

/**
 * A pod's last reading of its counters: `get` reads again when the last one is older than `maxAgeMs`
 * (or always when `fresh`), one read at a time; a read that fails leaves the last reading standing.
 */
export class Reading<T extends { time: number }> {
  last?: T;
  private pending?: Promise<T | undefined>;

  constructor(private readonly maxAgeMs: number) {}

  get(read: () => Promise<T>, fresh = false): Promise<T | undefined> {
    if (!fresh && this.last && now() - this.last.time < this.maxAgeMs) return Promise.resolve(this.last);
    this.pending ??= read()
      .then(
        (r) => (this.last = r),
        () => this.last, // draining, gone or busy
      )
      .finally(() => (this.pending = undefined));
    return this.pending;
  }
}
