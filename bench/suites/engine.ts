// Load engine efficiency: wrk, the plain autocannon CLI and loadscope's engines against one Debian
// nginx on loopback, same connections and duration, interleaved (the order rotates every
// repetition), every figure counted by nginx and /proc the same way for every tool.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { measureLoad, type LoadMeasurement, type LoadTool } from '../lib/measure.ts';
import { startNginx, nginxBinary } from '../lib/nginx.ts';
import { spread } from '../lib/stats.ts';
import { autocannon, engineChild, wrk, wrkPath, wrkPipelined } from '../lib/tools.ts';
import type { BenchContext, ResultLine, Suite } from '../lib/types.ts';

const CONNECTIONS = 16;

interface Entry {
  key: string;
  tool: LoadTool;
  /** The lean engine (engines.ts `lean`, scenario `engine: lean`): its lines say so. */
  beyond?: string;
}

const suite: Suite = {
  name: 'engine',
  description: 'load engine efficiency vs wrk and the plain autocannon CLI (nginx on loopback)',
  quick: true,
  async run(ctx: BenchContext) {
    if (!nginxBinary()) return ctx.skip('all', 'nginx not installed (scripts/setup.sh installs nginx-light)');
    const durationS = ctx.quick ? 3 : 6;
    const reps = ctx.quick ? 3 : 5;
    const nginx = await startNginx({ fileBytes: 1024 });
    try {
      const url = nginx.fileUrl;
      const spec = (engine: string, options?: Record<string, unknown>) => ({ engine, url, connections: CONNECTIONS, durationMs: durationS * 1000, ...(options ? { options } : {}) });
      const entries: Entry[] = [];
      if (wrkPath()) entries.push({ key: 'wrk', tool: wrk(url, CONNECTIONS, durationS) });
      else ctx.skip('wrk', 'wrk not installed (scripts/setup.sh installs it)');
      entries.push({ key: 'ac', tool: autocannon(url, CONNECTIONS, durationS) });
      entries.push({ key: 'ls', tool: engineChild(ctx.root, 'loadscope autocannon engine', spec('autocannon')) });
      const k6 = k6Missing(ctx.root);
      if (k6) ctx.skip('loadscope k6 engine', k6);
      else entries.push({ key: 'k6', tool: engineChild(ctx.root, 'loadscope k6 engine', spec('k6')) });
      if (!ctx.quick) entries.push({ key: 'lean', tool: engineChild(ctx.root, 'loadscope lean engine', spec('lean')), beyond: 'src/load/lean/engine.ts, pipelining 1' });
      entries.push({ key: 'lean8', tool: engineChild(ctx.root, 'loadscope lean engine, pipelining 8', spec('lean', { pipelining: 8 })), beyond: 'src/load/lean/engine.ts, 8 requests in flight per connection' });
      if (!ctx.quick && wrkPath()) entries.push({ key: 'wrk8', tool: wrkPipelined(url, CONNECTIONS, durationS, 8, ctx.tmp) });
      ctx.log(`${entries.length} tools × ${reps} repetitions × ${durationS} s, ${CONNECTIONS} connections, GET ${nginx.bytes} B static file`);

      const runs: Record<string, LoadMeasurement[]> = Object.fromEntries(entries.map((e) => [e.key, []]));
      const byRep: Record<string, LoadMeasurement>[] = [];
      for (let r = 0; r < reps; r++) {
        const order = entries.map((_, i) => entries[(i + r) % entries.length]);
        const rep: Record<string, LoadMeasurement> = {};
        for (const e of order) {
          if (ctx.signal.aborted) return;
          const m = await measureLoad(nginx, e.tool, { durationMs: durationS * 1000 });
          runs[e.key].push(m);
          if (m.ok) rep[e.key] = m;
          ctx.log(`rep ${r + 1}/${reps} ${e.tool.name}: ${m.ok ? `${Math.round(m.rps)} req/s, ${m.cpuPer100k.toFixed(2)} CPU-s/100k, ${m.cores.toFixed(2)} cores` : `failed: ${m.error}`}`);
        }
        byRep.push(rep);
      }
      ctx.raw?.('runs', runs);

      ctx.conditions(`${CONNECTIONS} connections, ${durationS} s per run, keep-alive GET of a ${nginx.bytes} B static file from Debian nginx (1 worker, access log off) on 127.0.0.1; requests counted by nginx (stub_status), tool CPU from /proc utime+stime (all threads${k6 ? '' : ', k6 child included'}), both over the steady middle of each run (first 0.7 s and last 0.2 s cut); tools run one at a time, order rotated every repetition`);
      const how = 'per run: requests nginx served per second / tool CPU-seconds per 100k of them';
      for (const e of entries) {
        const ok = runs[e.key].filter((m) => m.ok);
        if (ok.length === 0) {
          ctx.skip(e.tool.name, runs[e.key][0]?.error?.split('\n')[0] ?? 'no run');
          continue;
        }
        const note = e.beyond ? `bench-only mode: ${e.beyond}` : undefined;
        ctx.line({ name: `${e.tool.name}: throughput`, compared: how, unit: 'req/s', spread: spread(ok.map((m) => m.rps)), ...(note ? { note } : {}) });
        ctx.line({ name: `${e.tool.name}: CPU per 100k req`, compared: how, unit: 'CPU-s', spread: spread(ok.map((m) => m.cpuPer100k)) });
      }
      const ratio = (a: string, b: string, f: (m: LoadMeasurement) => number, name: string, goal?: ResultLine['goal'], note?: string) => {
        const vals = byRep.filter((r) => r[a] && r[b]).map((r) => f(r[a]) / f(r[b]));
        if (!entries.some((e) => e.key === a) || !entries.some((e) => e.key === b)) return;
        if (vals.length === 0) return ctx.skip(name, `no repetition where both ran`);
        const label = (k: string) => entries.find((e) => e.key === k)!.tool.name;
        ctx.line({
          name,
          compared: `paired per repetition: ${label(a)} ÷ ${label(b)}, ${f === rps ? 'nginx-served req/s' : 'requests served per CPU-second of the tool'}`,
          unit: '×',
          spread: spread(vals),
          ...(goal ? { goal } : {}),
          ...(note ? { note } : {}),
        });
      };
      const rps = (m: LoadMeasurement) => m.rps;
      const eff = (m: LoadMeasurement) => m.reqPerCpuS;
      ratio('ls', 'ac', rps, 'loadscope autocannon ÷ autocannon CLI: throughput', { op: '>=', value: 0.95 }, 'issue 2 and 7 goal');
      ratio('ls', 'wrk', rps, 'loadscope autocannon ÷ wrk: throughput');
      ratio('ls', 'ac', eff, 'loadscope autocannon ÷ autocannon CLI: req per CPU-s');
      ratio('ls', 'wrk', eff, 'loadscope autocannon ÷ wrk: req per CPU-s');
      ratio('ac', 'wrk', eff, 'autocannon CLI ÷ wrk: req per CPU-s');
      ratio('k6', 'ac', rps, 'loadscope k6 ÷ autocannon CLI: throughput');
      ratio('k6', 'wrk', eff, 'loadscope k6 ÷ wrk: req per CPU-s');
      for (const e of entries.filter((x) => x.beyond)) {
        ratio(e.key, 'wrk', eff, `${e.tool.name} ÷ wrk: req per CPU-s`, { op: '>=', value: 0.8 }, 'issue 7 "go beyond" goal');
        ratio(e.key, 'ac', rps, `${e.tool.name} ÷ autocannon CLI: throughput`);
      }
      ratio('lean8', 'wrk8', eff, 'loadscope lean engine, pipelining 8 ÷ wrk, pipelining 8: req per CPU-s', undefined, 'like for like: both pipeline 8 requests per connection');
      // The engine's own count against nginx's: the figures above rely on them agreeing.
      const diffs = runs.ls.filter((m) => m.ok && m.client.requests !== undefined).map((m) => m.client.requests! - m.servedTotal);
      if (diffs.length) ctx.line({ name: 'loadscope autocannon: own response count − nginx served', compared: 'responses the engine recorded in its windows minus requests nginx counted during the run (0 = every response accounted for)', unit: 'requests', spread: spread(diffs) });
    } finally {
      await nginx.stop();
    }
  },
};

/** Why the k6 engine cannot run yet, or undefined when it can. */
export function k6Missing(root: string): string | undefined {
  if (!existsSync(join(root, '.tools/bin/k6'))) return 'k6 binary missing (.tools/bin/k6; npm run setup builds it with Go)';
  return undefined;
}

export default suite;
