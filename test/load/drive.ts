import { now } from '../../src/core/clock.ts';
import { mergeEncoded } from '../../src/core/histogram.ts';
import type { PlannedStage, RunEvent, Sample } from '../../src/core/types.ts';
import type { EngineSummary, LoadEngine } from '../../src/load/types.ts';
import type { RequestSpec } from '../../src/scenario/schema.ts';

export const GET = (path: string, weight = 1): RequestSpec => ({ method: 'GET', path, headers: {}, weight });

export const closed = (name: string, durationMs: number, connections: number): PlannedStage => ({ name, startMs: 0, durationMs, model: 'closed', connections });
export const open = (name: string, durationMs: number, from: number, to = from, connections?: number): PlannedStage => ({ name, startMs: 0, durationMs, model: 'open', rate: { from, to }, ...(connections ? { connections } : {}) });

/** Runs `stages` with `engine` against `url` and returns what reached the sink, with totals by metric and stage. */
export async function drive(engine: LoadEngine, url: string, stages: PlannedStage[], requests: RequestSpec[] = [GET('/')], timeoutMs = 5000) {
  const samples: Sample[] = [];
  const events: RunEvent[] = [];
  const sink = { sample: (s: Sample) => samples.push(s), event: (e: RunEvent) => events.push(e) };
  const summary: EngineSummary = await engine.run({ baseUrl: url, requests, stages, requestTimeoutMs: timeoutMs, runStart: now(), sink, workDir: '/tmp' }, new AbortController().signal);
  const total = (metric: string, stage?: string) => samples.filter((s) => s.metric === metric && (!stage || s.tags.stage === stage)).reduce((a, s) => a + s.value, 0);
  const latency = (stage?: string) => mergeEncoded(samples.filter((s) => s.metric === 'http.latency_us' && (!stage || s.tags.stage === stage)).map((s) => s.hist!));
  return { samples, events, summary, total, latency };
}
