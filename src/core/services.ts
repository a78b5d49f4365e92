// The bundled services' configuration as both sides see it: the cluster writes it on the command line,
// src/services reads it. No imports.

/** Which bundled service a process runs (src/services/main.ts --role). */
export type ServiceRole = 'backend' | 'frontend';

/**
 * Cost and shape of one backend route. Every field is optional; the service fills the defaults
 * (cpuMs 0, payloadBytes 64, delayMs 0, delayJitterMs 0, status 200) and rejects unknown keys.
 */
export interface RouteConfig {
  /** Busy loop on the event loop per request, ms. */
  cpuMs?: number;
  /** Response body size, bytes. */
  payloadBytes?: number;
  /** Timer before responding, ms (after the CPU work). */
  delayMs?: number;
  /** Uniform random extra delay in [0, delayJitterMs), ms. */
  delayJitterMs?: number;
  /** Response status code. */
  status?: number;
}

/**
 * The backend's --config JSON. `routes` match on the exact path without query string; any other
 * path uses `default`.
 */
export interface BackendConfig {
  routes?: Record<string, RouteConfig>;
  default?: RouteConfig;
}
