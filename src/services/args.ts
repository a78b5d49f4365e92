// Command line of the bundled services. Every problem is a UsageError: main prints it on one line
// of stderr and exits 2.
import { isIP } from 'node:net';
import type { BackendConfig, RouteConfig, ServiceRole } from '../core/services.ts';

/** A bad command line or config; the message is one line. */
export class UsageError extends Error {}

/** A route with every default filled in. */
export type Route = Required<RouteConfig>;

/** The backend config after validation: defaults applied, unknown keys rejected. */
export interface ResolvedConfig {
  routes: Map<string, Route>;
  default: Route;
}

/** Validated flags of one service process. */
export interface Options {
  role: ServiceRole;
  name: string;
  host: string;
  port: number;
  config: ResolvedConfig;
  backend?: URL;
  /** Frontend: the backends to round-robin over (--backends url1,url2; may be empty); replaces --backend. */
  backends?: URL[];
  maxSockets: number;
  upstreamTimeoutMs: number;
  drainTimeoutMs: number;
  drainDelayMs: number;
  exitOnStdinClose: boolean;
  /** How cpuMs is measured: wall time on performance.now() or process CPU time (default: a busy machine makes a request take longer, not cost less). */
  cpuClock: 'wall' | 'cpu';
  /** Backend: per-source token bucket (requests/s refill, burst capacity); refusals answer 429. */
  rateLimit?: { rps: number; burst: number };
  /** Close a keep-alive connection after this many requests (0: never), so new connections rebalance. */
  maxRequestsPerSocket: number;
  /** Write the final /metrics exposition to this file when exiting (counters of a pod that is gone). */
  metricsAtExit?: string;
  /** Peers besides loopback that may call the control endpoints (--control-from a,b: the host's address on a pod's bridge). */
  controlFrom: string[];
}

const FLAGS: Record<string, 'string' | 'boolean'> = {
  role: 'string',
  name: 'string',
  host: 'string',
  port: 'string',
  config: 'string',
  backend: 'string',
  backends: 'string',
  'max-sockets': 'string',
  'upstream-timeout-ms': 'string',
  'drain-timeout-ms': 'string',
  'drain-delay-ms': 'string',
  'exit-on-stdin-close': 'boolean',
  'cpu-clock': 'string',
  'rate-limit-rps': 'string',
  'rate-limit-burst': 'string',
  'max-requests-per-socket': 'string',
  'metrics-at-exit': 'string',
  'control-from': 'string',
};

const ROUTE_LIMITS: Record<keyof RouteConfig, { min: number; max: number; int: boolean; def: number }> = {
  cpuMs: { min: 0, max: 1000, int: false, def: 0 },
  payloadBytes: { min: 0, max: 16 * 1024 * 1024, int: true, def: 64 },
  delayMs: { min: 0, max: 60_000, int: false, def: 0 },
  delayJitterMs: { min: 0, max: 60_000, int: false, def: 0 },
  status: { min: 200, max: 599, int: true, def: 200 },
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function route(v: unknown, where: string): Route {
  if (!isObject(v)) throw new UsageError(`--config: ${where} must be an object`);
  const out: Record<string, number> = {};
  for (const key of Object.keys(v)) {
    if (!(key in ROUTE_LIMITS)) throw new UsageError(`--config: ${where}.${key} is not a route field (${Object.keys(ROUTE_LIMITS).join(', ')})`);
  }
  for (const [key, lim] of Object.entries(ROUTE_LIMITS)) {
    const x = v[key] ?? lim.def;
    if (typeof x !== 'number' || !Number.isFinite(x) || x < lim.min || x > lim.max || (lim.int && !Number.isInteger(x))) {
      throw new UsageError(`--config: ${where}.${key} must be ${lim.int ? 'an integer' : 'a number'} in [${lim.min}, ${lim.max}]`);
    }
    out[key] = x;
  }
  return out as Route;
}

/** Validates the backend config JSON text. */
export function parseConfig(text: string): ResolvedConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--config is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(raw)) throw new UsageError('--config must be a JSON object');
  for (const key of Object.keys(raw)) {
    if (key !== 'routes' && key !== 'default') throw new UsageError(`--config: unknown key "${key}" (routes, default)`);
  }
  const cfg = raw as BackendConfig;
  const routes = new Map<string, Route>();
  if (cfg.routes !== undefined) {
    if (!isObject(cfg.routes)) throw new UsageError('--config: routes must be an object of path → route');
    for (const [path, r] of Object.entries(cfg.routes)) {
      if (!path.startsWith('/')) throw new UsageError(`--config: route "${path}" must start with "/"`);
      routes.set(path, route(r, `routes["${path}"]`));
    }
  }
  return { routes, default: route(cfg.default ?? {}, 'default') };
}

function integer(flag: string, text: string | undefined, def: number, min: number, max: number): number {
  if (text === undefined) return def;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) throw new UsageError(`--${flag} must be an integer in [${min}, ${max}], got "${text}"`);
  return n;
}

function backendUrl(flag: string, text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`${flag} is not a URL: "${text}"`);
  }
  if (url.protocol !== 'http:') throw new UsageError(`${flag} must be an http:// URL, got "${text}"`);
  return url;
}

/** Parses argv (without node and script). `--flag value` and `--flag=value` both work. */
export function parseArgs(argv: string[]): Options {
  const seen: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    const flag = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    const kind = FLAGS[flag];
    if (!kind) throw new UsageError(`unknown flag --${flag}`);
    if (flag in seen) throw new UsageError(`--${flag} given twice`);
    if (kind === 'boolean') {
      if (eq >= 0) throw new UsageError(`--${flag} takes no value`);
      seen[flag] = true;
    } else if (eq >= 0) {
      seen[flag] = arg.slice(eq + 1);
    } else {
      if (i + 1 >= argv.length) throw new UsageError(`--${flag} needs a value`);
      seen[flag] = argv[++i];
    }
  }
  const str = (f: string) => seen[f] as string | undefined;
  const role = str('role');
  if (role !== 'backend' && role !== 'frontend') throw new UsageError(`--role must be backend or frontend, got ${role === undefined ? 'nothing' : `"${role}"`}`);
  const host = str('host') ?? '127.0.0.1';
  if (!isIP(host)) throw new UsageError(`--host must be an IP address, got "${host}"`);
  const opts: Options = {
    role,
    name: str('name') ?? role,
    host,
    port: integer('port', str('port'), 0, 0, 65535),
    config: parseConfig(str('config') ?? '{}'),
    maxSockets: integer('max-sockets', str('max-sockets'), 64, 1, 100_000),
    upstreamTimeoutMs: integer('upstream-timeout-ms', str('upstream-timeout-ms'), 10_000, 1, 3_600_000),
    drainTimeoutMs: integer('drain-timeout-ms', str('drain-timeout-ms'), 10_000, 0, 3_600_000),
    drainDelayMs: integer('drain-delay-ms', str('drain-delay-ms'), 0, 0, 3_600_000),
    exitOnStdinClose: seen['exit-on-stdin-close'] === true,
    cpuClock: 'cpu',
    maxRequestsPerSocket: integer('max-requests-per-socket', str('max-requests-per-socket'), 0, 0, 1_000_000),
    controlFrom: [],
  };
  const from = str('control-from');
  if (from !== undefined) {
    opts.controlFrom = from.split(',').map((a) => a.trim());
    const bad = opts.controlFrom.find((a) => !isIP(a));
    if (bad !== undefined) throw new UsageError(`--control-from takes IP addresses, got "${bad}"`);
  }
  const metricsAtExit = str('metrics-at-exit');
  if (metricsAtExit !== undefined) {
    if (metricsAtExit === '') throw new UsageError('--metrics-at-exit needs a file path');
    opts.metricsAtExit = metricsAtExit;
  }
  const rps = str('rate-limit-rps');
  const burst = str('rate-limit-burst');
  if (rps !== undefined) {
    const r = Number(rps);
    if (!/^\d+(\.\d+)?$/.test(rps) || !(r > 0) || r > 1_000_000) throw new UsageError(`--rate-limit-rps must be a number in (0, 1000000], got "${rps}"`);
    opts.rateLimit = { rps: r, burst: integer('rate-limit-burst', burst, Math.max(1, Math.ceil(r)), 1, 1_000_000) };
  } else if (burst !== undefined) {
    throw new UsageError('--rate-limit-burst needs --rate-limit-rps');
  }
  const clock = str('cpu-clock');
  if (clock !== undefined) {
    if (clock !== 'wall' && clock !== 'cpu') throw new UsageError(`--cpu-clock must be wall or cpu, got "${clock}"`);
    opts.cpuClock = clock;
  }
  if (opts.name === '' || /[\r\n]/.test(opts.name)) throw new UsageError('--name must be a non-empty single line');
  const backend = str('backend');
  const backends = str('backends');
  if (role === 'frontend') {
    if (backend !== undefined && backends !== undefined) throw new UsageError('give --backend or --backends, not both');
    if (backends !== undefined) {
      opts.backends = backends === '' ? [] : backends.split(',').map((b) => backendUrl('--backends', b.trim()));
    } else {
      if (backend === undefined) throw new UsageError('--backend http://host:port is required for --role frontend');
      opts.backend = backendUrl('--backend', backend);
    }
    if (clock !== undefined) throw new UsageError('--cpu-clock applies to --role backend only');
    const cfg = str('config');
    if (cfg !== undefined && Object.keys(JSON.parse(cfg) as object).length > 0) throw new UsageError('--config applies to --role backend only (the frontend takes {})');
  } else {
    if (backend !== undefined) throw new UsageError('--backend applies to --role frontend only');
    if (backends !== undefined) throw new UsageError('--backends applies to --role frontend only');
    for (const f of ['max-sockets', 'upstream-timeout-ms']) if (f in seen) throw new UsageError(`--${f} applies to --role frontend only`);
  }
  if (role === 'frontend' && opts.rateLimit) throw new UsageError('--rate-limit-rps applies to --role backend only');
  return opts;
}
