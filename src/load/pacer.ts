import { once } from 'node:events';
import { Worker } from 'node:worker_threads';

/**
 * Wakes the thread that made it at a given time, to within a thread wake-up (tens of µs), while
 * that thread keeps serving its sockets.
 *
 * Why a thread: Node's timers have 1 ms resolution and fire 0–1 ms late (libuv rounds its poll
 * timeout up to whole milliseconds), so arrivals paced by setTimeout leave late by ~0.5 ms on average
 * and pile up into ticks — and in an open model that lateness is measured latency. A helper thread
 * blocks in Atomics.wait with a fractional-millisecond timeout (a futex on an hrtimer) and, when the
 * time comes, posts a message; the message wakes this thread's event loop at once (libuv's async
 * handle), whatever its poll timeout. The helper thread sleeps in the kernel between wakes: it costs
 * one wake and one message per `wakeAt`, nothing while idle (no spinning — the harness must not take
 * a core from the services it measures).
 *
 * Times are in the monotonic clock of `process.hrtime` as milliseconds (the same in every thread;
 * performance.now() is not, each worker has its own origin). Use `Pacer.clock()`.
 */
export class Pacer {
  /** [0]: generation, bumped on every new wake time or on close; [1]: 1 = closed. */
  private readonly ctl: Int32Array;
  /** [0]: the wake time (monotonic ms), NaN when none. */
  private readonly due: Float64Array;
  private readonly worker: Worker;
  private onWake?: () => void;
  private gen = 0;
  private closed = false;
  /** The helper thread ended by itself (it should not): wakes fall back to timers. */
  private broken = false;
  private fallback?: NodeJS.Timeout;
  private readonly online: Promise<unknown>;

  constructor() {
    const ctl = new SharedArrayBuffer(8);
    const due = new SharedArrayBuffer(8);
    this.ctl = new Int32Array(ctl);
    this.due = new Float64Array(due);
    this.due[0] = NaN;
    this.worker = new Worker(PACER_THREAD, { eval: true, workerData: { ctl, due, nice: PACER_NICE }, stdout: false, stderr: false });
    this.worker.on('message', (gen: number) => {
      // a wake of a time since replaced is ignored
      if (gen !== this.gen) return;
      const f = this.onWake;
      this.onWake = undefined;
      this.worker.unref();
      f?.();
    });
    this.online = once(this.worker, 'online').catch(() => undefined);
    this.worker.on('error', () => undefined);
    this.worker.on('exit', () => {
      if (this.closed) return;
      this.broken = true;
      const f = this.onWake;
      this.onWake = undefined;
      f?.();
    });
    // a pending wake keeps the process alive (as a timer would), an idle pacer does not
    this.worker.unref();
  }

  /**
   * Resolves when the helper thread runs (a worker takes tens of milliseconds to boot on a busy
   * machine: a wake asked before then would come that much late).
   */
  async ready(): Promise<void> {
    if (this.broken || this.closed) return;
    this.worker.ref();
    try {
      await this.online;
    } finally {
      if (!this.onWake) this.worker.unref();
    }
  }

  /** The monotonic clock the wake times are in, ms. */
  static clock(): number {
    return Number(process.hrtime.bigint()) / 1e6;
  }

  /** Calls `fn` once at monotonic time `at` (ms, see `clock()`); replaces any wake not yet due. */
  wakeAt(at: number, fn: () => void): void {
    if (this.closed) return;
    if (this.broken) {
      clearTimeout(this.fallback);
      this.fallback = setTimeout(fn, Math.max(0, at - Pacer.clock()));
      return;
    }
    if (!this.onWake) this.worker.ref();
    this.onWake = fn;
    this.set(at);
  }

  /** Forgets the pending wake, if any. */
  cancel(): void {
    clearTimeout(this.fallback);
    if (this.onWake) this.worker.unref();
    this.onWake = undefined;
    this.set(NaN);
  }

  /** Ends the helper thread. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.fallback);
    this.onWake = undefined;
    Atomics.store(this.ctl, 1, 1);
    this.set(NaN);
    await this.worker.terminate();
  }

  // The time first, then the generation: the helper reads the generation first, so it never pairs a
  // new generation with an old time (an old generation with a new time only makes a wake we ignore).
  private set(at: number): void {
    this.due[0] = at;
    this.gen = (Atomics.add(this.ctl, 0, 1) + 1) | 0;
    Atomics.notify(this.ctl, 0);
  }
}

/** The niceness of the pacer thread, as the load thread's (src/load/thread.ts): root only. */
const PACER_NICE = -10;

/**
 * The helper thread: wait for a wake time, sleep until it (woken early when it changes), post a
 * message, repeat. Plain JavaScript (evaluated, no loader needed).
 */
const PACER_THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const ctl = new Int32Array(workerData.ctl);
const due = new Float64Array(workerData.due);
const clock = () => Number(process.hrtime.bigint()) / 1e6;
// this thread's timer slack to 1 ns (Linux pads a sleeping thread's timeouts by up to 50 µs by default
// to batch wakeups; /proc/TID/timerslack_ns of the caller's own thread needs no privilege): about
// 50 µs off the median wake (bench latency suite)
try { const fs = require('node:fs'); fs.writeFileSync('/proc/' + fs.readlinkSync('/proc/thread-self').split('/').pop() + '/timerslack_ns', '1'); } catch {}
// this thread only (setpriority is per thread on Linux): wake first on a busy machine, if permitted
try { const os = require('node:os'); if (os.getPriority(0) > workerData.nice) os.setPriority(0, workerData.nice); } catch {}
let fired = NaN;
for (;;) {
  if (Atomics.load(ctl, 1) === 1) break;
  const gen = Atomics.load(ctl, 0);
  const at = due[0];
  if (gen === fired || Number.isNaN(at)) {
    Atomics.wait(ctl, 0, gen);
    continue;
  }
  const left = at - clock();
  if (left > 0) {
    Atomics.wait(ctl, 0, gen, left);
    continue;
  }
  fired = gen;
  parentPort.postMessage(gen);
}
`;
