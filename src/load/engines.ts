import { K6Engine } from './k6/engine.ts';
import { ThreadedEngine } from './thread.ts';
import type { EngineOptions, LoadEngine } from './types.ts';

export type { EngineOptions } from './types.ts';


/**
 * Engines by the scenario's `engine:` name. Each call makes a fresh engine for one run. The two
 * in-process clients run on a load thread of their own (src/load/thread.ts); k6 is its own process.
 */
export const engines: Record<'autocannon' | 'k6' | 'lean', (opts: EngineOptions) => LoadEngine> = {
  autocannon: (opts) => new ThreadedEngine('autocannon', opts),
  k6: () => new K6Engine(),
  lean: (opts) => new ThreadedEngine('lean', opts),
};
