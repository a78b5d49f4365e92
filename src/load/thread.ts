import { Worker } from 'node:worker_threads';
import { LoadscopeError, type ErrorCode } from '../core/errors.ts';
import type { RunEvent, Sample } from '../core/types.ts';
import type { EngineOptions, EngineSummary, LoadEngine, LoadPlan } from './types.ts';

/** The niceness the load thread and the pacer thread ask for (root only; else they keep the default). */
export const LOAD_THREAD_NICE = -10;

/** What the load thread is given: the engine, its options and the plan without its sink. */
export interface ThreadRequest {
  engine: 'autocannon' | 'lean';
  options: EngineOptions;
  plan: Omit<LoadPlan, 'sink' | 'ledger'>;
}

/** What the load thread sends back: the sink's records as they come, then the summary or the failure. */
export type ThreadMessage =
  | { t: 'sample'; v: Sample }
  | { t: 'event'; v: RunEvent }
  | { t: 'done'; v: EngineSummary }
  | { t: 'fail'; code: ErrorCode; message: string; hint?: string };

/**
 * An in-process engine run on a thread of its own (the load thread), so that sending and timing share
 * their thread with nothing else of the harness: the journal's writes, the windows of the probes, the
 * autoscaler, the live view and the garbage of all of them stay on the main thread, where their pauses
 * cannot delay an arrival or the reading of a response. The engine's records reach the sink in the
 * order it made them (a window is about 10 records a second: the messages cost nothing that counts).
 */
export class ThreadedEngine implements LoadEngine {
  constructor(
    readonly name: 'autocannon' | 'lean',
    private readonly options: EngineOptions,
  ) {}

  run(plan: LoadPlan, signal: AbortSignal): Promise<EngineSummary> {
    const { sink, ledger: _ledger, ...rest } = plan;
    const request: ThreadRequest = { engine: this.name, options: this.options, plan: rest };
    // no inherited flags: the entry registers tsx itself (execArgv may carry --import tsx, or not)
    const worker = new Worker(new URL('./thread-entry.mjs', import.meta.url), { workerData: request, execArgv: [] });
    return new Promise<EngineSummary>((resolve, reject) => {
      let settled = false;
      const onAbort = (): void => worker.postMessage({ t: 'abort' });
      const settle = (f: () => void): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        f();
        void worker.terminate();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      if (signal.aborted) onAbort();
      worker.on('message', (m: ThreadMessage) => {
        if (settled) return;
        if (m.t === 'sample') sink.sample(m.v);
        else if (m.t === 'event') sink.event(m.v);
        else if (m.t === 'done') settle(() => resolve(m.v));
        else settle(() => reject(new LoadscopeError(m.code, m.message, m.hint ? { hint: m.hint } : {})));
      });
      worker.on('error', (err) => settle(() => reject(new LoadscopeError('ENGINE', `the load thread failed: ${err.message}`, { cause: err }))));
      worker.on('exit', (code) => settle(() => reject(new LoadscopeError('ENGINE', `the load thread ended (exit code ${code}) before its engine finished`))));
    });
  }
}
