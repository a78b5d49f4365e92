import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { LoadscopeError } from '../core/errors.ts';
import type { RunEvent, Sample, Sink } from '../core/types.ts';
import { AutocannonEngine } from './autocannon/engine.ts';
import { LeanEngine } from './lean/engine.ts';
import { LOAD_THREAD_NICE, type ThreadMessage, type ThreadRequest } from './thread.ts';

// The load thread: one in-process engine (its scheduler, pacer, sockets and 1 s windows) on a thread
// of its own. Everything it measures goes to the main thread as messages; nothing else runs here.
const port = parentPort!;
raisePriority();
const req = workerData as ThreadRequest;
const ac = new AbortController();
const post = (m: ThreadMessage): void => port.postMessage(m);
port.on('message', (m: { t: 'abort' }) => {
  if (m.t === 'abort') ac.abort(new Error('interrupted'));
});
const sink: Sink = {
  sample: (s: Sample) => post({ t: 'sample', v: s }),
  event: (e: RunEvent) => post({ t: 'event', v: e }),
};
const engine = req.engine === 'lean' ? new LeanEngine({ pipelining: req.options.pipelining }) : new AutocannonEngine();
try {
  const summary = await engine.run({ ...req.plan, sink }, ac.signal);
  post({ t: 'done', v: summary });
} catch (err) {
  if (err instanceof LoadscopeError) post({ t: 'fail', code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) });
  else post({ t: 'fail', code: 'INTERNAL', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
} finally {
  port.close();
}

/**
 * The load thread (this thread only: on Linux, setpriority on "this process" is per thread) asks for
 * nice -10, so that on a busy machine it is the first to run when it wakes — before the harness's own
 * bookkeeping (the live view, the journal), which runs at the default. Without the right to (not
 * root, no CAP_SYS_NICE) it stays at the default.
 */
function raisePriority(): void {
  try {
    // never lower it: a run started at a higher priority (nice -19) keeps it
    if (getPriority(0) > LOAD_THREAD_NICE) setPriority(0, LOAD_THREAD_NICE);
  } catch {
    // not permitted: the default priority
  }
}
