// Scale: `loadscope report` on a synthetic one-hour journal (bench/report-scale.ts, test/helpers/synthetic-journal.ts: 3,600 windows,
// every series, 1M sampled packet records, 500 events) in a child process (time, peak RSS, file sizes,
// Chromium open time), and a steady `loadscope run`
// against nginx whose RSS is sampled every second: the slope must not follow the request count.
import { rmSync, writeFileSync } from 'node:fs';
import { measureReportScale, type ReportScaleFigures } from '../report-scale.ts';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { nginxBinary, startNginx } from '../lib/nginx.ts';
import { collect, memory, spawnTracked, waitExit } from '../lib/proc.ts';
import { slope, spread } from '../lib/stats.ts';
import type { BenchContext, Suite } from '../lib/types.ts';

const MiB = 2 ** 20;

const suite: Suite = {
  name: 'scale',
  description: 'synthetic one-hour report (time, RSS, size) and a steady run’s RSS slope',
  quick: true,
  async run(ctx: BenchContext) {
    await syntheticHour(ctx);
    await steadyRss(ctx);
  },
};

async function syntheticHour(ctx: BenchContext): Promise<void> {
  const reps = ctx.quick ? 1 : 2;
  const rows: ReportScaleFigures[] = [];
  for (let r = 0; r < reps; r++) {
    const dir = join(ctx.tmp, `hour-${r}`);
    try {
      const f = await measureReportScale({ dir, log: (s) => ctx.log(s) });
      rows.push(f);
      ctx.log(
        `rep ${r + 1}/${reps}: loadscope report ${f.totalMs.toFixed(0)} ms (${f.cpuMs.toFixed(0)} ms CPU), peak RSS ${(f.peakRssBytes / MiB).toFixed(0)} MiB, ` +
          `HTML ${(f.htmlBytes / 1e6).toFixed(2)} MB, Chromium ${f.browserOpenMs === null ? `not measured (${f.browserNote})` : `${f.browserOpenMs.toFixed(0)} ms`}`,
      );
    } catch (e) {
      return ctx.skip('synthetic one-hour report', `failed: ${(e as Error).message.split('\n')[0]}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const f0 = rows[0];
  const what = `synthetic one-hour journal (bench/report-scale.ts: ${f0.seconds} windows, every series the report draws, ${f0.packetRecords.toLocaleString('en')} sampled packet records, ${f0.events} events; ${(f0.journalBytes / 1e6).toFixed(0)} MB)`;
  const col = (k: keyof ReportScaleFigures, div = 1) => spread(rows.map((x) => Number(x[k]) / div));
  ctx.line({ name: 'one-hour report: loadscope report wall time', compared: `${what}: journal → results.json + report.html in a child process (streamed read in one thread, correlate, render, write)`, unit: 'ms', spread: col('totalMs'), goal: { op: '<=', value: 3000 } });
  ctx.line({ name: 'one-hour report: CPU time', compared: `${what}: user + system CPU of that child`, unit: 'ms', spread: col('cpuMs') });
  ctx.line({ name: 'one-hour report: peak RSS', compared: `${what}: VmHWM of that child`, unit: 'MB', spread: col('peakRssBytes', 1e6), goal: { op: '<=', value: 300 } });
  ctx.line({ name: 'one-hour report: report.html size', compared: `${what}: the rendered report`, unit: 'MB', spread: col('htmlBytes', 1e6), goal: { op: '<=', value: 5 } });
  ctx.line({ name: 'one-hour report: results.json size', compared: `${what}: results.json as written (pretty-printed)`, unit: 'MB', spread: col('resultsBytes', 1e6) });
  ctx.line({ name: 'one-hour report: render only', compared: `${what}: results.json → report.html in its own process`, unit: 'ms', spread: col('renderOnlyMs') });
  const opened = rows.filter((x) => x.browserOpenMs !== null);
  if (opened.length) ctx.line({ name: 'one-hour report: Chromium open', compared: `${what}: headless Chromium (puppeteer-core, /usr/bin/chromium), navigation → every chart drawn (${opened[0].charts} charts)`, unit: 'ms', spread: spread(opened.map((x) => x.browserOpenMs!)), goal: { op: '<=', value: 2000 } });
  else ctx.skip('one-hour report: Chromium open', rows[0].browserNote ?? 'browser did not run');
}

async function steadyRss(ctx: BenchContext): Promise<void> {
  if (!nginxBinary()) return ctx.skip('steady run RSS slope', 'nginx not installed');
  const durationS = ctx.quick ? 25 : 600;
  const rate = 2000;
  const nginx = await startNginx();
  try {
    const file = join(ctx.tmp, 'steady.yaml');
    writeFileSync(
      file,
      `name: bench-steady
description: steady open-model load on the bench's nginx (bench/suites/scale.ts)
engine: autocannon
target:
  url: ${nginx.url}
requests:
  - { name: static, method: GET, path: /index.html }
stages:
  - { name: steady, duration: ${durationS}s, rate: ${rate} }
probes: off
`,
    );
    const out = join(ctx.tmp, 'steady-run');
    const child = spawnTracked(process.execPath, [join(ctx.root, 'bin', 'loadscope.js'), 'run', file, '--out', out], { cwd: ctx.root });
    const io = collect(child);
    const t0 = performance.now();
    const served0 = await nginx.served();
    const xs: number[] = [];
    const ys: number[] = [];
    const reqs: number[] = [];
    let exited = false;
    const done = waitExit(child, durationS * 1000 + 120_000).then((c) => ((exited = true), c));
    while (!exited) {
      const m = memory(child.pid!);
      const served = (await nginx.served()) - served0;
      if (m && served > 0) {
        xs.push((performance.now() - t0) / 1000);
        ys.push(m.rss);
        reqs.push(served);
      }
      await Promise.race([sleep(1000), done]);
    }
    const code = await done;
    if (code !== 0 && code !== 99) return ctx.skip('steady run RSS slope', `loadscope run exited ${code}: ${io.stderr().trim().split('\n').slice(-3).join(' ')}`);
    // Drop the first 20% (JIT, pools, first windows) and the last samples (results and report).
    const keep = xs.map((_, i) => i).filter((i) => xs[i] >= xs[0] + 0.2 * durationS && xs[i] <= xs[0] + durationS);
    const kx = keep.map((i) => xs[i]);
    const ky = keep.map((i) => ys[i] / 1024);
    const kr = keep.map((i) => reqs[i] / 1e5);
    const perMin = slope(kx, ky) * 60;
    const per100k = slope(kr, ky);
    const served = reqs.at(-1) ?? 0;
    ctx.raw?.('steadyRss', { t: xs, rss: ys, served: reqs });
    const what = `\`loadscope run\` (autocannon engine, open model ${rate} req/s, ${durationS} s, probes off) against the bench's nginx; RSS of the loadscope process (VmRSS) sampled every 1 s, least-squares slope over ${keep.length} samples after the first 20%; ${served.toLocaleString('en-US')} requests served`;
    ctx.line({ name: 'steady run: RSS slope per minute', compared: what, unit: 'KiB/min', spread: spread([perMin]), note: 'flat ≈ 0; one run' });
    ctx.line({ name: 'steady run: RSS growth per 100k requests', compared: what, unit: 'KiB', spread: spread([per100k]), note: 'the journal grows ~0.5 KiB per second of run, not per request' });
    ctx.line({ name: 'steady run: peak RSS', compared: what, unit: 'MiB', spread: spread([Math.max(...ys) / MiB]) });
  } finally {
    await nginx.stop();
  }
}

export default suite;
