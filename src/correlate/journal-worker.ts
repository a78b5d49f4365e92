// The second reader of a long journal (worker thread): it takes the probe records — the bulk of a
// long run's journal and of its histograms — while the main thread reads the rest (results.ts,
// buildResultFromJournal). It returns the probe summary and the network windows as plain data.
import type { MessagePort } from 'node:worker_threads';
import { LoadscopeError } from '../model/errors.ts';
import { scanJournal, type RawLine } from '../model/journal.ts';
import type { Sample } from '../model/types.ts';
import { decodeSparse, type SparseHist } from './hist.ts';
import { NETWORK_METRICS, NetworkWindows, type PackedNetwork } from './network.ts';
import { ProbeAccumulator, type ProbesSummary } from './probes.ts';

/** What the main thread hands the worker: the journal, a port for the answer, a flag it waits on. */
export interface WorkerJob {
  path: string;
  port: MessagePort;
  flag: Int32Array;
}

/** The worker's answer. */
export type WorkerAnswer = { probes: ProbesSummary; net: PackedNetwork; parsed: number; fast: number } | { error: { message: string; code?: string; hint?: string } };

const HIST = new Set(['probe.pkt_latency_ns', 'probe.tcp_srtt_us']);

/** Reads the probe records of the journal at `path` but the sampled ones (everything else is skipped unparsed). */
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
      if (r.type === 'sample') {
        const hist = r.hist && HIST.has(r.metric) ? decodeSparse(r.hist) : undefined;
        probes.add(r, hist);
        if (r.metric.startsWith('probe.') && NETWORK_METRICS.has(r.metric)) {
          if (t0 === undefined) early.push([r, hist]);
          else window(r, hist);
        }
      } else probes.add(r);
    },
    // probe.route and probe.conn (the sampled records) stay with the main reader, which has less to do
    new Map<string, (l: RawLine) => boolean>([
      ['probe.route', () => true],
      ['probe.conn', () => true],
      ['probe.*', () => false],
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
