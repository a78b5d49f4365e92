import { AutocannonEngine } from './autocannon/engine.ts';
import { K6Engine } from './k6/engine.ts';
import type { LoadEngine } from './types.ts';

/** Engines by the scenario's `engine:` name. Each call makes a fresh engine for one run. */
export const engines: Record<'autocannon' | 'k6', () => LoadEngine> = {
  autocannon: () => new AutocannonEngine(),
  k6: () => new K6Engine(),
};
