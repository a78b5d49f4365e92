// Temporary directories of a test file, removed when its worker process exits (after every test and
// hook of the file, pass or fail), so a suite run leaves nothing in the system's temp directory.
// LOADSCOPE_KEEP_TEST_DIRS=1 keeps them, to look at a failed run's journal and report.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];
process.once('exit', () => {
  if (process.env.LOADSCOPE_KEEP_TEST_DIRS === '1') return;
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A new directory under the system's temp directory, named `prefix` plus six random characters. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}
