// Latency accuracy: a server that injects a known delay (2 ms ± 0.5 ms) and measures what it
// injected; each tool's p50/p99 minus the server's, in µs. Same connections and duration for all,
// interleaved. What is left over is the harness's own error (client + loopback + server parsing).
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoadTool } from '../lib/measure.ts';
import { collect, killGroup, spawnTracked, waitExit } from '../lib/proc.ts';
import { spread } from '../lib/stats.ts';
import { autocannon, engineChild, wrk, wrkPath } from '../lib/tools.ts';
import type { BenchContext, Suite } from '../lib/types.ts';
import { k6Missing } from './engine.ts';

const CONNECTIONS = 4;
/** The open-model comparison: loadscope and k6 at the same arrival rate against the same server. */
const OPEN_RATE = 1000;
const LS_OPEN = `loadscope autocannon engine, open ${OPEN_RATE}/s`;
const K6_OPEN = `loadscope k6 engine (k6 constant-arrival-rate), open ${OPEN_RATE}/s`;
const DELAY_US = 2000;
const JITTER_US = 500;

interface ServerStats {
  injected: { count: number; p50: number; p99: number };
}

const suite: Suite = {
  name: 'latency',
  description: `latency accuracy against a server injecting ${DELAY_US / 1000} ms ± ${JITTER_US / 1000} ms`,
  quick: true,
  async run(ctx: BenchContext) {
    const durationS = ctx.quick ? 2 : 4;
    const reps = ctx.quick ? 3 : 5;
    const server = spawnTracked(process.execPath, ['--import', 'tsx', join(ctx.root, 'bench', 'delay-server.ts'), JSON.stringify({ delayUs: DELAY_US, jitterUs: JITTER_US })], { cwd: ctx.root });
    const io = collect(server);
    try {
      const port = await waitPort(io.stdout, server, 15_000);
      const base = `http://127.0.0.1:${port}`;
      const url = `${base}/delay`;
      const spec = (engine: string, extra: Record<string, unknown> = {}) => ({ engine, url, connections: CONNECTIONS, durationMs: durationS * 1000, ...extra });
      const tools: LoadTool[] = [];
      if (wrkPath()) tools.push(wrk(url, CONNECTIONS, durationS));
      tools.push(autocannon(url, CONNECTIONS, durationS));
      tools.push(engineChild(ctx.root, 'loadscope autocannon engine', spec('autocannon')));
      tools.push(engineChild(ctx.root, 'loadscope autocannon engine, open 500/s', spec('autocannon', { rate: 500, connections: 16 })));
      if (!ctx.quick) tools.push(engineChild(ctx.root, 'loadscope lean engine', spec('lean')));
      tools.push(engineChild(ctx.root, LS_OPEN, spec('autocannon', { rate: OPEN_RATE, connections: 32 })));
      const k6 = k6Missing(ctx.root);
      if (k6) ctx.skip(`${K6_OPEN}: latency error`, k6);
      else tools.push(engineChild(ctx.root, K6_OPEN, spec('k6', { rate: OPEN_RATE, connections: 32 })));
      ctx.log(`${tools.length} tools × ${reps} repetitions × ${durationS} s, ${CONNECTIONS} connections (closed model unless said)`);
      const err: Record<string, { p50: number[]; p99: number[] }> = {};
      const injected: { p50: number[]; p99: number[] } = { p50: [], p99: [] };
      for (let r = 0; r < reps; r++) {
        for (let i = 0; i < tools.length; i++) {
          const t = tools[(i + r) % tools.length];
          await get(`${base}/__reset`);
          const child = spawnTracked(t.cmd, t.args, { cwd: t.cwd });
          const out = collect(child);
          const code = await waitExit(child, durationS * 1000 + 60_000);
          const stats = JSON.parse(await get(`${base}/__stats`)) as ServerStats;
          if (code !== 0) {
            ctx.log(`${t.name} failed: ${out.stderr().slice(-300)}`);
            continue;
          }
          const c = t.parse!(out.stdout());
          const e = (err[t.name] ??= { p50: [], p99: [] });
          e.p50.push(c.p50Us! - stats.injected.p50);
          e.p99.push(c.p99Us! - stats.injected.p99);
          injected.p50.push(stats.injected.p50);
          injected.p99.push(stats.injected.p99);
          ctx.log(`rep ${r + 1}/${reps} ${t.name}: client p50 ${c.p50Us} µs p99 ${c.p99Us} µs; server-injected p50 ${stats.injected.p50} µs p99 ${stats.injected.p99} µs (${stats.injected.count} requests)`);
        }
      }
      ctx.conditions(`${CONNECTIONS} connections (closed model unless said), ${durationS} s per run, a Node server (bench/delay-server.ts) delaying each response by ${DELAY_US} µs ± ${JITTER_US} µs (uniform) and measuring what it injected (hrtime, request event → res.end); tools interleaved, order rotated every repetition`);
      const how = 'client-reported percentile minus the same percentile of the server-measured injected delay, same run';
      ctx.line({ name: 'server-injected delay p50', compared: 'the delay the server measured it injected, over all runs (the reference)', unit: 'µs', spread: spread(injected.p50) });
      ctx.line({ name: 'server-injected delay p99', compared: 'the delay the server measured it injected, over all runs (the reference)', unit: 'µs', spread: spread(injected.p99) });
      for (const t of tools) {
        const e = err[t.name];
        if (!e) {
          ctx.skip(`${t.name}: latency error`, 'no successful run');
          continue;
        }
        const note = t.name.startsWith('autocannon') ? 'autocannon reports whole milliseconds: its error is ±1000 µs by resolution alone' : t.name === 'wrk' ? 'wrk prints 2 decimals (10 µs resolution at ms scale)' : t.name.includes('open') ? 'open model, 500 req/s over up to 16 connections: measured from the intended start (coordinated-omission corrected)' : undefined;
        ctx.line({ name: `${t.name}: p50 error`, compared: how, unit: 'µs', spread: spread(e.p50), ...(note ? { note } : {}) });
        ctx.line({ name: `${t.name}: p99 error`, compared: how, unit: 'µs', spread: spread(e.p99) });
      }
      const ls = err[LS_OPEN];
      const k = err[K6_OPEN];
      if (ls && k && ls.p50.length === k.p50.length) {
        const pairs = `paired per repetition: ${LS_OPEN} error ÷ ${K6_OPEN} error (same server, same rate, interleaved; ≤ 1 means loadscope's error is no worse than k6's)`;
        for (const q of ['p50', 'p99'] as const) {
          ctx.line({ name: `open ${OPEN_RATE}/s: loadscope ÷ k6 ${q} error`, compared: pairs, unit: '×', spread: spread(ls[q].map((v, i) => v / k[q][i])), goal: { op: '<=', value: 1 } });
        }
      }
    } finally {
      killGroup(server, 'SIGTERM');
      await waitExit(server, 5000);
    }
  },
};

async function waitPort(stdout: () => string, child: { exitCode: number | null }, ms: number): Promise<number> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const m = /"port":(\d+)/.exec(stdout());
    if (m) return Number(m[1]);
    if (child.exitCode !== null) break;
    await sleep(50);
  }
  throw new Error('delay server did not start');
}

async function get(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return res.text();
}

export default suite;
