import type { ConnRecord, CountRecord, HistRecord, ProbeRecord, RouteRecord, RouteSampleRecord } from './types.ts';

type Check = (r: Record<string, unknown>) => boolean;

const num = (v: unknown): boolean => typeof v === 'number';
const str = (v: unknown): boolean => typeof v === 'string';
const obj = (v: unknown): boolean => typeof v === 'object' && v !== null;

/** The shape checks of the general path: the fields the mapper relies on. */
const CHECKS: Record<ProbeRecord['t'], Check> = {
  count: (r) => num(r.w) && num(r.d) && num(r.v) && str(r.m) && obj(r.tags),
  hist: (r) => num(r.w) && num(r.d) && num(r.n) && str(r.m) && obj(r.tags) && Array.isArray(r.b),
  route: (r) => num(r.w) && num(r.n) && str(r.dst) && str(r.oif),
  route_sample: (r) => num(r.ts) && str(r.dst) && str(r.oif),
  conn: (r) => num(r.start) && num(r.end) && str(r.raddr) && str(r.state),
  lb: (r) => num(r.ts) && str(r.backend),
  lost: (r) => num(r.ts) && num(r.n) && str(r.what),
  clock: (r) => num(r.mono_ns) && num(r.realtime_ms),
  ready: (r) => Array.isArray(r.progs),
  error: (r) => str(r.msg),
  end: (r) => num(r.ts) && obj(r.lost),
};

function parseGeneral(line: string): ProbeRecord | undefined {
  let r: unknown;
  try {
    r = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof r !== 'object' || r === null) return undefined;
  const rec = r as Record<string, unknown>;
  if (typeof rec.t !== 'string' || !Object.hasOwn(CHECKS, rec.t)) return undefined;
  return CHECKS[rec.t as ProbeRecord['t']](rec) ? (r as ProbeRecord) : undefined;
}

// ---- Fast path for the high-volume records. The loaders print them with a fixed key order and no
// whitespace (bpf/*.c). A sticky regular expression per record type checks that exact layout in
// one native pass; only then are the values read by position. Anything else (another key or
// order, whitespace, a float or exponent, a string with an escape or a control character, a brace
// inside a tag) is left to JSON.parse.

/** A string without escapes or control characters: its text is its JSON value. */
const STR = '"[^"\\\\\\x00-\\x1f]*"';
/** The same without `}`, so that the first `}` after a tags object's `{` closes it. */
const TAG_STR = '"[^"\\\\\\x00-\\x1f}]*"';
/** An integer as JSON writes it: no fraction, exponent or leading zero. */
const INT = '-?(?:0|[1-9][0-9]*)';
const TAGS = `\\{(?:${TAG_STR}:${TAG_STR}(?:,${TAG_STR}:${TAG_STR})*)?\\}`;
const INTS = `\\[(?:${INT}(?:,${INT})*)?\\]`;

/** The layout of one record type: `{"t":"<t>","probe":"…"` and then the fields, in this order. */
function layout(t: ProbeRecord['t'], fields: [string, string][]): RegExp {
  return new RegExp(`\\{"t":"${t}","probe":${STR}${fields.map(([k, v]) => `,"${k}":${v}`).join('')}\\}`, 'y');
}

const COUNT = layout('count', [['m', STR], ['w', INT], ['d', INT], ['tags', TAGS], ['v', INT]]);
const HIST = layout('hist', [['m', STR], ['w', INT], ['d', INT], ['tags', TAGS], ['n', INT], ['sum', INT], ['b', INTS]]);
const ROUTE = layout('route', [['w', INT], ['d', INT], ['table', INT], ['src', STR], ['dst', STR], ['gw', STR], ['oif', STR], ['err', INT], ['proto', INT], ['n', INT]]);
const ROUTE_SAMPLE = layout('route_sample', [
  ['ts', INT], ['table', INT], ['src', STR], ['dst', STR], ['gw', STR], ['oif', STR], ['oif_index', INT], ['flow_oif', INT],
  ['flow_iif', INT], ['err', INT], ['proto', INT], ['sport', INT], ['dport', INT], ['first', '(?:true|false)'],
]);
const CONN = layout('conn', [
  ['ts', INT], ['start', INT], ['est', `(?:null|${INT})`], ['end', INT], ['side', '"(?:client|server)"'],
  ['laddr', STR], ['lport', INT], ['raddr', STR], ['rport', INT], ['state', '"(?:closed|failed|open)"'], ['from', STR],
]);

/** The line being read, and the position of the next key (the layout is already checked). */
let s = '';
let p = 0;

/** Skips `field` (a key and a value the layout allows only there) and returns `value`. */
function skip<T>(field: string, value: T): T {
  p += field.length;
  return value;
}

/** Reads the integer at p, as JSON.parse reads it. */
function integer(): number {
  let i = p;
  let c = s.charCodeAt(i);
  const neg = c === 45; /* - */
  if (neg) c = s.charCodeAt(++i);
  const first = i;
  let x = 0;
  while (c >= 48 && c <= 57) {
    const c2 = s.charCodeAt(i + 1);
    if (c2 >= 48 && c2 <= 57) {
      x = x * 100 + (c - 48) * 10 + (c2 - 48);
      i += 2;
    } else {
      x = x * 10 + (c - 48);
      i++;
    }
    c = s.charCodeAt(i);
  }
  // up to 15 digits the sum is exact; beyond, Number() rounds the digits once, as JSON.parse does
  if (i - first > 15) x = Number(s.slice(first, i));
  p = i;
  return neg ? -x : x;
}

/** Skips `key` (e.g. `,"w":`) and reads the integer after it. */
function int(key: string): number {
  p += key.length;
  return integer();
}

/** Skips `key` (ending in the opening quote) and reads the string after it. */
function text(key: string): string {
  const a = p + key.length;
  const e = s.indexOf('"', a);
  p = e + 1;
  return s.slice(a, e);
}

/** Tag objects repeat every window: each distinct text is parsed once and shared, frozen. */
const tagCache = new Map<string, Readonly<Record<string, string>>>();

function tags(key: string): Record<string, string> {
  const a = p + key.length;
  p = s.indexOf('}', a) + 1;
  const body = s.slice(a, p);
  let t = tagCache.get(body);
  if (t === undefined) {
    t = Object.freeze(JSON.parse(body) as Record<string, string>);
    // a copy of the text as key: the slice would keep the whole chunk it was cut from alive
    if (tagCache.size < 10_000) tagCache.set([...body].join(''), t);
  }
  return t as Record<string, string>;
}

/** Skips `key` and reads the array of integers after it, in one pass (the layout is checked). */
function ints(key: string): number[] {
  let i = p + key.length + 1; // and the [
  const out: number[] = [];
  if (s.charCodeAt(i) === 93 /* ] */) {
    p = i + 1;
    return out;
  }
  let x = 0;
  let neg = false;
  let first = i;
  for (;; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) x = x * 10 + (c - 48);
    else if (c === 45 /* - */) {
      neg = true;
      first = i + 1;
    } else {
      if (i - first > 15) x = Number(s.slice(first, i));
      out.push(neg ? -x : x);
      if (c === 93) break;
      x = 0;
      neg = false;
      first = i + 1;
    }
  }
  p = i + 1;
  return out;
}

/** What count and hist records both start with, in this order. */
function readAggregate(open: string): Pick<CountRecord, 'probe' | 'm' | 'w' | 'd' | 'tags'> {
  const probe = text(open);
  const m = text(',"m":"');
  const w = int(',"w":');
  const d = int(',"d":');
  return { probe, m, w, d, tags: tags(',"tags":') };
}

function readCount(): CountRecord {
  const { probe, m, w, d, tags: tg } = readAggregate('{"t":"count","probe":"');
  return { t: 'count', probe, m, w, d, tags: tg, v: int(',"v":') };
}

function readHist(): HistRecord {
  const { probe, m, w, d, tags: tg } = readAggregate('{"t":"hist","probe":"');
  const n = int(',"n":');
  const sum = int(',"sum":');
  return { t: 'hist', probe, m, w, d, tags: tg, n, sum, b: ints(',"b":') };
}

function readConn(): ConnRecord {
  const probe = text('{"t":"conn","probe":"');
  const ts = int(',"ts":');
  const start = int(',"start":');
  const est = s.charCodeAt(p + ',"est":'.length) === 110 /* n */ ? skip(',"est":null', null) : int(',"est":');
  const endNs = int(',"end":');
  const side = s.charCodeAt(p + ',"side":"'.length) === 99 /* c */ ? skip(',"side":"client"', 'client') : skip(',"side":"server"', 'server');
  const laddr = text(',"laddr":"');
  const lport = int(',"lport":');
  const raddr = text(',"raddr":"');
  const rport = int(',"rport":');
  const c = s.charCodeAt(p + ',"state":"'.length);
  const state = c === 99 /* c */ ? skip(',"state":"closed"', 'closed') : c === 102 /* f */ ? skip(',"state":"failed"', 'failed') : skip(',"state":"open"', 'open');
  return { t: 'conn', probe, ts, start, est, end: endNs, side, laddr, lport, raddr, rport, state, from: text(',"from":"') };
}

/** The routing decision route and route_sample records both carry, in this order. */
function readDecision(): Pick<RouteRecord, 'table' | 'src' | 'dst' | 'gw' | 'oif'> {
  const table = int(',"table":');
  const src = text(',"src":"');
  const dst = text(',"dst":"');
  const gw = text(',"gw":"');
  return { table, src, dst, gw, oif: text(',"oif":"') };
}

function readRoute(): RouteRecord {
  const probe = text('{"t":"route","probe":"');
  const w = int(',"w":');
  const d = int(',"d":');
  const { table, src, dst, gw, oif } = readDecision();
  const err = int(',"err":');
  const proto = int(',"proto":');
  return { t: 'route', probe, w, d, table, src, dst, gw, oif, err, proto, n: int(',"n":') };
}

function readRouteSample(): RouteSampleRecord {
  const probe = text('{"t":"route_sample","probe":"');
  const ts = int(',"ts":');
  const { table, src, dst, gw, oif } = readDecision();
  const oif_index = int(',"oif_index":');
  const flow_oif = int(',"flow_oif":');
  const flow_iif = int(',"flow_iif":');
  const err = int(',"err":');
  const proto = int(',"proto":');
  const sport = int(',"sport":');
  const dport = int(',"dport":');
  const first = s.charCodeAt(p + ',"first":'.length) === 116; /* t */
  return { t: 'route_sample', probe, ts, table, src, dst, gw, oif, oif_index, flow_oif, flow_iif, err, proto, sport, dport, first };
}

/** Whether the whole line has the layout; if so, it becomes the line being read. */
function fits(re: RegExp, line: string): boolean {
  re.lastIndex = 0;
  if (!re.test(line) || re.lastIndex !== line.length) return false;
  s = line;
  p = 0;
  return true;
}

function parseFast(line: string): ProbeRecord | undefined {
  const r = readFast(line);
  s = ''; // the line may be a slice that keeps its whole chunk alive
  return r;
}

/** The five types differ at character 6, then 8 (`count`, `conn`) or 11 (`route`, `route_sample`). */
function readFast(line: string): ProbeRecord | undefined {
  switch (line.charCodeAt(6)) {
    case 99 /* c */:
      if (line.charCodeAt(8) === 117 /* u */) return fits(COUNT, line) ? readCount() : undefined;
      return fits(CONN, line) ? readConn() : undefined;
    case 104 /* h */:
      return fits(HIST, line) ? readHist() : undefined;
    case 114 /* r */:
      if (line.charCodeAt(11) === 95 /* _ */) return fits(ROUTE_SAMPLE, line) ? readRouteSample() : undefined;
      return fits(ROUTE, line) ? readRoute() : undefined;
    default:
      return undefined;
  }
}

/**
 * Parses one loader output line. Returns undefined for anything that is not a known, well-formed
 * record (the caller counts those as malformed); never throws. The records loaders print most
 * are read by a layout-specific fast path; anything else goes through JSON.parse and a shape check.
 */
export function parseProbeLine(line: string): ProbeRecord | undefined {
  if (line.charCodeAt(0) !== 123 /* { */) return undefined;
  return parseFast(line) ?? parseGeneral(line);
}

/** parseProbeLine without the fast path: what every line must parse to (the tests' reference). */
export function parseProbeLineJson(line: string): ProbeRecord | undefined {
  return line.charCodeAt(0) === 123 ? parseGeneral(line) : undefined;
}

/** The fast path alone: undefined when the line does not have one of its layouts (for tests). */
export function parseProbeLineFast(line: string): ProbeRecord | undefined {
  return parseFast(line);
}

/** Splits a stream of text chunks into lines (without the newline); a torn last line is passed to end(). */
export class LineSplitter {
  private rest = '';

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: string): void {
    let start = 0;
    let nl = chunk.indexOf('\n');
    if (nl === -1) {
      this.rest += chunk;
      return;
    }
    if (this.rest !== '') {
      this.onLine(this.rest + chunk.slice(0, nl));
      this.rest = '';
      start = nl + 1;
      nl = chunk.indexOf('\n', start);
    }
    while (nl !== -1) {
      if (nl > start) this.onLine(chunk.slice(start, nl));
      start = nl + 1;
      nl = chunk.indexOf('\n', start);
    }
    this.rest = chunk.slice(start);
  }

  /** Flushes a last line that had no newline (a loader killed mid-write). */
  end(): void {
    if (this.rest !== '') this.onLine(this.rest);
    this.rest = '';
  }
}
