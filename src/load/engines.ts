import { AutocannonEngine } from './autocannon/engine.ts';
import { K6Engine } from './k6/engine.ts';
import { LeanEngine } from './lean/engine.ts';
import type { LoadEngine } from './types.ts';

/** Options that reach an engine from the scenario. */
export interface EngineOptions {
  /** lean only: requests in flight per connection (HTTP/1.1 pipelining). */
  pipelining?: number;
}

/** Engines by the scenario's `engine:` name. Each call makes a fresh engine for one run. */
export const engines: Record<'autocannon' | 'k6' | 'lean', (opts: EngineOptions) => LoadEngine> = {
  autocannon: () => new AutocannonEngine(),
  k6: () => new K6Engine(),
  lean: (opts) => new LeanEngine({ pipelining: opts.pipelining }),
};
