import { spawn } from 'node:child_process';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { existsSync, readdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { LoadscopeError } from '../core/errors.ts';
import { parseProm, sumMetric } from './prom.ts';
import type { BundledConfig, BundledServices, PromSample, RunningService, ServiceExit, ServiceSpec, StartServiceOptions } from './types.ts';

// Runs the bundled services (src/services/main.ts) as local child processes.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../services/main.ts', import.meta.url));
const STDERR_LINES = 20;
const KILL_MARGIN_MS = 2000;

/** The full command line that runs `spec`, after the optional prefix (`ip netns exec ns1`). */
export function serviceCommandLine(spec: ServiceSpec, prefix: string[] = []): string[] {
  const args = ['--role', spec.role, '--name', spec.name, '--host', spec.host ?? '127.0.0.1', '--port', String(spec.port ?? 0)];
  if (spec.role === 'backend') {
    if (spec.config) args.push('--config', JSON.stringify(spec.config));
    if (spec.cpuClock) args.push('--cpu-clock', spec.cpuClock);
    if (spec.rateLimit) args.push('--rate-limit-rps', String(spec.rateLimit.requestsPerSecond));
    if (spec.rateLimit?.burst !== undefined) args.push('--rate-limit-burst', String(spec.rateLimit.burst));
    if (spec.maxRequestsPerSocket !== undefined) args.push('--max-requests-per-socket', String(spec.maxRequestsPerSocket));
  } else {
    if (spec.backends) args.push('--backends', spec.backends.join(','));
    else args.push('--backend', spec.backend ?? '');
    if (spec.maxSockets !== undefined) args.push('--max-sockets', String(spec.maxSockets));
    if (spec.upstreamTimeoutMs !== undefined) args.push('--upstream-timeout-ms', String(spec.upstreamTimeoutMs));
  }
  if (spec.drainTimeoutMs !== undefined) args.push('--drain-timeout-ms', String(spec.drainTimeoutMs));
  if (spec.drainDelayMs !== undefined) args.push('--drain-delay-ms', String(spec.drainDelayMs));
  if (spec.metricsAtExit !== undefined) args.push('--metrics-at-exit', spec.metricsAtExit);
  if (spec.controlFrom?.length) args.push('--control-from', spec.controlFrom.join(','));
  args.push('--exit-on-stdin-close', ...(spec.extraArgs ?? []));
  return [...prefix, process.execPath, ...serviceEntry(), ...args];
}

const SOURCES = dirname(MAIN);
const BUNDLE = join(SOURCES, '.build', 'main.mjs');
let entry: string[] | undefined;

/**
 * How to start the services: a plain-JavaScript bundle of src/services (rebuilt here with
 * esbuild whenever a source is newer), so a pod starts in ~0.1 s of CPU instead of ~0.7 s of tsx
 * transpiling — on a small machine that is the latency spike every scale-up would cause.
 */
export function serviceEntry(): string[] {
  if (entry) return entry;
  try {
    const newest = Math.max(...readdirSync(SOURCES).filter((f) => f.endsWith('.ts')).map((f) => statSync(join(SOURCES, f)).mtimeMs));
    if (!existsSync(BUNDLE) || statSync(BUNDLE).mtimeMs < newest) {
      const tmp = `${BUNDLE}.${process.pid}.tmp`;
      buildSync({ entryPoints: [MAIN], outfile: tmp, bundle: true, platform: 'node', format: 'esm', target: 'node20', logLevel: 'silent' });
      renameSync(tmp, BUNDLE);
    }
    entry = [BUNDLE];
  } catch {
    entry = ['--import', 'tsx', MAIN];
  }
  return entry;
}

/** Why a start failed; becomes a SERVICE_START error once the process is gone and stderr read. */
class StartFailure {
  constructor(
    readonly why: string,
    readonly cause?: unknown,
  ) {}
}

interface HttpResult {
  status: number;
  body: string;
}

/** One GET on a fresh connection (no pooled sockets left behind to hold a drain up). */
function httpGet(url: string, timeoutMs: number): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs, headers: { connection: 'close' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

function describeExit(e: ServiceExit): string {
  return e.signal ? `killed by ${e.signal}` : `exit code ${e.exitCode}`;
}

function urlOf(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

interface ReadyLine {
  ready: true;
  name: string;
  role: string;
  host: string;
  port: number;
  pid: number;
}

function parseReady(line: string): ReadyLine | undefined {
  try {
    const r = JSON.parse(line) as Partial<ReadyLine>;
    const ok = r.ready === true && typeof r.host === 'string' && Number.isInteger(r.port) && Number.isInteger(r.pid);
    return ok ? (r as ReadyLine) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts one service process and resolves once it printed its ready line and /healthz answered 200.
 * Rejects with LoadscopeError('SERVICE_START') carrying the last stderr lines when the process exits,
 * cannot be spawned or is not ready in time (the process is killed first), or with the abort reason.
 */
export async function startService(spec: ServiceSpec, opts: StartServiceOptions = {}): Promise<RunningService> {
  opts.signal?.throwIfAborted();
  const argv = serviceCommandLine(spec, opts.command);
  const readyTimeoutMs = opts.readyTimeoutMs ?? 15_000;
  const child = spawn(argv[0], argv.slice(1), {
    cwd: ROOT,
    env: { ...process.env, ...opts.env, LOADSCOPE_SERVICE: spec.name },
    stdio: ['pipe', 'pipe', 'pipe'],
    // Own process group: a terminal's Ctrl-C reaches the harness only, which then stops the
    // services itself after reading their counters. They still exit when the harness dies (stdin).
    detached: true,
  });
  const tail: string[] = [];
  createInterface({ input: child.stderr }).on('line', (line) => {
    tail.push(line);
    if (tail.length > STDERR_LINES) tail.shift();
  });
  const stderrClosed = new Promise<void>((resolve) => child.stderr.once('close', () => resolve()));
  const exited = new Promise<ServiceExit>((resolve) => child.once('exit', (exitCode, signal) => resolve({ exitCode, signal })));
  const firstLine = new Promise<string>((resolve) => createInterface({ input: child.stdout }).once('line', resolve));
  child.stdin.on('error', () => {});

  const startError = (why: string, cause?: unknown) =>
    new LoadscopeError('SERVICE_START', `${spec.role} "${spec.name}" did not start: ${why}${tail.length ? `\nlast stderr lines:\n  ${tail.join('\n  ')}` : ''}`, {
      cause,
      hint: `run it by hand to see why: ${argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ')}`,
    });

  const starting = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const failure = new Promise<never>((_, reject) => {
    child.once('error', (err) => reject(new StartFailure(`cannot run ${argv[0]}: ${err.message}`, err)));
    void exited.then((e) => reject(new StartFailure(`${describeExit(e)} before it was ready`)));
    timer = setTimeout(() => reject(new StartFailure(`not ready within ${readyTimeoutMs} ms`)), readyTimeoutMs);
    onAbort = () => reject(opts.signal!.reason);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
  });
  failure.catch(() => starting.abort());

  let ready: ReadyLine;
  try {
    const line = await Promise.race([firstLine, failure]);
    const parsed = parseReady(line);
    if (!parsed) throw new StartFailure(`expected a JSON ready line on stdout, got ${JSON.stringify(line.slice(0, 200))}`);
    ready = parsed;
    await Promise.race([waitHealthy(urlOf(ready.host, ready.port), starting.signal), failure]);
  } catch (err) {
    starting.abort();
    if (child.pid !== undefined) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    }
    // Whatever it wrote before dying belongs in the error.
    await Promise.race([stderrClosed, sleep(200)]);
    throw err instanceof StartFailure ? startError(err.why, err.cause) : err;
  } finally {
    clearTimeout(timer);
    if (onAbort) opts.signal?.removeEventListener('abort', onAbort);
  }

  const url = urlOf(ready.host, ready.port);
  let stopping: Promise<ServiceExit> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const grace = (spec.drainTimeoutMs ?? 10_000) + (spec.drainDelayMs ?? 0) + KILL_MARGIN_MS;
        const killer = setTimeout(() => child.kill('SIGKILL'), grace);
        await exited;
        clearTimeout(killer);
      }
      return exited;
    })());
  if (opts.signal) {
    const stopOnAbort = () => void stop();
    opts.signal.addEventListener('abort', stopOnAbort, { once: true });
    void exited.then(() => opts.signal!.removeEventListener('abort', stopOnAbort));
  }

  const scrape = async (): Promise<PromSample[]> => {
    let res: HttpResult;
    try {
      res = await httpGet(`${url}/metrics`, 5000);
    } catch (cause) {
      throw new LoadscopeError('INTERNAL', `cannot scrape ${url}/metrics of "${spec.name}": ${(cause as Error).message}`, {
        cause,
        hint: 'the service exited or is overloaded; see its stderr',
      });
    }
    if (res.status !== 200) throw new LoadscopeError('INTERNAL', `scrape of ${url}/metrics of "${spec.name}" answered ${res.status}`);
    return parseProm(res.body);
  };

  return {
    name: spec.name,
    role: spec.role,
    url,
    host: ready.host,
    port: ready.port,
    pid: ready.pid,
    exited,
    scrape,
    requestsServed: async () => sumMetric(await scrape(), 'loadscope_http_requests_total'),
    stop,
  };
}

async function waitHealthy(url: string, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    try {
      if ((await httpGet(`${url}/healthz`, 1000)).status === 200) return;
    } catch {
      // not listening yet, or busy: try again
    }
    await sleep(50);
  }
}

/**
 * Starts the bundled pair: a backend named "backend", then a frontend named "frontend" forwarding to
 * it. If the frontend fails to start, the backend is stopped before the error is rethrown.
 */
export async function startBundledServices(config: BundledConfig, opts: StartServiceOptions = {}): Promise<BundledServices> {
  const backend = await startService({ role: 'backend', name: 'backend', config: config.backend }, opts);
  let frontend: RunningService;
  try {
    frontend = await startService({ role: 'frontend', name: 'frontend', backend: backend.url, maxSockets: config.frontend?.maxSockets }, opts);
  } catch (err) {
    await backend.stop();
    throw err;
  }
  return {
    backend,
    frontend,
    stop: async () => {
      await frontend.stop();
      await backend.stop();
    },
  };
}
