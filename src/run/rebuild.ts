import { LoadscopeError } from '../core/errors.ts';
import type { RunResult } from '../core/result.ts';
import type { RunHeader } from '../core/types.ts';
import { describeSkipped, JOURNAL_VERSION, scanJournal, type ScanStats, type SkippedLines } from '../journal/journal.ts';
import { ResultBuilder } from '../analyze/results.ts';
import { summarizeShadow, type ShadowSummary } from '../autoscale/shadow.ts';
import type { JournalRecord } from '../core/types.ts';

/** Notices of a journal read in part start with these (results.json `notices`, the report, the CLI). */
export const JOURNAL_NOTICE = {
  /** Only the last line was cut short: how a killed run's journal ends; everything else was read. */
  torn: 'journal cut short:',
  /** Lines in the middle, or records this reader does not know, were skipped: the results miss them. */
  damaged: 'journal damaged:',
} as const;

/**
 * Builds results.json from a journal file in one streaming pass (scanJournal with the builder's fast
 * paths): a one-hour run with a million sampled packet records never sits in memory. The result
 * equals buildResult over the same records (test/analyze/stream.test.ts). What cannot be read is
 * skipped and named in the result's notices, with line numbers (JOURNAL_NOTICE); a journal without a
 * readable header is a JOURNAL error. `also` sees every record the builder took, in order (the fast
 * paths' records excepted).
 */
export function buildResultFromJournal(path: string, also?: (r: JournalRecord) => void): { result: RunResult; header: RunHeader; stats: ScanStats } {
  const b = new ResultBuilder();
  let header: RunHeader | undefined;
  const refused: SkippedLines[] = [];
  const shadow: ShadowEvent[] = [];
  const stats = scanJournal(
    path,
    (r, line) => {
      try {
        b.add(r);
      } catch (e) {
        if (e instanceof LoadscopeError) throw e;
        refused.push({ from: line, to: line, reason: `unreadable ${r.type}: ${String((e as Error)?.message ?? e).slice(0, 80)}` });
        return;
      }
      if (r.type === 'run') header ??= r;
      if (r.type === 'event' && r.kind === 'hpa.shadow') shadow.push(r);
      also?.(r);
    },
    b.raw(),
  );
  if (refused.length) {
    stats.skipped = [...stats.skipped, ...refused].sort((x, y) => x.from - y.from);
    stats.skippedLines += refused.length;
    stats.records -= refused.length;
  }
  const skippedText = stats.skippedLines ? `; skipped ${describeSkipped(stats)}` : '';
  if (!header) {
    throw new LoadscopeError('JOURNAL', `${path}: no run header${skippedText}`, {
      hint: stats.skippedLines ? 'the header line is damaged; nothing can be rebuilt without it' : 'the run failed before it started; nothing was measured',
    });
  }
  const result = b.finish();
  attachShadow(result, shadow, header.startedAt);
  const notices: string[] = [];
  if (header.schemaVersion !== JOURNAL_VERSION) {
    notices.push(`${JOURNAL_NOTICE.damaged} written in format ${header.schemaVersion}; this loadscope reads format ${JOURNAL_VERSION}, so the results may miss what that format added`);
  }
  if (stats.skippedLines) notices.push(`${JOURNAL_NOTICE.damaged} ${stats.skippedLines} unreadable line${stats.skippedLines === 1 ? '' : 's'} skipped: ${describeSkipped(stats)}`);
  if (stats.torn) notices.push(`${JOURNAL_NOTICE.torn} line ${stats.tornLine}, the last, was cut short (the run stopped while writing it) and was skipped`);
  result.notices.push(...notices);
  return { result, header, stats };
}

/** How a rebuilt result's journal was read: whole, cut short at its last line only, or damaged (see JOURNAL_NOTICE). */
export function journalDamage(result: RunResult): 'none' | 'torn' | 'damaged' {
  if (result.notices.some((n) => n.startsWith(JOURNAL_NOTICE.damaged))) return 'damaged';
  if (result.notices.some((n) => n.startsWith(JOURNAL_NOTICE.torn))) return 'torn';
  return 'none';
}

type ShadowEvent = Extract<JournalRecord, { type: 'event' }>;

/** results.json's `autoscaling.shadow`: the shadow HPA's syncs against a real controller (run/kube-shadow.ts), when it ran. */
export function attachShadow(result: RunResult, records: readonly JournalRecord[], t0: number): void {
  const events = records.filter((r): r is ShadowEvent => r.type === 'event' && r.kind === 'hpa.shadow');
  if (!events.length || !result.autoscaling) return;
  (result.autoscaling as NonNullable<RunResult['autoscaling']> & { shadow?: ShadowSummary }).shadow = summarizeShadow(events, t0);
}
