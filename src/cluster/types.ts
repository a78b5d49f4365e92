// Interfaces of the cluster module: what a service under test is, how it is started, what a
// running one offers. Implementation: process.ts (local processes).

import type { BackendConfig, ServiceRole } from '../core/services.ts';

/** Flags shared by both roles. Host must be a loopback or 198.18.0.0/15 address (not enforced here). */
export interface ServiceSpecBase {
  /** Service name: the `x-served-by` header, the ready line, the LOADSCOPE_SERVICE env var. */
  name: string;
  /** Address to bind; default 127.0.0.1. */
  host?: string;
  /** Port to bind; default 0 (the kernel picks one; the ready line tells which). */
  port?: number;
  /** Longest graceful drain after SIGTERM before connections are cut; default 10 000 ms. */
  drainTimeoutMs?: number;
  /** After SIGTERM, keep accepting (healthz 503, `connection: close`) this long before closing the listener; default 0. */
  drainDelayMs?: number;
  /** Write the final /metrics exposition to this file at exit (the counters of a pod that is gone). */
  metricsAtExit?: string;
  /** Peers besides loopback that may call the service's control endpoints (the host's address on a pod's bridge). */
  controlFrom?: string[];
  /** Appended verbatim to the command line (tests give the services bad flags with it). */
  extraArgs?: string[];
}

/** A backend: serves synthetic responses as configured per route. */
export interface BackendSpec extends ServiceSpecBase {
  role: 'backend';
  config?: BackendConfig;
  /**
   * How cpuMs is measured: 'wall' (default) spins until performance.now() advanced cpuMs, so a
   * contended CPU makes it burn less; 'cpu' spins until the process used cpuMs of CPU time, so a
   * contended CPU makes it take longer.
   */
  cpuClock?: 'wall' | 'cpu';
  /** Per-source token bucket; refusals answer 429. */
  rateLimit?: { requestsPerSecond: number; burst?: number };
  /** Close a keep-alive connection after this many requests, so new connections rebalance. */
  maxRequestsPerSocket?: number;
}

/**
 * A frontend: forwards every request to `backend`, or round-robin over `backends` (exactly one of the two),
 * over a keep-alive agent per backend. `backends` can be replaced at run time (PUT /_loadscope/backends,
 * src/services/control.ts); it may start empty (every request answers 503 until it is set).
 */
export interface FrontendSpec extends ServiceSpecBase {
  role: 'frontend';
  /** Base URL of the backend, e.g. http://127.0.0.1:43127. */
  backend?: string;
  /** Base URLs of the backend replicas (the --backends flag). */
  backends?: string[];
  /** Keep-alive sockets to the backend; default 64. */
  maxSockets?: number;
  /** An upstream request idle this long fails with 502; default 10 000 ms. */
  upstreamTimeoutMs?: number;
}

/** What to start: one bundled service process. */
export type ServiceSpec = BackendSpec | FrontendSpec;

/** How a service process is started. */
export interface StartServiceOptions {
  /** Aborting before ready kills the process and rejects with the abort reason; after ready it stops the service. */
  signal?: AbortSignal;
  /** Extra environment for the process (LOADSCOPE_RUN_ID lets a janitor find orphans). */
  env?: Record<string, string>;
  /** Longest wait for the ready line and a 200 from /healthz; default 15 000 ms. */
  readyTimeoutMs?: number;
  /** Command prefix, e.g. ['ip', 'netns', 'exec', 'ns1']; the node command line follows it. */
  command?: string[];
}

/** How a service process ended: the exit code, or the signal that killed it. */
export interface ServiceExit {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
}

/** One sample of a Prometheus text exposition. `timestampMs` only when the line carried one. */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
  timestampMs?: number;
}

/**
 * A started, ready service. `url` has no trailing slash. `stop` is idempotent: SIGTERM, wait for the
 * drain, SIGKILL after the drain timeout. `exited` settles (never rejects) when the process ends,
 * whoever ended it.
 */
export interface RunningService {
  readonly name: string;
  readonly role: ServiceRole;
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly pid: number;
  readonly exited: Promise<ServiceExit>;
  /** GET /metrics, parsed. */
  scrape(): Promise<PromSample[]>;
  /** Sum of loadscope_http_requests_total over every label (healthz and metrics are never counted). */
  requestsServed(): Promise<number>;
  stop(): Promise<ServiceExit>;
}

/** The bundled pair: a frontend forwarding to a backend. `stop` stops the frontend, then the backend. */
export interface BundledServices {
  backend: RunningService;
  frontend: RunningService;
  stop(): Promise<void>;
}

/** Configuration of the bundled pair (the scenario's `services: bundled`). */
export interface BundledConfig {
  backend: BackendConfig;
  frontend?: { maxSockets?: number };
}
