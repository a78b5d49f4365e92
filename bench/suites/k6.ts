// The k6 engine against plain k6: the same k6 binary and the same generated script, once as
// loadscope runs it (results by remote write to loadscope's receiver, trends as native histograms)
// and once with no output at all; plus plain k6 writing `--out json` (what the former engine made
// k6 do) and, in the full run, the engine with two k6 processes. Against one Debian nginx on
// loopback, interleaved (the order rotates every repetition), counted by nginx and /proc the same
// way for every tool. From the engine's own runs: its windows against k6's end-of-test summary.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateScript } from '../../src/load/k6/script.ts';
import { measureLoad, type LoadMeasurement, type LoadTool } from '../lib/measure.ts';
import { nginxBinary, startNginx } from '../lib/nginx.ts';
import { spread } from '../lib/stats.ts';
import { engineChild } from '../lib/tools.ts';
import type { BenchContext, ResultLine, Suite } from '../lib/types.ts';

const CONNECTIONS = 16;

const suite: Suite = {
  name: 'k6',
  description: 'the k6 engine (remote write) against plain k6, same binary and script (nginx on loopback)',
  quick: true,
  async run(ctx: BenchContext) {
    if (!nginxBinary()) return ctx.skip('all', 'nginx not installed (scripts/setup.sh installs nginx-light)');
    const k6 = join(ctx.root, '.tools/bin/k6');
    if (!existsSync(k6)) return ctx.skip('all', 'k6 binary missing (.tools/bin/k6; npm run setup builds it with Go)');
    const durationS = ctx.quick ? 4 : 8;
    const reps = ctx.quick ? 6 : 12;
    const nginx = await startNginx({ fileBytes: 1024 });
    try {
      const url = nginx.fileUrl;
      const spec = { engine: 'k6', url, connections: CONNECTIONS, durationMs: durationS * 1000 };
      const script = plainScript(ctx.tmp, url, durationS);
      const entries: { key: string; tool: LoadTool }[] = [
        { key: 'plain', tool: plainK6(k6, script, url, 'plain k6', []) },
        { key: 'ls', tool: engineChild(ctx.root, 'loadscope k6 engine', spec) },
        { key: 'json', tool: plainK6(k6, script, url, 'plain k6 --out json', ['--out', 'json=/dev/null']) },
      ];
      if (!ctx.quick) entries.push({ key: 'ls2', tool: { ...engineChild(ctx.root, 'loadscope k6 engine, 2 k6 processes', spec), env: { ...process.env, LOADSCOPE_K6_INSTANCES: '2' } } });
      ctx.log(`${entries.length} tools × ${reps} repetitions × ${durationS} s, ${CONNECTIONS} VUs, GET ${nginx.bytes} B static file`);

      const runs: Record<string, LoadMeasurement[]> = Object.fromEntries(entries.map((e) => [e.key, []]));
      const byRep: Record<string, LoadMeasurement>[] = [];
      for (let r = 0; r < reps; r++) {
        const rep: Record<string, LoadMeasurement> = {};
        for (const e of entries.map((_, i) => entries[(i + r) % entries.length])) {
          if (ctx.signal.aborted) return;
          const m = await measureLoad(nginx, e.tool, { durationMs: durationS * 1000, warmupMs: 1000 });
          runs[e.key].push(m);
          if (m.ok) rep[e.key] = m;
          ctx.log(`rep ${r + 1}/${reps} ${e.tool.name}: ${m.ok ? `${Math.round(m.rps)} req/s, ${m.cpuPer100k.toFixed(2)} CPU-s/100k, ${m.cores.toFixed(2)} cores` : `failed: ${m.error}`}`);
        }
        byRep.push(rep);
      }
      ctx.raw?.('runs', runs);

      ctx.conditions(`${CONNECTIONS} VUs (constant-vus, the script loadscope generates), ${durationS} s per run, keep-alive GET of a ${nginx.bytes} B static file from Debian nginx (1 worker, access log off) on 127.0.0.1; requests counted by nginx (stub_status), tool CPU from /proc utime+stime (all threads; for the engine its node process, the receiver in it, and the k6 child), both over the steady middle of each run (first 1 s and last 0.2 s cut); tools one at a time, order rotated every repetition`);
      const how = 'per run: requests nginx served per second / tool CPU-seconds per 100k of them';
      for (const e of entries) {
        const ok = runs[e.key].filter((m) => m.ok);
        if (ok.length === 0) {
          ctx.skip(e.tool.name, runs[e.key][0]?.error?.split('\n')[0] ?? 'no run');
          continue;
        }
        ctx.line({ name: `${e.tool.name}: throughput`, compared: how, unit: 'req/s', spread: spread(ok.map((m) => m.rps)) });
        ctx.line({ name: `${e.tool.name}: CPU per 100k req`, compared: how, unit: 'CPU-s', spread: spread(ok.map((m) => m.cpuPer100k)) });
      }
      const rps = (m: LoadMeasurement) => m.rps;
      const eff = (m: LoadMeasurement) => m.reqPerCpuS;
      const ratio = (a: string, b: string, f: (m: LoadMeasurement) => number, name: string, goal?: ResultLine['goal'], note?: string) => {
        if (!entries.some((e) => e.key === a)) return;
        const vals = byRep.filter((r) => r[a] && r[b]).map((r) => f(r[a]) / f(r[b]));
        if (vals.length === 0) return ctx.skip(name, 'no repetition where both ran');
        const label = (k: string) => entries.find((e) => e.key === k)!.tool.name;
        ctx.line({ name, compared: `paired per repetition: ${label(a)} ÷ ${label(b)}, ${f === rps ? 'nginx-served req/s' : 'requests served per CPU-second of the tool'}`, unit: '×', spread: spread(vals), ...(goal ? { goal } : {}), ...(note ? { note } : {}) });
      };
      ratio('ls', 'plain', rps, 'loadscope k6 ÷ plain k6: throughput', { op: '>=', value: 0.9 }, 'issue 17 goal');
      ratio('ls', 'plain', eff, 'loadscope k6 ÷ plain k6: req per CPU-s');
      ratio('json', 'plain', rps, 'plain k6 --out json ÷ plain k6: throughput', undefined, 'the output the former engine read (k6 side only: written to /dev/null)');
      ratio('json', 'plain', eff, 'plain k6 --out json ÷ plain k6: req per CPU-s');
      ratio('ls2', 'plain', rps, 'loadscope k6, 2 processes ÷ plain k6: throughput');

      // The engine's remote-write windows against k6's own end-of-test summary of the same run.
      for (const key of ['ls', 'ls2']) {
        const label = entries.find((e) => e.key === key)?.tool.name;
        const got = (runs[key] ?? []).filter((m) => m.ok).map(agreement).filter((x) => x !== undefined);
        if (!label || got.length === 0) continue;
        ctx.line({ name: `${label}: window count − k6 summary count`, compared: 'responses in the remote-write windows minus http_reqs count of k6\'s end-of-test summary (summed over processes); 0 = exact', unit: 'requests', spread: spread(got.map((g) => g.countDiff)) });
        if (key !== 'ls') continue;
        ctx.line({ name: `${label}: window p50 ÷ k6 summary med`, compared: 'p50 of the merged windows (native bucket upper bounds) ÷ k6\'s exact med; within one native bucket: 0.917 to 1.091', unit: '×', spread: spread(got.map((g) => g.p50)) });
        ctx.line({ name: `${label}: window p99 ÷ k6 summary p(99)`, compared: 'p99 of the merged windows ÷ k6\'s exact p(99); within one native bucket: 0.917 to 1.091', unit: '×', spread: spread(got.map((g) => g.p99)) });
      }
    } finally {
      await nginx.stop();
    }
  },
};

/** The script loadscope generates for this stage (one closed stage of CONNECTIONS VUs). */
function plainScript(tmp: string, url: string, durationS: number): string {
  const u = new URL(url);
  const gen = generateScript({
    baseUrl: u.origin,
    requests: [{ method: 'GET', path: u.pathname + u.search, headers: {}, weight: 1 }],
    stages: [{ name: 'bench', startMs: 0, durationMs: durationS * 1000, model: 'closed', connections: CONNECTIONS }],
    requestTimeoutMs: 10_000,
  });
  const path = join(tmp, 'k6-plain-script.js');
  writeFileSync(path, gen.source);
  return path;
}

/** k6 as the engine starts it, without the engine's outputs (plus `extra`). */
function plainK6(k6: string, script: string, url: string, name: string, extra: string[]): LoadTool {
  const origin = new URL(url).origin;
  return {
    name,
    cmd: k6,
    args: ['run', '--no-usage-report', '--quiet', '--address', '', '--log-format', 'json', ...extra, '-e', `LOADSCOPE_BASE_URL=${origin}`, '-e', `BASE_URL=${origin}`, script],
    env: { ...process.env, K6_NO_USAGE_REPORT: 'true' },
  };
}

type EngineResult = { responses: number; latencyUs: { p50: number; p99: number }; summary?: { extra?: { k6?: { summaries?: (Record<string, Record<string, number>> | null)[] } } } };

/** One engine run's windows against the k6 summaries it carries (engine summary extra.k6.summaries). */
function agreement(m: LoadMeasurement): { countDiff: number; p50: number; p99: number } | undefined {
  const r = (m.client as { result?: EngineResult }).result;
  const sums = r?.summary?.extra?.k6?.summaries;
  if (!r || !sums || sums.some((s) => !s)) return undefined;
  const count = sums.reduce((a, s) => a + (s!.http_reqs?.count ?? 0), 0);
  const one = sums.length === 1 ? sums[0]!.http_req_duration : undefined;
  return { countDiff: r.responses - count, p50: one ? r.latencyUs.p50 / 1000 / one.med : NaN, p99: one ? r.latencyUs.p99 / 1000 / one['p(99)'] : NaN };
}

export default suite;
