// Latency accuracy: a server that injects a known delay (2 ms ± 0.5 ms) and measures what it
// injected; each tool's p50/p99 minus the server's, in µs. Same connections and duration for all,
// interleaved. What is left over is the harness's own error (client + loopback + server parsing).
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
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
const LS_OPEN = `loadscope run (whole harness, default engine: lean), open ${OPEN_RATE}/s`;
const LS_LIVE = `loadscope run --live with a page open, open ${OPEN_RATE}/s`;
const LS_AC = `loadscope run (whole harness, engine autocannon), open ${OPEN_RATE}/s`;
const K6_OPEN = `plain k6 (constant-arrival-rate), open ${OPEN_RATE}/s`;
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
    LIVE_PORT = await freePort();
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
      const openS = ctx.quick ? 5 : 8;
      tools.push(loadscopeRun(ctx, LS_OPEN, url, openS, false));
      tools.push(loadscopeRun(ctx, LS_LIVE, url, openS, true));
      tools.push(loadscopeRun(ctx, LS_AC, url, openS, false, 'autocannon'));
      const k6 = k6Missing(ctx.root);
      if (k6) ctx.skip(`${K6_OPEN}: latency error`, k6);
      else tools.push(plainK6(ctx, url, openS));
      ctx.log(`${tools.length} tools × ${reps} repetitions × ${durationS} s, ${CONNECTIONS} connections (closed model unless said)`);
      const err: Record<string, { p50: number[]; p99: number[] }> = {};
      const injected: { p50: number[]; p99: number[] } = { p50: [], p99: [] };
      for (let r = 0; r < reps; r++) {
        for (let i = 0; i < tools.length; i++) {
          const t = tools[(i + r) % tools.length];
          await get(`${base}/__reset`);
          const child = spawnTracked(t.cmd, t.args, { cwd: t.cwd });
          const out = collect(child);
          const page = (t as OpenTool).live ? openPage((t as OpenTool).live!, durationS * 1000 + 60_000) : undefined;
          const code = await waitExit(child, durationS * 1000 + 60_000);
          const events = await page;
          if (page) ctx.log(`${t.name}: the page received ${events} live update(s)`);
          const stats = JSON.parse(await get(`${base}/__stats`)) as ServerStats;
          if (code !== 0) {
            ctx.log(`${t.name} failed: ${out.stderr().slice(-300)}`);
            continue;
          }
          const c = t.parse!(out.stdout());
          const e = (err[t.name] ??= { p50: [], p99: [] });
          e.p50.push(c.p50Us! - stats.injected.p50);
          const svc = c as { serviceP50Us?: number; serviceP99Us?: number };
          if (svc.serviceP50Us !== undefined && svc.serviceP99Us !== undefined) {
            const es = (err[`${t.name} [from the actual send]`] ??= { p50: [], p99: [] });
            es.p50.push(svc.serviceP50Us - stats.injected.p50);
            es.p99.push(svc.serviceP99Us - stats.injected.p99);
          }
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
      for (const [name, e] of Object.entries(err)) {
        if (!name.endsWith('[from the actual send]')) continue;
        const basis = 'as above, but loadscope\'s latency from the actual send (results.json http.serviceTimeMs), the basis k6 reports: without the client\'s own lateness in sending';
        ctx.line({ name: `${name}: p50 error`, compared: basis, unit: 'µs', spread: spread(e.p50) });
        ctx.line({ name: `${name}: p99 error`, compared: basis, unit: 'µs', spread: spread(e.p99) });
      }
      const k = err[K6_OPEN];
      for (const [tool, label] of [[LS_OPEN, ''], [LS_AC, ', engine autocannon']] as const) {
        const ls = err[tool];
        if (!ls || !k || ls.p50.length !== k.p50.length) continue;
        const pairs = `paired per repetition: ${tool} error ÷ ${K6_OPEN} error (same server, same rate, interleaved; ≤ 1 means loadscope's error is no worse than k6's)`;
        for (const q of ['p50', 'p99'] as const) {
          ctx.line({ name: `open ${OPEN_RATE}/s${label}: loadscope ÷ k6 ${q} error`, compared: pairs, unit: '×', spread: spread(ls[q].map((v, i) => v / k[q][i])), ...(tool === LS_OPEN ? { goal: { op: '<=' as const, value: 1 } } : {}) });
        }
        const sv = err[`${tool} [from the actual send]`];
        if (sv && sv.p50.length === k.p50.length) {
          for (const q of ['p50', 'p99'] as const) {
            ctx.line({ name: `open ${OPEN_RATE}/s${label}: loadscope ÷ k6 ${q} error, both from the actual send`, compared: `${pairs}; loadscope's latency from the actual send (k6's basis), not from the intended start`, unit: '×', spread: spread(sv[q].map((v, i) => v / k[q][i])) });
          }
        }
      }
      const ls = err[LS_OPEN];
      const lv = err[LS_LIVE];
      if (ls && lv && ls.p99.length === lv.p99.length) {
        ctx.line({
          name: `open ${OPEN_RATE}/s: --live (page open) − no live, p99 error`,
          compared: `paired per repetition: ${LS_LIVE} p99 error minus ${LS_OPEN} p99 error (interleaved; live updates must not move the latency of the run: ≈ 0 within the run-to-run spread)`,
          unit: 'µs',
          spread: spread(lv.p99.map((v, i) => v - ls.p99[i])),
        });
      }
    } finally {
      killGroup(server, 'SIGTERM');
      await waitExit(server, 5000);
    }
  },
};

/** A tool of the open-model comparison; `live` is the port of the live view a page should watch. */
interface OpenTool extends LoadTool {
  live?: number;
}

/**
 * The whole harness as a user runs it: `loadscope run` of a one-stage open-model scenario aimed at
 * the delay server (default engine, probes as by default), latency read from its results.json.
 */
function loadscopeRun(ctx: BenchContext, name: string, url: string, seconds: number, live: boolean, engine?: string): OpenTool {
  const slug = live ? 'live' : engine ?? 'plain';
  const file = join(ctx.tmp, `open-${slug}.yaml`);
  writeFileSync(
    file,
    [
      `name: bench-open-${slug}`,
      ...(engine ? [`engine: ${engine}`] : []),
      `target: { url: "${new URL(url).origin}" }`,
      'requests:',
      `  - { method: GET, path: ${new URL(url).pathname} }`,
      'stages:',
      `  - { name: open, duration: ${seconds}s, rate: ${OPEN_RATE} }`,
      '',
    ].join('\n'),
  );
  // a fresh run directory each time (a run refuses one that has a journal), no history record
  const script = `d=$(mktemp -d -p "$1"); echo "rundir=$d/run"; exec "$2" "$3" run "$4" --out "$d/run" --no-history "\${@:5}"`;
  const tool: OpenTool = {
    name,
    cmd: 'bash',
    args: ['-c', script, 'loadscope-run', ctx.tmp, process.execPath, join(ctx.root, 'bin', 'loadscope.js'), file],
    cwd: ctx.root,
    parse: (stdout: string) => {
      const dir = /^rundir=(.*)$/m.exec(stdout)?.[1];
      if (!dir) throw new Error('no run directory');
      type Q = { p50: number; p99: number };
      const r = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as { http: { latencyMs: Q | null; serviceTimeMs?: Q } };
      if (!r.http.latencyMs) throw new Error('no latency in results.json');
      const s = r.http.serviceTimeMs;
      return { p50Us: r.http.latencyMs.p50 * 1000, p99Us: r.http.latencyMs.p99 * 1000, ...(s ? { serviceP50Us: s.p50 * 1000, serviceP99Us: s.p99 * 1000 } : {}) };
    },
  };
  if (live) {
    tool.live = LIVE_PORT;
    tool.args.push('--live', '--live-port', String(LIVE_PORT));
  }
  return tool;
}

/** A port for the live view, chosen once (free when the suite starts). */
let LIVE_PORT = 0;
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** A page of the live view: reads its server-sent events until the run ends; resolves with how many updates came. */
async function openPage(port: number, ms: number): Promise<number> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/events`, { signal: AbortSignal.timeout(Math.max(1, end - Date.now())) });
      let updates = 0;
      const dec = new TextDecoder();
      for await (const chunk of res.body!) {
        updates += dec.decode(chunk as Uint8Array).split('event: update').length - 1;
      }
      return updates;
    } catch {
      await sleep(100);
    }
  }
  return 0;
}

/** k6 itself, the binary loadscope builds, at the same arrival rate; its own end-of-test summary. */
function plainK6(ctx: BenchContext, url: string, seconds: number): OpenTool {
  const file = join(ctx.tmp, 'k6-open.js');
  writeFileSync(
    file,
    `import http from 'k6/http';
export const options = { discardResponseBodies: true, summaryTrendStats: ['p(50)', 'p(99)'],
  scenarios: { open: { executor: 'constant-arrival-rate', rate: ${OPEN_RATE}, timeUnit: '1s', duration: '${seconds}s', preAllocatedVUs: 32, maxVUs: 64 } } };
export default function () { http.get('${url}'); }
export function handleSummary(d) { const v = d.metrics.http_req_duration.values; return { stdout: JSON.stringify({ p50Us: v['p(50)'] * 1000, p99Us: v['p(99)'] * 1000 }) + '\\n' }; }
`,
  );
  return {
    name: K6_OPEN,
    cmd: join(ctx.root, '.tools', 'bin', 'k6'),
    args: ['run', '-q', '--no-usage-report', file],
    cwd: ctx.root,
    parse: (text: string) => JSON.parse(text.trim().split('\n').pop()!) as { p50Us: number; p99Us: number },
  };
}

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
