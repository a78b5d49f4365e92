// Pipeline throughput on one core: NDJSON lines/s through the probe reader (split, parse, map to
// samples and events), through the journal (serialize, buffer, write), both end to end, and the
// correlator's windows/s (buildResult over a synthetic journal). CPU time of this one thread.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildResult } from '../../src/analyze/results.ts';
import { Journal } from '../../src/journal/journal.ts';
import { ProbeRecordMapper } from '../../src/kernel/mapper.ts';
import { LineSplitter, ProbeLineParser } from '../../src/kernel/ndjson.ts';
import type { JournalRecord, RunEvent, Sample, Sink } from '../../src/core/types.ts';
import { collect, spawnTracked, waitExit } from '../lib/proc.ts';
import { spread } from '../lib/stats.ts';
import { syntheticRecords } from '../../test/helpers/synthetic-journal.ts';
import type { BenchContext, Suite } from '../lib/types.ts';

const probes = { LineSplitter, ProbeLineParser, ProbeRecordMapper };
type ProbeModules = typeof probes;

/**
 * Synthetic loader output with a busy run's mix: per-window aggregates are few (hist 1%, count 4%,
 * route 5%); sampled route lookups (60%) and connection records (30%) are the volume.
 */
export function loaderLines(n: number): string[] {
  const out: string[] = [
    JSON.stringify({ t: 'clock', probe: 'pktlat', pid: 1, mono_ns: 1_000_000_000, realtime_ms: 1_767_268_800_000, err_ns: 200, window_ns: 1e9, t0_ns: 1e9, hist: 'loglin3' }),
  ];
  for (let i = 1; out.length < n; i++) {
    const w = 1e9 + Math.floor(i / 50) * 1e9;
    const k = i % 100;
    switch (k < 1 ? 0 : k < 5 ? 1 : k < 10 ? 2 : k < 70 ? 3 : 4) {
      case 0:
        out.push(JSON.stringify({ t: 'hist', probe: 'pktlat', m: 'tcp_rtt_us', w, d: 1e9, tags: { iface: 'lo', port: '8080' }, n: 420, sum: 81234, b: [10, 3, 11, 40, 12, 200, 13, 150, 14, 27] }));
        break;
      case 1:
        out.push(JSON.stringify({ t: 'count', probe: 'pktlat', m: 'packets', w, d: 1e9, tags: { iface: 'lo', dir: 'egress' }, v: 12345 + i }));
        break;
      case 2:
        out.push(JSON.stringify({ t: 'route', probe: 'fibroute', w, d: 1e9, table: 254, src: '198.18.0.1', dst: '198.18.0.2', gw: '0.0.0.0', oif: 'veth0', err: 0, proto: 6, n: 900 }));
        break;
      case 3:
        out.push(JSON.stringify({ t: 'route_sample', probe: 'fibroute', ts: w + i * 1000, table: 254, src: '198.18.0.1', dst: '198.18.0.2', gw: '0.0.0.0', oif: 'veth0', oif_index: 3, flow_oif: 0, flow_iif: 1, err: 0, proto: 6, sport: 40000 + (i % 1000), dport: 8080, first: false }));
        break;
      default:
        out.push(JSON.stringify({ t: 'conn', probe: 'tcpwatch', ts: w, start: w, est: w + 50_000, end: w + 9e8, side: 'client', laddr: '127.0.0.1', lport: 40000 + (i % 1000), raddr: '127.0.0.1', rport: 8080, state: 'closed', from: 'ESTABLISHED' }));
    }
  }
  return out;
}

function cpuS(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

const nullSink: Sink = { sample: (_s: Sample) => undefined, event: (_e: RunEvent) => undefined };

const suite: Suite = {
  name: 'pipeline',
  description: 'probe reader and journal NDJSON lines/s on one core; correlator windows/s',
  quick: true,
  async run(ctx: BenchContext) {
    const reps = ctx.quick ? 3 : 5;
    const n = ctx.quick ? 100_000 : 200_000;
    const lines = loaderLines(n);
    const text = lines.join('\n') + '\n';
    const chunks: string[] = [];
    for (let i = 0; i < text.length; i += 65536) chunks.push(text.slice(i, i + 65536));
    const avg = Math.round(text.length / n);
    const dir = mkdtempSync(join(ctx.tmp, 'pipeline-'));
    try {
      const reader: number[] = [];
      const journal: number[] = [];
      const both: number[] = [];
      const windows: number[] = [];
      const parseFloor: number[] = [];
      const nWindows = ctx.quick ? 600 : 1200;
      const recs = [...syntheticRecords({ seconds: nWindows, packetRecords: 0, events: 100 })];
      for (let r = 0; r < reps; r++) {
        reader.push(n / timeCpu(() => readAll(probes, chunks, nullSink)));
        parseFloor.push(n / timeCpu(() => lines.forEach((l) => JSON.parse(l))));
        journal.push(n / timeCpu(() => journalAll(lines, join(dir, `j${r}.ndjson`))));
        const jp = join(dir, `b${r}.ndjson`);
        both.push(
          n /
            timeCpu(() => {
              const j = new Journal(jp, 60_000);
              let k = 0;
              const sink: Sink = { sample: (s) => (j.sample(s), ++k % 4096 === 0 && j.flush()), event: (e) => (j.event(e), ++k % 4096 === 0 && j.flush()) };
              readAll(probes, chunks, sink);
              j.close();
            }),
        );
        windows.push(nWindows / timeCpu(() => buildResult(recs as JournalRecord[])));
      }
      const core = `one thread's CPU time (process.cpuUsage), ${n.toLocaleString('en-US')} synthetic loader lines of ~${avg} B (route_sample 60%, conn 30%, route 5%, count 4%, hist 1%)`;
      ctx.line({ name: 'JSON.parse alone: lines per CPU-second', compared: `${core}; JSON.parse of each line and nothing else: the floor any NDJSON reader in JS starts from on this machine`, unit: 'lines/s', spread: spread(parseFloor) });
      ctx.line({ name: 'probe reader: lines per CPU-second', compared: `${core}; LineSplitter → ProbeLineParser → ProbeRecordMapper → a sink that drops`, unit: 'lines/s', spread: spread(reader), goal: { op: '>=', value: 1_000_000 } });
      ctx.line({ name: 'journal: lines per CPU-second', compared: `${core}; one count sample per line appended to the real Journal (JSON.stringify, buffer, writeSync every 4096) on local disk, fsync at close`, unit: 'lines/s', spread: spread(journal), goal: { op: '>=', value: 1_000_000 } });
      ctx.line({ name: 'probe reader → journal: lines per CPU-second', compared: `${core}; reader and journal together, as in a run`, unit: 'lines/s', spread: spread(both), goal: { op: '>=', value: 1_000_000 } });
      if (!ctx.quick) await probesParseScript(ctx);
      ctx.line({ name: 'correlator: windows per CPU-second', compared: `buildResult (src/analyze/results.ts) over a synthetic journal (test/helpers/synthetic-journal.ts) of ${nWindows} 1 s windows with every signal the report draws (HTTP, pods, HPA, probe histograms; no sampled packet records) and 100 events, one thread's CPU time`, unit: 'windows/s', spread: spread(windows) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

/**
 * The probes engineer's own reader measurement (bench/probes-parse.ts, a script on the recorded
 * fixture): run as a child, its "mix … [split+parse]" line from the measured section reported.
 */
async function probesParseScript(ctx: BenchContext): Promise<void> {
  const script = join(ctx.root, 'bench', 'probes-parse.ts');
  const child = spawnTracked(process.execPath, ['--import', 'tsx', script], { cwd: ctx.root });
  const io = collect(child);
  const code = await waitExit(child, 180_000);
  ctx.raw?.('probesParse', io.stdout());
  const measured = io.stdout().split('# measured')[1] ?? '';
  const m = /^mix[^\n]*\[split\+parse\][^\n]*?([\d.]+) M lines\/CPU-s/m.exec(measured);
  if (code !== 0 || !m) return ctx.skip('probe reader (bench/probes-parse.ts)', code !== 0 ? `exited ${code}` : 'no "mix … [split+parse]" line in its output (raw output stored)');
  ctx.line({ name: 'probe reader, recorded mix (bench/probes-parse.ts)', compared: 'LineSplitter + ProbeLineParser on the recorded loader fixture, the probes engineer\'s script run as a child (one repetition; its full output is in the results file)', unit: 'lines/s', spread: spread([Number(m[1]) * 1e6]), goal: { op: '>=', value: 1_000_000 } });
}

function timeCpu(fn: () => void): number {
  const a = cpuS();
  fn();
  return cpuS() - a;
}

function readAll(m: ProbeModules, chunks: string[], sink: Sink): void {
  const mappers = new Map<string, { handle(r: unknown): void }>();
  const parser = new m.ProbeLineParser();
  const splitter = new m.LineSplitter((line) => {
    const r = parser.parse(line) as { probe: string } | undefined;
    if (!r) return;
    let mp = mappers.get(r.probe);
    if (!mp) mappers.set(r.probe, (mp = new m.ProbeRecordMapper(sink, r.probe)));
    mp.handle(r);
  });
  for (const c of chunks) splitter.push(c);
  splitter.end();
}

function journalAll(lines: string[], path: string): void {
  const j = new Journal(path, 60_000);
  for (let i = 0; i < lines.length; i++) {
    j.sample({ metric: 'probe.packets', time: 1_767_268_800_000 + i, value: i, tags: { iface: 'lo', dir: 'egress' } });
    if ((i & 4095) === 4095) j.flush();
  }
  j.close();
}


export default suite;
