// Journals for the report tests: the synthetic run of test/helpers/synthetic-journal.ts (every signal) at small
// sizes, and the strings a hostile scenario, response or cluster could carry.
import { syntheticRecords, type SyntheticOptions } from '../helpers/synthetic-journal.ts';
import type { JournalRecord } from '../../src/core/types.ts';

/** Markup that must come out as text wherever it lands (HTML body, attributes, script data, canvas). */
export const HOSTILE = `<img src=x onerror="window.__xss=1"></script><script>window.__xss=2</script>"'&<!--`;

export function synthetic(o: Partial<SyntheticOptions> = {}): JournalRecord[] {
  return [...syntheticRecords({ seconds: 240, packetRecords: 3000, events: 80, ...o })];
}
