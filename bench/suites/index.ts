import compare from './compare.ts';
import engine from './engine.ts';
import history from './history.ts';
import k6 from './k6.ts';
import latency from './latency.ts';
import pipeline from './pipeline.ts';
import probes from './probes.ts';
import scale from './scale.ts';
import startup from './startup.ts';
import type { Suite } from '../lib/types.ts';

/** The suites by name, in the order they run. */
export const suites: Record<string, Suite> = { engine, latency, probes, pipeline, scale, startup, history, compare, k6 };
