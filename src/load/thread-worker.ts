import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { now } from '../core/clock.ts';
import { LoadscopeError } from '../core/errors.ts';
import type { RunEvent, Sample, Sink } from '../core/types.ts';
import { AutocannonEngine } from './autocannon/engine.ts';
import { LeanEngine } from './lean/engine.ts';
import { LOAD_THREAD_NICE, type ThreadMessage, type ThreadRequest } from './thread.ts';

// The load thread: one in-process engine (its scheduler, pacer, sockets and 1 s windows) on a thread
// of its own. Everything it measures goes to the main thread as messages; nothing else runs here.
const port = parentPort!;
const priority = raisePriority();
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
if (priority !== undefined) sink.event({ kind: 'load.notice', time: now(), source: 'load', attrs: { notice: 'priority', message: priority } });
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
 * root, no CAP_SYS_NICE) it stays at the default. Undefined when the priority is as asked, else the
 * run's notice saying why not.
 */
function raisePriority(): string | undefined {
  let nice = 0;
  try {
    nice = getPriority(0);
    // never lower it: a run started at a higher priority (nice -19) keeps it
    if (nice > LOAD_THREAD_NICE) setPriority(0, LOAD_THREAD_NICE);
    return undefined;
  } catch (err) {
    // not permitted: the priority it had, and a notice saying so
    return `the load and pacer threads run at nice ${nice}, not ${LOAD_THREAD_NICE}: raising their priority needs root or CAP_SYS_NICE (${(err as NodeJS.ErrnoException).code ?? String(err)}); on a busy machine arrivals may be sent late`;
  }
}
