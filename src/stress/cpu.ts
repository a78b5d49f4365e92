import { Worker } from 'node:worker_threads';
import { now } from '../core/clock.ts';
import type { Sink } from '../core/types.ts';
import type { StressPhase, Stressor } from './types.ts';

// Each worker spins for `utilization` of every 100 ms period and sleeps the rest (Atomics.wait).
const BURNER = `
const { workerData } = require('node:worker_threads');
const period = 100, busy = period * workerData.utilization;
const cell = new Int32Array(new SharedArrayBuffer(4));
let x = 0;
for (;;) {
  const t0 = performance.now();
  while (performance.now() - t0 < busy) x = (x * 1103515245 + 12345) | 0;
  const rest = period - (performance.now() - t0);
  if (rest > 0) Atomics.wait(cell, 0, 0, rest);
}`;

/** CPU stress with worker threads in this process: one thread per core to burn. */
export class CpuStressor implements Stressor {
  private timers: NodeJS.Timeout[] = [];
  private active = new Map<StressPhase, Worker[]>();

  constructor(private readonly phases: StressPhase[], private readonly runStart: number, private readonly sink: Sink) {}

  async start(signal: AbortSignal): Promise<void> {
    for (const p of this.phases) {
      const at = this.runStart + p.startMs - now();
      this.timers.push(setTimeout(() => this.begin(p), Math.max(0, at)));
      this.timers.push(setTimeout(() => this.end(p, 'scheduled'), Math.max(0, at + p.durationMs)));
    }
    signal.addEventListener('abort', () => void this.stop(), { once: true });
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    await Promise.all(this.phases.map((p) => this.end(p, 'run ended')));
  }

  private begin(p: StressPhase): void {
    const workers = Array.from({ length: p.cores }, () => new Worker(BURNER, { eval: true, workerData: { utilization: p.utilization } }));
    for (const w of workers) w.unref();
    this.active.set(p, workers);
    const t = now();
    this.sink.event({ kind: 'stress.start', time: t, source: 'stress', attrs: { name: p.name, kind: 'cpu', cores: p.cores, utilization: p.utilization } });
    this.sink.sample({ metric: 'stress.cores', time: t, value: p.cores * p.utilization, tags: { phase: p.name } });
  }

  private async end(p: StressPhase, why: string): Promise<void> {
    const workers = this.active.get(p);
    if (!workers) return;
    this.active.delete(p);
    await Promise.all(workers.map((w) => w.terminate()));
    const t = now();
    this.sink.event({ kind: 'stress.stop', time: t, source: 'stress', attrs: { name: p.name, kind: 'cpu', reason: why } });
    this.sink.sample({ metric: 'stress.cores', time: t, value: 0, tags: { phase: p.name } });
  }
}
