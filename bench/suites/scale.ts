// Scale: the synthetic one-hour run (3,600 windows, 500 events) through buildResult and
// renderReport in a child process (time, peak RSS, file sizes), and a steady `loadscope run`
// against nginx whose RSS is sampled every second: the slope must not follow the request count.
import { mkdirSync, writeFileSync } from 'node:fs';
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
  const rows: Record<string, number>[] = [];
  for (let r = 0; r < reps; r++) {
    const dir = join(ctx.tmp, `hour-${r}`);
    mkdirSync(dir, { recursive: true });
    const child = spawnTracked(process.execPath, ['--import', 'tsx', join(ctx.root, 'bench', 'scale-child.ts'), JSON.stringify({ windows: 3600, events: 500, dir })], { cwd: ctx.root });
    const io = collect(child);
    const code = await waitExit(child, 300_000);
    if (code !== 0) return ctx.skip('synthetic one-hour run', `failed: ${io.stderr().trim().split('\n').slice(-3).join(' ')}`);
    const row = JSON.parse(io.stdout().trim().split('\n').pop()!) as Record<string, number>;
    rows.push(row);
    ctx.log(`rep ${r + 1}/${reps}: read ${row.readMs.toFixed(0)} ms, buildResult ${row.buildMs.toFixed(0)} ms, renderReport ${row.renderMs.toFixed(0)} ms, peak RSS ${(row.peakRssBytes / MiB).toFixed(0)} MiB`);
  }
  const what = 'synthetic journal of 3,600 1 s windows (http.reqs, http.bytes, http.latency_us with 200 values, some http.errors) and 500 events (bench/lib/synthetic.ts), in a child process';
  const col = (k: string, div = 1) => spread(rows.map((x) => x[k] / div));
  ctx.line({ name: 'one-hour run: buildResult', compared: `${what}: src/correlate/results.ts buildResult wall time`, unit: 'ms', spread: col('buildMs') });
  ctx.line({ name: 'one-hour run: renderReport', compared: `${what}: src/report/render.ts renderReport wall time`, unit: 'ms', spread: col('renderMs') });
  ctx.line({ name: 'one-hour run: read + build + render', compared: `${what}: journal read and parse, buildResult and renderReport`, unit: 'ms', spread: col('totalMs') });
  ctx.line({ name: 'one-hour run: peak RSS', compared: `${what}: VmHWM of the child (node + tsx baseline ≈ ${(rows[0].rssBeforeBytes / MiB).toFixed(0)} MiB before reading)`, unit: 'MiB', spread: col('peakRssBytes', MiB) });
  ctx.line({ name: 'one-hour run: report.html size', compared: `${what}: the rendered report`, unit: 'KiB', spread: col('reportBytes', 1024) });
  ctx.line({ name: 'one-hour run: results.json size', compared: `${what}: results.json as written (pretty-printed)`, unit: 'KiB', spread: col('resultsBytes', 1024) });
  ctx.line({ name: 'one-hour run: journal size', compared: `${what}: events.ndjson`, unit: 'KiB', spread: col('journalBytes', 1024) });
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
