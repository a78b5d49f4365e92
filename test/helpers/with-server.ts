// Shared test helpers: real HTTP servers on port 0 (closed after the test), real service processes
// (stopped after the test), a plain node:http client, and process checks through /proc.
import test, { type ExecutionContext } from 'ava';
import { readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { startBundledServices, startService } from '../../src/cluster/process.ts';
import type { BundledConfig, BundledServices, RunningService, ServiceSpec, StartServiceOptions } from '../../src/cluster/types.ts';

/** A listening test server; `close` also cuts open keep-alive connections. */
export interface TestServer {
  server: http.Server;
  host: string;
  port: number;
  url: string;
  close(): Promise<void>;
}

/** Starts `handler` on 127.0.0.1, port 0. */
export async function startServer(handler: http.RequestListener, host = '127.0.0.1'): Promise<TestServer> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    server,
    host,
    port,
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Starts a server closed when the test ends. */
export async function serverFor(t: ExecutionContext, handler: http.RequestListener): Promise<TestServer> {
  const s = await startServer(handler);
  t.teardown(() => s.close());
  return s;
}

/** ava macro: `test('x', withServer, handler, async (t, server) => {...})`; the server is closed after. */
export const withServer = test.macro<[http.RequestListener, (t: ExecutionContext, server: TestServer) => Promise<void>]>(async (t, handler, run) => {
  const s = await startServer(handler);
  try {
    await run(t, s);
  } finally {
    await s.close();
  }
});

// Each service start costs ~0.5 s of CPU (node + tsx). Starting dozens at once on a 2-core machine
// makes every one of them late, so a test worker starts at most STARTS_AT_ONCE processes at a time.
const STARTS_AT_ONCE = 2;
let starting = 0;
const waiting: (() => void)[] = [];

/** Runs `fn` (something that starts processes) when fewer than STARTS_AT_ONCE others are running. */
export async function limitStarts<T>(fn: () => Promise<T>): Promise<T> {
  while (starting >= STARTS_AT_ONCE) await new Promise<void>((resolve) => waiting.push(resolve));
  starting++;
  try {
    return await fn();
  } finally {
    starting--;
    waiting.shift()?.();
  }
}

/** Starts a bundled service process stopped when the test ends. */
export async function serviceFor(t: ExecutionContext, spec: ServiceSpec, opts: StartServiceOptions = {}): Promise<RunningService> {
  const svc = await limitStarts(() => startService(spec, opts));
  t.teardown(async () => {
    await svc.stop();
  });
  return svc;
}

/** Starts the bundled frontend + backend, stopped when the test ends. */
export async function bundleFor(t: ExecutionContext, config: BundledConfig, opts: StartServiceOptions = {}): Promise<BundledServices> {
  const pair = await limitStarts(() => startBundledServices(config, opts));
  t.teardown(() => pair.stop());
  return pair;
}

/** A completed response as the client saw it. */
export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** From sending the request to the last body byte, ms. */
  ms: number;
}

/** Options of `request`; `agent` defaults to node's global agent. */
export interface RequestOptions {
  method?: string;
  headers?: http.OutgoingHttpHeaders;
  body?: string | Buffer;
  agent?: http.Agent | false;
  timeoutMs?: number;
  /** Aborts the request (the client goes away). */
  signal?: AbortSignal;
}

/** One request with node:http; rejects on network errors, resolves for every HTTP status. */
export function request(url: string, opts: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: opts.agent, timeout: opts.timeoutMs ?? 10_000, signal: opts.signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), ms: performance.now() - t0 }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** True while `pid` exists and is not a zombie. */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Waits until `pid` is gone; returns how long that took (ms), or undefined after `timeoutMs`. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<number | undefined> {
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    if (!processAlive(pid)) return performance.now() - t0;
    await sleep(50);
  }
  return undefined;
}

/** Live processes whose environment holds `key=value` (how a janitor finds a run's orphans). */
export function pidsWithEnv(key: string, value: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const env = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (env.includes(`${key}=${value}`) && processAlive(Number(entry))) out.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}
