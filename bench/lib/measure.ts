// Runs one load tool as a child process against the bench's nginx and measures it the same way for
// every tool: nginx's stub_status counts the requests, /proc counts the tool's CPU, both polled
// every 100 ms; the figures come from the steady middle of the run (start-up and ramp-down cut off).
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Nginx } from './nginx.ts';
import { collect, killGroup, memory, spawnTracked, treeCpuSeconds, waitExit } from './proc.ts';

/** What the tool itself reported (its own count and latency), parsed from its output. */
export interface ClientReport {
  requests?: number;
  rps?: number;
  p50Us?: number;
  p99Us?: number;
  errors?: number;
}

/** A load tool invocation. `children`: count the CPU of its descendants too (k6 under the engine). */
export interface LoadTool {
  name: string;
  cmd: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  children?: boolean;
  parse?(stdout: string): ClientReport;
}

export interface LoadMeasurement {
  tool: string;
  ok: boolean;
  error?: string;
  /** Requests nginx served per second over the steady window. */
  rps: number;
  /** Tool CPU seconds (user+system, all threads) per 100k requests served, over the steady window. */
  cpuPer100k: number;
  /** Requests served per CPU-second of the tool. */
  reqPerCpuS: number;
  /** CPU cores the tool used on average in the window. */
  cores: number;
  windowS: number;
  windowRequests: number;
  /** nginx-served requests over the whole run, and what the tool reported. */
  servedTotal: number;
  client: ClientReport;
  peakRssBytes: number;
  wallS: number;
}

interface Poll {
  t: number;
  served: number;
  cpu: number;
}

export interface MeasureOptions {
  /** The tool's own load duration (it is expected to stop by itself). */
  durationMs: number;
  /** Cut from the start and end of the active period. */
  warmupMs?: number;
  tailMs?: number;
  pollMs?: number;
}

export async function measureLoad(nginx: Nginx, tool: LoadTool, opts: MeasureOptions): Promise<LoadMeasurement> {
  const pollMs = opts.pollMs ?? 100;
  const warmupMs = opts.warmupMs ?? 700;
  const tailMs = opts.tailMs ?? 200;
  const began = performance.now();
  const child = spawnTracked(tool.cmd, tool.args, { cwd: tool.cwd, env: tool.env ?? process.env });
  const io = collect(child);
  const exited = waitExit(child, opts.durationMs + 60_000);
  let done = false;
  void exited.then(() => (done = true));
  const polls: Poll[] = [];
  let peakRss = 0;
  while (!done) {
    const served = await nginx.served();
    const cpu = treeCpuSeconds(child.pid!, tool.children ?? false);
    const mem = memory(child.pid!);
    if (mem) peakRss = Math.max(peakRss, mem.hwm);
    if (cpu !== undefined && !done) polls.push({ t: performance.now(), served, cpu });
    await Promise.race([sleep(pollMs), exited]);
  }
  const code = await exited;
  const servedEnd = await nginx.served();
  const wallS = (performance.now() - began) / 1000;
  const base: LoadMeasurement = {
    tool: tool.name,
    ok: false,
    rps: NaN,
    cpuPer100k: NaN,
    reqPerCpuS: NaN,
    cores: NaN,
    windowS: 0,
    windowRequests: 0,
    servedTotal: polls.length ? servedEnd - polls[0].served : 0,
    client: {},
    peakRssBytes: peakRss,
    wallS,
  };
  try {
    base.client = tool.parse?.(io.stdout()) ?? {};
  } catch (e) {
    base.error = `could not parse ${tool.name} output: ${(e as Error).message}`;
  }
  if (code !== 0) return { ...base, error: `${tool.name} exited ${code}: ${io.stderr().trim().slice(-600)}` };
  const w = steadyWindow(polls, warmupMs, tailMs);
  if (!w) return { ...base, error: base.error ?? `${tool.name}: no steady load seen by nginx (${polls.length} polls)` };
  const [a, b] = w;
  const windowS = (b.t - a.t) / 1000;
  const reqs = b.served - a.served;
  const cpu = b.cpu - a.cpu;
  return {
    ...base,
    ok: true,
    rps: reqs / windowS,
    cpuPer100k: (cpu / reqs) * 1e5,
    reqPerCpuS: reqs / cpu,
    cores: cpu / windowS,
    windowS,
    windowRequests: reqs,
  };
}

/** The polls that bracket the steady part of the active period (nginx counting). */
function steadyWindow(polls: Poll[], warmupMs: number, tailMs: number): [Poll, Poll] | undefined {
  if (polls.length < 3) return undefined;
  const active = (i: number) => polls[i].served - polls[i - 1].served > 2;
  let first = -1;
  let last = -1;
  for (let i = 1; i < polls.length; i++) {
    if (active(i)) {
      if (first < 0) first = i - 1;
      last = i;
    }
  }
  if (first < 0 || last - first < 2) return undefined;
  let s = first;
  while (s < last && polls[s].t - polls[first].t < warmupMs) s++;
  let e = last;
  while (e > s && polls[last].t - polls[e].t < tailMs) e--;
  if (e - s < 2) return [polls[first], polls[last]];
  return [polls[s], polls[e]];
}

/** Stops a tool early (Ctrl-C path). */
export { killGroup };
