// Compare: `loadscope compare` of two synthetic 10-minute runs (test/helpers/synthetic-journal.ts:
// 600 windows, every signal, sampled packet records), each finished as a run finishes (results.json
// and windows.json written from its journal) — the command's wall time in a child process, and in
// this process the time to read both runs, to resample (every metric), and to render. Also the same
// read from the journals alone (a run without windows.json), interleaved with it.
import { renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { writeSyntheticJournal } from '../../test/helpers/synthetic-journal.ts';
import { readRun } from '../../src/verdict/compare-read.ts';
import { WINDOWS_FILE } from '../../src/analyze/windows.ts';
import { writeOutputs } from '../../src/run/run.ts';
import { compareRuns } from '../../src/verdict/compare.ts';
import { renderCompare } from '../../src/render/compare.ts';
import { collect, spawnTracked, waitExit } from '../lib/proc.ts';
import { spread } from '../lib/stats.ts';
import type { BenchContext, Suite } from '../lib/types.ts';

const suite: Suite = {
  name: 'compare',
  description: '`loadscope compare` of two synthetic 10-minute runs',
  quick: true,
  async run(ctx: BenchContext) {
    const reps = ctx.quick ? 3 : 7;
    const opts = { seconds: 600, packetRecords: 100_000, events: 100 };
    const a = join(ctx.tmp, 'compare-a');
    const b = join(ctx.tmp, 'compare-b');
    const ja = await writeSyntheticJournal(join(a, 'events.ndjson'), { ...opts, seed: 1 });
    await writeSyntheticJournal(join(b, 'events.ndjson'), { ...opts, seed: 2 });
    // as a run leaves its directory at its end (and `loadscope report` does)
    writeOutputs(a);
    writeOutputs(b);
    const windowsMb = statSync(join(a, WINDOWS_FILE)).size / 1e6;
    const what = `two synthetic 10-minute runs (${opts.seconds} windows, every signal, ${opts.packetRecords.toLocaleString('en')} sampled packet records; journals ${(ja.bytes / 1e6).toFixed(1)} MB, windows.json ${windowsMb.toFixed(2)} MB each)`;
    ctx.conditions(`${what}; default resamples and thresholds`);

    const wall: number[] = [];
    const read: number[] = [];
    const stats: number[] = [];
    const render: number[] = [];
    const fromJournal: number[] = [];
    let metrics = 0;
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      const child = spawnTracked(process.execPath, [join(ctx.root, 'bin', 'loadscope.js'), 'compare', a, b, '--out', join(ctx.tmp, `compare-out-${r}`)], { cwd: ctx.root });
      const io = collect(child);
      const code = await waitExit(child, 120_000);
      if (code !== 0 && code !== 99) return ctx.skip('compare of two 10-minute runs', `exited ${code}: ${io.stderr().trim().split('\n').slice(-2).join(' ')}`);
      wall.push(performance.now() - t0);

      const t1 = performance.now();
      const ra = readRun(a, 'baseline');
      const rb = readRun(b, 'candidate');
      const t2 = performance.now();
      if (ra.source !== 'windows.json' || rb.source !== 'windows.json') return ctx.skip('compare of two 10-minute runs', `read from ${ra.source} and ${rb.source}, not from windows.json`);
      const c = compareRuns(ra, rb);
      const t3 = performance.now();
      renderCompare(c.doc, c.timelines);
      const t4 = performance.now();
      read.push(t2 - t1);
      stats.push(t3 - t2);
      render.push(t4 - t3);
      metrics = c.doc.metrics.length;
      // the same two runs without windows.json: one streamed pass over each journal
      for (const d of [a, b]) renameSync(join(d, WINDOWS_FILE), join(d, `${WINDOWS_FILE}.aside`));
      try {
        const t5 = performance.now();
        readRun(a, 'baseline');
        readRun(b, 'candidate');
        fromJournal.push(performance.now() - t5);
      } finally {
        for (const d of [a, b]) renameSync(join(d, `${WINDOWS_FILE}.aside`), join(d, WINDOWS_FILE));
      }
      ctx.log(`rep ${r + 1}/${reps}: command ${wall[r].toFixed(0)} ms; in process: read ${read[r].toFixed(0)} ms (from the journals ${fromJournal[r].toFixed(0)} ms), statistics ${stats[r].toFixed(0)} ms (${metrics} metrics), render ${render[r].toFixed(0)} ms`);
    }
    const total = read.map((x, i) => x + stats[i] + render[i]);
    ctx.line({ name: 'compare: two 10-minute runs, in process', compared: `${what}: read both runs, resample every metric, render compare.html`, unit: 'ms', spread: spread(total), goal: { op: '<=', value: 1000 } });
    ctx.line({ name: 'compare: reading both runs', compared: `${what}: results.json and windows.json of each`, unit: 'ms', spread: spread(read) });
    ctx.line({ name: 'compare: reading both journals (runs without windows.json)', compared: `${what}: one streamed pass over each journal (results figures and per-window data), interleaved with the line above`, unit: 'ms', spread: spread(fromJournal) });
    ctx.line({ name: 'compare: statistics', compared: `${what}: ${metrics} metrics, paired block bootstrap`, unit: 'ms', spread: spread(stats) });
    ctx.line({ name: 'compare: the command', compared: `${what}: \`node bin/loadscope.js compare\` in a child process, start to exit (Node and TypeScript loading included)`, unit: 'ms', spread: spread(wall), goal: { op: '<=', value: 1000 } });
  },
};

export default suite;
