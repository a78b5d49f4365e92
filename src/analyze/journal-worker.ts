// The second reader of a long journal (worker thread): it takes the probes' histogram samples — most
// of a long run's histograms — while the main thread reads the rest (results.ts,
// buildResultFromJournal). It returns their part of the probe summary and of the network windows.
import type { MessagePort } from 'node:worker_threads';
import { LoadscopeError } from '../core/errors.ts';
import { scanJournal, type RawLine } from '../journal/journal.ts';
import type { Sample } from '../core/types.ts';
import { decodeSparse, type SparseHist } from './hist.ts';
import { NetworkWindows, type PackedNetwork } from './network.ts';
import { ProbeAccumulator, type ProbesSummary } from './probes.ts';

/** What the main thread hands the worker: the journal, a port for the answer, a flag it waits on. */
export interface WorkerJob {
  path: string;
  port: MessagePort;
  flag: Int32Array;
}

/** The worker's answer. */
export type WorkerAnswer = { probes: ProbesSummary; net: PackedNetwork; parsed: number; fast: number } | { error: { message: string; code?: string; hint?: string } };

/**
 * The records the worker takes: the probes' histogram samples (packet latency, RTT), whose decoding is
 * the largest single cost of a long journal. Everything else stays with the main reader.
 */
export const WORKER_METRICS = new Set(['probe.pkt_latency_ns', 'probe.tcp_srtt_us']);

/** Reads the WORKER_METRICS samples of the journal at `path` (everything else is skipped unparsed). */
export function readProbes(path: string): Extract<WorkerAnswer, { probes: unknown }> {
  const probes = new ProbeAccumulator();
  const net = new NetworkWindows();
  let t0: number | undefined;
  const early: [Sample, SparseHist | undefined][] = [];
  const window = (s: Sample, hist: SparseHist | undefined) => net.add(s, Math.floor((s.time - t0!) / 1000), hist);
  const stats = scanJournal(
    path,
    (r) => {
      if (r.type === 'run') {
        t0 ??= r.startedAt;
        for (const [s, h] of early.splice(0)) window(s, h);
        return;
      }
      if (r.type === 'sample' && WORKER_METRICS.has(r.metric)) {
        const hist = r.hist ? decodeSparse(r.hist) : undefined;
        probes.add(r, hist);
        if (t0 === undefined) early.push([r, hist]);
        else window(r, hist);
      }
    },
    new Map<string, (l: RawLine) => boolean>([
      ['probe.pkt_latency_ns', () => false],
      ['probe.tcp_srtt_us', () => false],
      ['*', () => true],
    ]),
  );
  return { probes: probes.finish(), net: net.pack(), parsed: stats.records - stats.fast, fast: stats.fast };
}

/** The worker's entry (called by the bootstrap results.ts starts it with). */
export function run(job: WorkerJob): void {
  let answer: WorkerAnswer;
  try {
    answer = readProbes(job.path);
  } catch (e) {
    const err = e as Error & Partial<LoadscopeError>;
    answer = { error: { message: err.message, code: err.code, hint: err.hint } };
  }
  job.port.postMessage(answer);
  Atomics.store(job.flag, 0, 1);
  Atomics.notify(job.flag, 0);
}
