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
  sampling: (r) => num(r.w) && num(r.d) && num(r.every) && num(r.timed) && num(r.packets),
  lost: (r) => num(r.ts) && num(r.n) && str(r.what),
  clock: (r) => num(r.mono_ns) && num(r.realtime_ms),
  ready: (r) => Array.isArray(r.progs),
  error: (r) => str(r.msg),
  end: (r) => num(r.ts) && obj(r.lost),
};

/** The plain path: JSON.parse and the shape checks; undefined for anything not a known, well-formed record. */
export function parseProbeLineJson(line: string): ProbeRecord | undefined {
  if (line.charCodeAt(0) !== 123 /* { */) return undefined;
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

// ---- The fast path for the high-volume records. The loaders print them with a fixed key order and
// no whitespace (bpf/*.c). An anchored regular expression per record type checks that exact layout in
// one native pass; only then are the values read by position. Anything else (another key or order,
// whitespace, a float or exponent, a string with an escape or a control character, a brace inside
// a tag) is left to the plain path, JSON.parse and the shape checks.

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
  return new RegExp(`^\\{"t":"${t}","probe":${STR}${fields.map(([k, v]) => `,"${k}":${v}`).join('')}\\}$`);
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

/**
 * Reads loader output lines into records: the fast path for the layouts above, the plain path for
 * everything else, the same records either way (test/kernel/ndjson-fast.test.ts). One parser per
 * stream: its state is the line being read and a cache of tag objects (shared, frozen).
 */
export class ProbeLineParser {
  /** Lines the fast path has read. */
  fastReads = 0;
  /** The line being read by the fast path, and the position of its next key (the layout is checked). */
  private s = '';
  private p = 0;
  /** Tag objects repeat every window: each distinct text is parsed once. */
  private readonly tagCache = new Map<string, Readonly<Record<string, string>>>();

  /** The record of one line; undefined for anything that is not a known, well-formed record. Never throws. */
  parse(line: string): ProbeRecord | undefined {
    if (line.charCodeAt(0) !== 123 /* { */) return undefined;
    const r = this.fast(line);
    if (r === undefined) return parseProbeLineJson(line);
    this.fastReads++;
    return r;
  }

  /** The fast path alone: undefined when the line does not have one of its layouts. */
  fast(line: string): ProbeRecord | undefined {
    const r = this.readLayout(line);
    this.s = ''; // the line may be a slice that keeps its whole chunk alive
    return r;
  }

  /** The five types differ at character 6, then 8 (`count`, `conn`) or 11 (`route`, `route_sample`). */
  private readLayout(line: string): ProbeRecord | undefined {
    let re: RegExp;
    let read: () => ProbeRecord;
    switch (line.charCodeAt(6)) {
      case 99 /* c */:
        [re, read] = line.charCodeAt(8) === 117 /* u */ ? [COUNT, this.readCount] : [CONN, this.readConn];
        break;
      case 104 /* h */:
        [re, read] = [HIST, this.readHist];
        break;
      case 114 /* r */:
        [re, read] = line.charCodeAt(11) === 95 /* _ */ ? [ROUTE_SAMPLE, this.readRouteSample] : [ROUTE, this.readRoute];
        break;
      default:
        return undefined;
    }
    if (!re.test(line)) return undefined;
    this.s = line;
    this.p = 0;
    return read.call(this);
  }

  /** Skips `field` (a key and a value the layout allows only there) and returns `value`. */
  private skip<T>(field: string, value: T): T {
    this.p += field.length;
    return value;
  }

  /** Skips `key` (e.g. `,"w":`) and reads the integer after it, as JSON.parse reads it. */
  private int(key: string): number {
    const s = this.s;
    let i = this.p + key.length;
    let c = s.charCodeAt(i);
    const neg = c === 45; /* - */
    if (neg) c = s.charCodeAt(++i);
    const first = i;
    let x = 0;
    for (; c >= 48 && c <= 57; c = s.charCodeAt(++i)) x = x * 10 + (c - 48);
    // up to 15 digits the sum is exact; beyond, Number() rounds the digits once, as JSON.parse does
    if (i - first > 15) x = Number(s.slice(first, i));
    this.p = i;
    return neg ? -x : x;
  }

  /** Skips `key` (ending in the opening quote) and reads the string after it. */
  private text(key: string): string {
    const a = this.p + key.length;
    const e = this.s.indexOf('"', a);
    this.p = e + 1;
    return this.s.slice(a, e);
  }

  /** Skips `key` and reads the tags object after it (no `}` inside: the layout checked). */
  private tags(key: string): Record<string, string> {
    const a = this.p + key.length;
    this.p = this.s.indexOf('}', a) + 1;
    const body = this.s.slice(a, this.p);
    let t = this.tagCache.get(body);
    if (t === undefined) {
      t = Object.freeze(JSON.parse(body) as Record<string, string>);
      // a copy of the text as key: the slice would keep the whole chunk it was cut from alive
      if (this.tagCache.size < 10_000) this.tagCache.set([...body].join(''), t);
    }
    return t as Record<string, string>;
  }

  /** Skips `key` and reads the array of integers after it, in one pass (the layout is checked). */
  private ints(key: string): number[] {
    const s = this.s;
    let i = this.p + key.length + 1; // and the [
    const out: number[] = [];
    if (s.charCodeAt(i) === 93 /* ] */) {
      this.p = i + 1;
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
    this.p = i + 1;
    return out;
  }

  /** What count and hist records both start with, in this order. */
  private readAggregate(open: string): Pick<CountRecord, 'probe' | 'm' | 'w' | 'd' | 'tags'> {
    const probe = this.text(open);
    const m = this.text(',"m":"');
    const w = this.int(',"w":');
    const d = this.int(',"d":');
    return { probe, m, w, d, tags: this.tags(',"tags":') };
  }

  private readCount(): CountRecord {
    const { probe, m, w, d, tags } = this.readAggregate('{"t":"count","probe":"');
    return { t: 'count', probe, m, w, d, tags, v: this.int(',"v":') };
  }

  private readHist(): HistRecord {
    const { probe, m, w, d, tags } = this.readAggregate('{"t":"hist","probe":"');
    const n = this.int(',"n":');
    const sum = this.int(',"sum":');
    return { t: 'hist', probe, m, w, d, tags, n, sum, b: this.ints(',"b":') };
  }

  private readConn(): ConnRecord {
    const probe = this.text('{"t":"conn","probe":"');
    const ts = this.int(',"ts":');
    const start = this.int(',"start":');
    const est = this.s.charCodeAt(this.p + ',"est":'.length) === 110 /* n */ ? this.skip(',"est":null', null) : this.int(',"est":');
    const end = this.int(',"end":');
    const side = this.s.charCodeAt(this.p + ',"side":"'.length) === 99 /* c */ ? this.skip(',"side":"client"', 'client' as const) : this.skip(',"side":"server"', 'server' as const);
    const laddr = this.text(',"laddr":"');
    const lport = this.int(',"lport":');
    const raddr = this.text(',"raddr":"');
    const rport = this.int(',"rport":');
    const c = this.s.charCodeAt(this.p + ',"state":"'.length);
    const state = c === 99 /* c */ ? this.skip(',"state":"closed"', 'closed' as const) : c === 102 /* f */ ? this.skip(',"state":"failed"', 'failed' as const) : this.skip(',"state":"open"', 'open' as const);
    return { t: 'conn', probe, ts, start, est, end, side, laddr, lport, raddr, rport, state, from: this.text(',"from":"') };
  }

  /** The routing decision route and route_sample records both carry, in this order. */
  private readDecision(): Pick<RouteRecord, 'table' | 'src' | 'dst' | 'gw' | 'oif'> {
    const table = this.int(',"table":');
    const src = this.text(',"src":"');
    const dst = this.text(',"dst":"');
    const gw = this.text(',"gw":"');
    return { table, src, dst, gw, oif: this.text(',"oif":"') };
  }

  private readRoute(): RouteRecord {
    const probe = this.text('{"t":"route","probe":"');
    const w = this.int(',"w":');
    const d = this.int(',"d":');
    const { table, src, dst, gw, oif } = this.readDecision();
    const err = this.int(',"err":');
    const proto = this.int(',"proto":');
    return { t: 'route', probe, w, d, table, src, dst, gw, oif, err, proto, n: this.int(',"n":') };
  }

  private readRouteSample(): RouteSampleRecord {
    const probe = this.text('{"t":"route_sample","probe":"');
    const ts = this.int(',"ts":');
    const { table, src, dst, gw, oif } = this.readDecision();
    const oif_index = this.int(',"oif_index":');
    const flow_oif = this.int(',"flow_oif":');
    const flow_iif = this.int(',"flow_iif":');
    const err = this.int(',"err":');
    const proto = this.int(',"proto":');
    const sport = this.int(',"sport":');
    const dport = this.int(',"dport":');
    const first = this.s.charCodeAt(this.p + ',"first":'.length) === 116; /* t */
    return { t: 'route_sample', probe, ts, table, src, dst, gw, oif, oif_index, flow_oif, flow_iif, err, proto, sport, dport, first };
  }
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
