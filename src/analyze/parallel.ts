// Starts journal-worker.ts in a worker thread for a long journal and waits for it synchronously
// (Atomics.wait + receiveMessageOnPort), so buildResultFromJournal stays a plain function. The worker
// runs from a plain-JavaScript bundle (esbuild, rebuilt when a source is newer): starting tsx in a
// worker costs more than the worker saves.
import { buildSync } from 'esbuild';
import { existsSync, readdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import type { WorkerAnswer } from './journal-worker.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const ENTRY = join(HERE, 'journal-worker.ts');
const BUNDLE = join(HERE, '.build', 'journal-worker.mjs');
/** Below this size one thread is faster than starting a second. */
export const PARALLEL_MIN_BYTES = 64 << 20;

function newestSource(): number {
  let newest = 0;
  for (const dir of [HERE, join(HERE, '..', 'model')]) for (const f of readdirSync(dir)) if (f.endsWith('.ts')) newest = Math.max(newest, statSync(join(dir, f)).mtimeMs);
  return newest;
}

let bundle: string | null | undefined;

/** The worker's bundle, built if missing or stale; null when it cannot be built (then one thread reads all). */
function workerBundle(): string | null {
  if (bundle !== undefined) return bundle;
  try {
    if (!existsSync(BUNDLE) || statSync(BUNDLE).mtimeMs < newestSource()) {
      const tmp = `${BUNDLE}.${process.pid}.tmp`;
      buildSync({ entryPoints: [ENTRY], outfile: tmp, bundle: true, platform: 'node', format: 'esm', target: 'node20', logLevel: 'silent' });
      renameSync(tmp, BUNDLE);
    }
    bundle = BUNDLE;
  } catch {
    bundle = null;
  }
  return bundle;
}

/** Idle cores right now: /proc/stat sampled twice, `ms` apart (undefined where there is no /proc/stat). */
export function idleCores(ms = 100): number | undefined {
  const read = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
    return { idle: f[3] + (f[4] ?? 0), total: f.reduce((a, b) => a + b, 0) };
  };
  try {
    const a = read();
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    const b = read();
    const total = b.total - a.total;
    return total > 0 ? ((b.idle - a.idle) / total) * availableParallelism() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether a journal of `bytes` is read by two threads: `threads` 1 or 2 forces it; 'auto' takes a
 * second thread for a long journal when most of a core is idle right now (sampled over 100 ms). On a
 * busy machine the second reader only adds its own scan of the file and its start-up.
 */
export function useWorker(bytes: number, threads: 1 | 2 | 'auto'): boolean {
  if (threads === 1) return false;
  if (threads === 'auto') {
    const env = process.env.LOADSCOPE_THREADS;
    if (env === '1') return false;
    if (env !== '2' && (bytes < PARALLEL_MIN_BYTES || availableParallelism() < 2 || (idleCores() ?? 0) < 0.8)) return false;
  }
  return workerBundle() !== null;
}

/** A started worker reading the probe records of `path`; `wait()` blocks until its answer (undefined if it never came). */
export function startProbeWorker(path: string, timeoutMs: number): { wait(): WorkerAnswer | undefined } {
  const { port1, port2 } = new MessageChannel();
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const url = pathToFileURL(workerBundle()!).href;
  const boot = `const { workerData } = require('node:worker_threads');
import(${JSON.stringify(url)}).then((m) => m.run(workerData), (e) => {
  workerData.port.postMessage({ error: { message: 'the journal worker did not start: ' + (e && e.message) } });
  Atomics.store(workerData.flag, 0, 1);
  Atomics.notify(workerData.flag, 0);
});`;
  const worker = new Worker(boot, { eval: true, workerData: { path, port: port2, flag }, transferList: [port2], resourceLimits: { maxYoungGenerationSizeMb: 8 } });
  worker.unref();
  return {
    wait() {
      const until = Date.now() + timeoutMs;
      while (Atomics.load(flag, 0) === 0 && Date.now() < until) Atomics.wait(flag, 0, 0, 200);
      const got = receiveMessageOnPort(port1)?.message as WorkerAnswer | undefined;
      port1.close();
      void worker.terminate();
      return got;
    },
  };
}
