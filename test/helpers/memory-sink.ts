import type { RunEvent, Sample, Sink } from '../../src/core/types.ts';

/** A sink that keeps every sample and event in memory, for tests that drive an engine or collector directly. */
export class MemorySink implements Sink {
  samples: Sample[] = [];
  events: RunEvent[] = [];
  sample(s: Sample): void {
    this.samples.push(s);
  }
  event(e: RunEvent): void {
    this.events.push(e);
  }
}
