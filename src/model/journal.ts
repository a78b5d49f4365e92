import { closeSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { LoadscopeError } from './errors.ts';
import type { JournalRecord, RunEvent, Sample, Sink } from './types.ts';

/**
 * The run's journal (events.ndjson): every sample and event, appended while the run goes. Records
 * are buffered for at most `flushMs` and written with write(2), so a crash loses at most that much
 * and a SIGKILL loses nothing already flushed.
 */
export class Journal implements Sink {
  private fd: number;
  private buf: string[] = [];
  private timer: NodeJS.Timeout;
  private closed = false;
  private listeners: ((r: JournalRecord) => void)[] = [];

  constructor(readonly path: string, flushMs = 250) {
    this.fd = openSync(path, 'a');
    this.timer = setInterval(() => this.flush(), flushMs);
    this.timer.unref();
  }

  /** Sees every record as it is appended (progress display, live view). */
  onRecord(fn: (r: JournalRecord) => void): void {
    this.listeners.push(fn);
  }

  append(r: JournalRecord): void {
    if (this.closed) return;
    this.buf.push(JSON.stringify(r));
    for (const fn of this.listeners) fn(r);
  }

  sample(s: Sample): void {
    this.append({ type: 'sample', ...s });
  }

  event(e: RunEvent): void {
    this.append({ type: 'event', ...e });
  }

  flush(): void {
    if (this.buf.length === 0) return;
    const text = this.buf.join('\n') + '\n';
    this.buf = [];
    writeSync(this.fd, text);
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    clearInterval(this.timer);
    fsyncSync(this.fd);
    closeSync(this.fd);
  }
}

/**
 * Reads a journal back. A torn last line (crash mid-write) is skipped and reported in `torn`;
 * any other malformed line is an error naming the file and line.
 */
export function readJournal(path: string): { records: JournalRecord[]; torn: number } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new LoadscopeError('JOURNAL', `cannot read journal ${path}`, {
      cause,
      hint: 'pass a run directory that holds events.ndjson (made by `loadscope run`)',
    });
  }
  const lines = text.split('\n');
  const records: JournalRecord[] = [];
  let torn = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === '') continue;
    try {
      records.push(JSON.parse(line) as JournalRecord);
    } catch (cause) {
      const isLast = lines.slice(i + 1).every((l) => l === '');
      if (isLast) {
        torn++;
        continue;
      }
      throw new LoadscopeError('JOURNAL', `${path}:${i + 1}:1: malformed journal line`, {
        cause,
        hint: 'the journal was edited or corrupted; restore it or re-run the scenario',
      });
    }
  }
  return { records, torn };
}
