import { LoadscopeError } from '../core/errors.ts';
import type { RunResult } from '../core/result.ts';
import type { RunHeader } from '../core/types.ts';
import { scanJournal, type ScanStats } from '../journal/journal.ts';
import { ResultBuilder } from '../analyze/results.ts';

/**
 * Builds results.json from a journal file in one streaming pass (scanJournal with the builder's fast
 * paths): a one-hour run with a million sampled packet records never sits in memory. The result
 * equals buildResult over the same records (test/analyze/stream.test.ts).
 */
export function buildResultFromJournal(path: string): { result: RunResult; header: RunHeader; stats: ScanStats } {
  const b = new ResultBuilder();
  let header: RunHeader | undefined;
  const stats = scanJournal(
    path,
    (r) => {
      if (r.type === 'run') header ??= r;
      b.add(r);
    },
    b.raw(),
  );
  if (!header) throw new LoadscopeError('JOURNAL', `${path}: no run header`, { hint: 'the run failed before it started; nothing was measured' });
  return { result: b.finish(), header, stats };
}
