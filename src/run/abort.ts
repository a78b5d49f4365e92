import { ResultBuilder } from '../analyze/results.ts';
import { now } from '../core/clock.ts';
import type { JournalRecord, RunEvent } from '../core/types.ts';
import type { ThresholdAbort } from '../scenario/schema.ts';

/** The failed abortOnFail threshold that stops a run (journal event threshold.abort). */
export interface AbortingThreshold {
  metric: string;
  expression: string;
  observed: number | null;
}

/**
 * Judges the abortOnFail thresholds on the records so far (the same evaluation as results.json):
 * the first that fails once its delayAbortEval has passed. "no data" does not stop a run.
 */
export class ThresholdWatch {
  private readonly builder = new ResultBuilder();
  private started: number | undefined;

  constructor(private readonly aborts: readonly ThresholdAbort[]) {}

  add(r: JournalRecord): void {
    if (r.type === 'run') this.started ??= r.startedAt;
    this.builder.add(r);
  }

  /** The threshold that fails at `time` (epoch ms), or undefined. */
  check(time: number): AbortingThreshold | undefined {
    if (this.started === undefined) return undefined;
    const due = this.aborts.filter((a) => time - this.started! >= a.delayMs);
    if (!due.length) return undefined;
    const judged = this.builder.finish().thresholds;
    for (const a of due) {
      const t = judged.find((x) => x.source === 'loadscope' && x.metric === a.key && x.expression === a.expression);
      if (t?.status === 'fail') return { metric: t.metric, expression: t.expression, observed: t.observed };
    }
    return undefined;
  }
}

/** Share of one core the judging may take: checks are spaced to at least this many times their cost. */
const BUDGET = 20;

/**
 * Watches a running journal once a second (less often when judging costs more than 1/BUDGET of a
 * core: a long run's analysis grows with its windows); on the first failed abortOnFail threshold,
 * writes a threshold.abort event and calls `abort`. Returns the function that stops watching;
 * nothing to watch without abortOnFail thresholds.
 */
export function watchThresholds(
  aborts: readonly ThresholdAbort[],
  journal: { onRecord(fn: (r: JournalRecord) => void): void; event(e: RunEvent): void },
  abort: (reason: string) => void,
): () => void {
  if (!aborts.length) return () => {};
  const watch = new ThresholdWatch(aborts);
  let on = true;
  let timer: NodeJS.Timeout | undefined;
  journal.onRecord((r) => on && watch.add(r));
  const tick = () => {
    if (!on) return;
    const started = performance.now();
    let failed: AbortingThreshold | undefined;
    try {
      failed = watch.check(now());
    } catch (e) {
      // judging must never take the run down: say so in the journal and stop watching
      on = false;
      journal.event({ kind: 'threshold.watch_failed', time: now(), source: 'thresholds', attrs: { message: `abortOnFail thresholds are no longer judged during the run: ${(e as Error).message}` } });
      return;
    }
    if (!failed) {
      timer = setTimeout(tick, Math.max(1000, (performance.now() - started) * BUDGET));
      timer.unref();
      return;
    }
    on = false;
    journal.event({ kind: 'threshold.abort', time: now(), source: 'thresholds', attrs: { ...failed, message: `threshold ${failed.metric} ${failed.expression} failed (observed ${failed.observed}): abortOnFail stops the run` } });
    abort(`threshold ${failed.metric} ${failed.expression} failed (observed ${failed.observed})`);
  };
  timer = setTimeout(tick, 1000);
  timer.unref();
  return () => {
    on = false;
    clearTimeout(timer);
  };
}
