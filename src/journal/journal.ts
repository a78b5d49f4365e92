import { closeSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import { LoadscopeError } from '../core/errors.ts';
import type { JournalRecord, RunEvent, Sample, Sink } from '../core/types.ts';

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
 * A journal line handed to a fast-path handler before it is parsed: the bytes `buf[start, end)`,
 * its 1-based line number, and its record's type and time, read from the fixed prefix the Journal
 * writes (`{"type":"event","kind":…,"time":…`).
 */
export interface RawLine {
  buf: Buffer;
  start: number;
  end: number;
  line: number;
  type: 'event' | 'sample';
  /** The record's time, exact (parsed on first use). */
  readonly time: number;
  /** The whole milliseconds of `time` (time - 1 < timeFloor ≤ time), read without building a string. */
  timeFloor: number;
  /** True when the line holds no backslash, so no string in it can contain a quote or look like a key. */
  plain(): boolean;
  /** The number after the first `"key":` in the line (a plain line only); undefined when absent or not a plain number. */
  num(key: string): number | undefined;
  /** The string after the first `"key":"` in the line (a plain line only); undefined when absent. */
  str(key: string): string | undefined;
}

/**
 * Fast paths by record name (event kind or sample metric, ASCII): a handler reads what it needs
 * from the raw line and returns true, or returns false to have the line parsed and passed to
 * `record` as usual. Records the consumer only counts (a million sampled packet records) never pay
 * for JSON.parse. A name ending in `*` matches by prefix (`probe.*`), `*` alone matches any name;
 * an exact name wins over a prefix, a prefix over `*`.
 */
export type RawHandlers = ReadonlyMap<string, (line: RawLine) => boolean>;

export interface ScanStats {
  /** Records passed to `record` plus records a fast path took. */
  records: number;
  /** Of those, records a fast path took. */
  fast: number;
  /** A torn last line (crash mid-write), skipped: 1 or 0. */
  torn: number;
  /** The line number of the torn last line, 0 when there is none. */
  tornLine: number;
  /** Other lines skipped (garbage, a record of an unknown type or shape): runs of consecutive lines with one reason, in file order. */
  skipped: SkippedLines[];
  /** How many lines `skipped` covers. */
  skippedLines: number;
  bytes: number;
}

/** Lines `from`..`to` (1-based, inclusive) of a journal, skipped for `reason`. */
export interface SkippedLines {
  from: number;
  to: number;
  reason: string;
}

/** The journal format this reader knows (the header's schemaVersion). */
export const JOURNAL_VERSION = 1;

/** At most this many runs of skipped lines are kept (the count stays exact). */
const MAX_SKIPPED_RUNS = 1000;

/** Why a parsed line is not a record this reader knows, or undefined: its type and the fields every consumer reads. */
export function recordProblem(r: unknown): string | undefined {
  if (!isObj(r)) return 'not a record';
  // checks written out per type, no closures: it runs once per line of every journal read (~100 ms
  // of a 10-minute run's two journals in `compare` with three closures made per call)
  const x = r as Record<string, unknown>;
  switch (x.type) {
    case 'sample':
      return typeof x.metric === 'string' && typeof x.time === 'number' && typeof x.value === 'number' && (x.tags === undefined || isObj(x.tags)) ? undefined : 'a sample without metric, time and value';
    case 'event':
      return typeof x.kind === 'string' && typeof x.time === 'number' && (x.attrs === undefined || isObj(x.attrs)) ? undefined : 'an event without kind and time';
    case 'run':
      return typeof x.schemaVersion === 'number' && typeof x.startedAt === 'number' && typeof x.runId === 'string' && typeof x.scenarioName === 'string' && Array.isArray(x.plan) && Array.isArray(x.notices)
        ? undefined
        : 'a run header without its fields';
    case 'end':
      return typeof x.endedAt === 'number' && typeof x.outcome === 'string' ? undefined : 'an end record without endedAt and outcome';
    default:
      return `unknown record type ${JSON.stringify(x.type)?.slice(0, 40) ?? 'undefined'}`;
  }
}

/** A plain object (not null, not an array). */
const isObj = (v: unknown): boolean => v !== null && typeof v === 'object' && !Array.isArray(v);

const CHUNK = 4 << 20;
const NEEDLES = new Map<string, Buffer>();
const needle = (text: string): Buffer => {
  let b = NEEDLES.get(text);
  if (!b) NEEDLES.set(text, (b = Buffer.from(text, 'latin1')));
  return b;
};
const P_EVENT = Buffer.from('{"type":"event","kind":"', 'latin1');
const P_SAMPLE = Buffer.from('{"type":"sample","metric":"', 'latin1');
const P_TIME = Buffer.from('","time":', 'latin1');

/** The ASCII text of `buf[start, end)` (a number's digits). */
const ascii = (buf: Buffer, start: number, end: number): string => buf.toString('latin1', start, end);

const startsAt = (buf: Buffer, at: number, end: number, p: Buffer): boolean => {
  if (end - at < p.length) return false;
  for (let i = 0; i < p.length; i++) if (buf[at + i] !== p[i]) return false;
  return true;
};

/** A plain JSON number's extent from `at`: digits, sign, point, exponent. */
const numberEnd = (buf: Buffer, at: number, end: number): number => {
  let i = at;
  while (i < end) {
    const c = buf[i];
    if ((c >= 48 && c <= 57) || c === 45 || c === 46 || c === 43 || c === 101 || c === 69) i++;
    else break;
  }
  return i;
};

const nameHash = (h: number, c: number): number => (Math.imul(h, 31) + c) | 0;

/** The handlers keyed by a hash of their name's bytes, so a line's name is matched without making a string. */
class HandlerTable {
  private readonly byHash = new Map<number, { name: Buffer; fn: (l: RawLine) => boolean }[]>();
  private readonly prefixes: { name: Buffer; fn: (l: RawLine) => boolean }[] = [];
  private readonly any: ((l: RawLine) => boolean) | undefined;
  constructor(handlers: RawHandlers) {
    for (const [name, fn] of handlers) {
      if (name === '*') continue;
      if (name.endsWith('*')) {
        this.prefixes.push({ name: Buffer.from(name.slice(0, -1), 'latin1'), fn });
        continue;
      }
      const bytes = Buffer.from(name, 'latin1');
      let h = 0;
      for (const c of bytes) h = nameHash(h, c);
      const list = this.byHash.get(h) ?? [];
      list.push({ name: bytes, fn });
      this.byHash.set(h, list);
    }
    this.any = handlers.get('*');
  }

  find(hash: number, buf: Buffer, at: number, end: number): ((l: RawLine) => boolean) | undefined {
    const list = this.byHash.get(hash);
    if (list) for (const e of list) if (e.name.length === end - at && startsAt(buf, at, end, e.name)) return e.fn;
    for (const e of this.prefixes) if (startsAt(buf, at, end, e.name)) return e.fn;
    return this.any;
  }
}

class Line implements RawLine {
  buf: Buffer = Buffer.alloc(0);
  start = 0;
  end = 0;
  line = 0;
  type: 'event' | 'sample' = 'event';
  timeFloor = 0;
  private timeAt = 0;
  private timeEnd = 0;
  private exact: number | undefined;
  private plainState = 0;

  get time(): number {
    return (this.exact ??= Number(ascii(this.buf, this.timeAt, this.timeEnd)));
  }

  plain(): boolean {
    if (this.plainState === 0) this.plainState = this.buf.subarray(this.start, this.end).indexOf(92) < 0 ? 1 : 2;
    return this.plainState === 1;
  }

  private find(text: string): number {
    if (!this.plain()) return -1;
    const n = needle(text);
    const at = this.buf.subarray(this.start, this.end).indexOf(n);
    return at < 0 ? -1 : this.start + at + n.length;
  }

  num(key: string): number | undefined {
    const at = this.find(`"${key}":`);
    if (at < 0) return undefined;
    const e = numberEnd(this.buf, at, this.end);
    if (e === at) return undefined;
    const v = Number(ascii(this.buf, at, e));
    return Number.isFinite(v) ? v : undefined;
  }

  str(key: string): string | undefined {
    const at = this.find(`"${key}":"`);
    if (at < 0) return undefined;
    const e = this.buf.indexOf(34, at);
    return e < 0 || e >= this.end ? undefined : this.buf.toString('utf8', at, e);
  }

  /**
   * The fast-path handler for this line, from the Journal's fixed prefix (type, plain ASCII name, a
   * plain non-negative time); undefined when the prefix differs or no handler takes the name.
   */
  handler(buf: Buffer, start: number, end: number, line: number, table: HandlerTable): ((l: RawLine) => boolean) | undefined {
    let at: number;
    let type: 'event' | 'sample';
    if (buf[start + 9] === 101 /* e */ && startsAt(buf, start, end, P_EVENT)) {
      type = 'event';
      at = start + P_EVENT.length;
    } else if (buf[start + 9] === 115 /* s */ && startsAt(buf, start, end, P_SAMPLE)) {
      type = 'sample';
      at = start + P_SAMPLE.length;
    } else return undefined;
    if (buf[end - 1] !== 125 /* } */) return undefined;
    let q = at;
    let h = 0;
    for (; q < end; q++) {
      const c = buf[q];
      if (c === 34) break;
      if (c === 92 || c > 127) return undefined;
      h = nameHash(h, c);
    }
    const fn = table.find(h, buf, at, q);
    if (!fn || !startsAt(buf, q, end, P_TIME)) return undefined;
    const t = q + P_TIME.length;
    let i = t;
    let floor = 0;
    for (; i < end; i++) {
      const c = buf[i];
      if (c < 48 || c > 57) break;
      floor = floor * 10 + (c - 48);
    }
    if (i === t || i - t > 15) return undefined;
    let e = i;
    if (buf[e] === 46 /* . */) {
      e++;
      while (e < end && buf[e] >= 48 && buf[e] <= 57) e++;
      if (e === i + 1) return undefined;
    }
    if (buf[e] !== 44 && buf[e] !== 125) return undefined;
    this.buf = buf;
    this.start = start;
    this.end = end;
    this.line = line;
    this.type = type;
    this.timeFloor = floor;
    this.timeAt = t;
    this.timeEnd = e;
    this.exact = undefined;
    this.plainState = 0;
    return fn;
  }
}

/**
 * Streams a journal record by record, in file order, without holding it: memory stays flat however
 * long the run. What cannot be read is skipped and said: a torn last line (crash mid-write) in
 * `torn`/`tornLine`, any other malformed line or unknown record in `skipped`, with its line number.
 * `fast` handlers may take records without parsing them; `record` gets each other record and its line.
 */
export function scanJournal(path: string, record: (r: JournalRecord, line: number) => void, fast?: RawHandlers): ScanStats {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (cause) {
    throw new LoadscopeError('JOURNAL', `cannot read journal ${path}`, {
      cause,
      hint: 'pass a run directory that holds events.ndjson (made by `loadscope run`)',
    });
  }
  const stats: ScanStats = { records: 0, fast: 0, torn: 0, tornLine: 0, skipped: [], skippedLines: 0, bytes: 0 };
  const raw = new Line();
  const table = fast && fast.size ? new HandlerTable(fast) : undefined;
  let buf = Buffer.allocUnsafe(CHUNK);
  let have = 0;
  let lineNo = 0;
  // The last malformed line seen: skipped as torn if nothing follows it, as garbage otherwise.
  let pending: { line: number; reason: string } | undefined;
  const skip = (line: number, reason: string) => {
    stats.skippedLines++;
    const last = stats.skipped[stats.skipped.length - 1];
    if (last && last.to === line - 1 && last.reason === reason) last.to = line;
    else if (stats.skipped.length < MAX_SKIPPED_RUNS) stats.skipped.push({ from: line, to: line, reason });
  };
  const handle = (start: number, end: number) => {
    lineNo++;
    if (end > start && buf[end - 1] === 13) end--;
    if (end <= start) return;
    if (pending) {
      skip(pending.line, pending.reason);
      pending = undefined;
    }
    if (table) {
      const fn = raw.handler(buf, start, end, lineNo, table);
      if (fn && fn(raw)) {
        stats.records++;
        stats.fast++;
        return;
      }
    }
    let r: JournalRecord;
    try {
      r = JSON.parse(buf.toString('utf8', start, end)) as JournalRecord;
    } catch {
      pending = { line: lineNo, reason: 'not JSON' };
      return;
    }
    const why = recordProblem(r);
    if (why) {
      skip(lineNo, why);
      return;
    }
    stats.records++;
    record(r, lineNo);
  };
  try {
    for (;;) {
      if (have === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, have);
        buf = bigger;
      }
      const n = readSync(fd, buf, have, buf.length - have, null);
      stats.bytes += n;
      if (n === 0) break;
      const filled = have + n;
      let at = 0;
      for (;;) {
        const nl = buf.indexOf(10, at);
        if (nl < 0 || nl >= filled) break;
        handle(at, nl);
        at = nl + 1;
      }
      have = filled - at;
      if (at > 0 && have > 0) buf.copy(buf, 0, at, filled);
    }
    if (have > 0) handle(0, have);
  } finally {
    closeSync(fd);
  }
  if (pending) {
    stats.torn = 1;
    stats.tornLine = pending.line;
  }
  return stats;
}

/** "3, 7-9 (not JSON); 12 (unknown record type "x")": the skipped lines for a person, at most `max` runs. */
export function describeSkipped(stats: Pick<ScanStats, 'skipped' | 'skippedLines'>, max = 10): string {
  const runs = stats.skipped.slice(0, max).map((s) => `${s.from === s.to ? `line ${s.from}` : `lines ${s.from}-${s.to}`} (${s.reason})`);
  const shown = stats.skipped.slice(0, max).reduce((a, s) => a + s.to - s.from + 1, 0);
  return runs.join(', ') + (stats.skippedLines > shown ? ` and ${stats.skippedLines - shown} more lines` : '');
}

/**
 * Reads a journal back whole. A torn last line (crash mid-write) is skipped and reported in `torn`;
 * other lines that cannot be read are skipped and listed in `skipped`. Long runs: use scanJournal.
 */
export function readJournal(path: string): { records: JournalRecord[]; torn: number; skipped: SkippedLines[] } {
  const records: JournalRecord[] = [];
  const { torn, skipped } = scanJournal(path, (r) => records.push(r));
  return { records, torn, skipped };
}
