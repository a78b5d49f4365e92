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
// inside a tag) is left to JSON.parse. This layout path reads the lines whose skeleton (see
// Skeletons below) is not known yet or not predicted; the skeleton path, at a fraction of the
// cost, reads the others.

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

/** The text of the tags object read last: a skeleton's key names the tags by their text (two texts may read the same). */
let tagsText = '';

function tags(key: string): Record<string, string> {
  const a = p + key.length;
  p = s.indexOf('}', a) + 1;
  const body = (tagsText = s.slice(a, p));
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

/** The five types differ at character 6, then 8 (`count`, `conn`) or 11 (`route`, `route_sample`). */
function readLayout(line: string): ProbeRecord | undefined {
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

// ---- Skeletons. From window to window a loader prints the same lines with other numbers (w, v,
// ts, ports, histogram slots), and mostly in the same order; the rest (record type, probe and
// metric names, tags, addresses, states) repeats. A line's skeleton is its text without the
// integers that vary. Once the layout path has read two lines of a skeleton, an anchored regular
// expression of its exact text, with `-?\d+` in each varying integer's place, is kept with the
// record's other values. A line that fits it is read with one native pass and a digit loop: no
// strings to cut or look up, its record shares the skeleton's strings and tags (immutable). The
// skeleton tried first is the one that came after the previous line's last time (loaders print
// their lines in much the same order every window); then those seen with lines of this length
// (a skeleton's lines have a few lengths).

/** Makes the record of a line of one skeleton from the line's varying integers (in layout order) and slot list. */
type Build = (ints: Float64Array, list: number[]) => ProbeRecord;

interface Skeleton {
  /** The skeleton's text; for hist up to the slot list's `[` (readList reads the rest). */
  re: RegExp;
  /** How many code units precede each varying integer, from the end of the one before; for hist then up to the slot list. */
  gaps: number[];
  /** How many varying integers. */
  ints: number;
  /** Whether a slot list ends the line (hist). */
  list: boolean;
  /** Whether to read the digits from the line encoded in BYTES: pays for many digits, and the slot list needs it. */
  bytes: boolean;
  build: Build;
  /** The skeleton of the line that came after one of this skeleton, last time. */
  next: Skeleton | undefined;
}

/**
 * The line being read as UTF-8, then a 0. A typed array load costs a fraction of a charCodeAt (on
 * a sliced string); only an ASCII line (one byte per character: positions match) is read from it.
 */
const BYTES = new Uint8Array(1 << 16);
const encoder = new TextEncoder();

/** The varying integers of the line being read, in layout order. */
const INTS_READ = new Float64Array(16);
/** A slot list's integers while it is read (at most one per two characters of the line). */
const SLOTS = new Float64Array(BYTES.length / 2);
const NO_LIST: number[] = [];

/** The record for line if it fits skeleton k. */
function readAs(k: Skeleton, line: string): ProbeRecord | undefined {
  if (!k.re.test(line)) return undefined;
  // the pattern checked the text and that the integers are digits: read them, reject a leading zero
  const gaps = k.gaps;
  let i = 0;
  if (!k.bytes) {
    for (let j = 0; j < k.ints; j++) {
      i += gaps[j];
      let c = line.charCodeAt(i);
      const neg = c === 45; /* - */
      if (neg) c = line.charCodeAt(++i);
      const first = i;
      const lead = c;
      let x = 0;
      for (; c >= 48 && c <= 57; c = line.charCodeAt(++i)) x = x * 10 + (c - 48);
      if (lead === 48 /* 0 */ && i - first > 1) return undefined;
      // up to 15 digits the sum is exact; beyond, Number() rounds the digits once, as JSON.parse does
      if (i - first > 15) x = Number(line.slice(first, i));
      INTS_READ[j] = neg ? -x : x;
    }
    return k.build(INTS_READ, NO_LIST);
  }
  const n = line.length;
  if (n >= BYTES.length || encoder.encodeInto(line, BYTES).written !== n) return undefined;
  BYTES[n] = 0;
  for (let j = 0; j < k.ints; j++) {
    i += gaps[j];
    let c = BYTES[i];
    const neg = c === 45; /* - */
    if (neg) c = BYTES[++i];
    const first = i;
    const lead = c;
    let x = 0;
    for (; c >= 48 && c <= 57; c = BYTES[++i]) x = x * 10 + (c - 48);
    if (lead === 48 /* 0 */ && i - first > 1) return undefined;
    if (i - first > 15) x = Number(line.slice(first, i));
    INTS_READ[j] = neg ? -x : x;
  }
  if (!k.list) return k.build(INTS_READ, NO_LIST);
  const list = readList(line, i + gaps[k.ints]);
  return list === undefined ? undefined : k.build(INTS_READ, list);
}

/** The slot list from i (after its `[`) of the line in BYTES: integers and commas up to the `]}` that end the line. */
function readList(line: string, i: number): number[] | undefined {
  let k = 0;
  if (BYTES[i] !== 93 /* ] */) {
    for (;;) {
      let c = BYTES[i];
      const neg = c === 45; /* - */
      if (neg) c = BYTES[++i];
      const first = i;
      let x = c - 48;
      if (x < 0 || x > 9) return undefined; // an empty slot, a sign without digits, the end of the line
      i++;
      // after a 0 the integer ends: a digit there is not the , or ] that must follow
      if (x !== 0) {
        for (c = BYTES[i]; c >= 48 && c <= 57; c = BYTES[++i]) x = x * 10 + (c - 48);
        if (i - first > 15) x = Number(line.slice(first, i));
      }
      SLOTS[k++] = neg ? -x : x;
      if (BYTES[i] !== 44 /* , */) break;
      i++;
    }
  }
  if (BYTES[i] !== 93 /* ] */ || BYTES[i + 1] !== 125 /* } */ || i + 2 !== line.length) return undefined;
  // a new array of the exact length: growing one by push costs more, and garbage
  const out: number[] = new Array(k);
  for (let j = 0; j < k; j++) out[j] = SLOTS[j];
  return out;
}

/** A copy of a string from the line: kept, a slice would keep the whole chunk it was cut from alive. */
const own = (x: string): string => (x.length < 13 ? x : (' ' + x).slice(1)); // V8 copies slices shorter than 13

/** r with copies of its strings (those the layout path reads are slices of the line). */
function withOwnStrings<R extends ProbeRecord>(r: R): R {
  const copy: Record<string, unknown> = { ...r };
  for (const f in copy) if (typeof copy[f] === 'string') copy[f] = own(copy[f] as string);
  return copy as R;
}

/**
 * Integers that name rather than measure stay in the skeleton: the window length d, and a route
 * decision's table, err, proto and interface indexes. By place among the record's integers, in
 * layout order: count w d v; hist w d n sum; route w d table err proto n; route_sample ts table
 * oif_index flow_oif flow_iif err proto sport dport; conn (ts start est end lport rport) none.
 */
const FIXED: Partial<Record<ProbeRecord['t'], readonly number[]>> = { count: [1], hist: [1], route: [1, 2, 3, 4], route_sample: [1, 2, 3, 4, 5, 6] };

/** How to build the records of r's skeleton: r's strings, tags, literals and FIXED integers, and the line's other integers. */
function builderOf(r: ProbeRecord): Build | undefined {
  switch (r.t) {
    case 'count': {
      const { probe, m, d, tags } = r;
      return (n) => ({ t: 'count', probe, m, w: n[0], d, tags, v: n[1] });
    }
    case 'hist': {
      const { probe, m, d, tags } = r;
      return (n, b) => ({ t: 'hist', probe, m, w: n[0], d, tags, n: n[1], sum: n[2], b });
    }
    case 'route': {
      const { probe, d, table, src, dst, gw, oif, err, proto } = r;
      return (n) => ({ t: 'route', probe, w: n[0], d, table, src, dst, gw, oif, err, proto, n: n[1] });
    }
    case 'route_sample': {
      const { probe, table, src, dst, gw, oif, oif_index, flow_oif, flow_iif, err, proto, first } = r;
      return (n) => ({ t: 'route_sample', probe, ts: n[0], table, src, dst, gw, oif, oif_index, flow_oif, flow_iif, err, proto, sport: n[1], dport: n[2], first });
    }
    case 'conn': {
      const { probe, side, laddr, raddr, state, from } = r;
      // est is null or the third integer
      if (r.est === null) return (n) => ({ t: 'conn', probe, ts: n[0], start: n[1], est: null, end: n[2], side, laddr, lport: n[3], raddr, rport: n[4], state, from });
      return (n) => ({ t: 'conn', probe, ts: n[0], start: n[1], est: n[2], end: n[3], side, laddr, lport: n[4], raddr, rport: n[5], state, from });
    }
    default:
      return undefined;
  }
}

/** What tells r's skeleton from others: its strings, literals and FIXED integers (`\0` is in no string the layout admits). */
function keyOf(r: ProbeRecord): string | undefined {
  switch (r.t) {
    case 'count':
    case 'hist':
      return `${r.t}\0${r.probe}\0${r.m}\0${r.d}\0${tagsText}`;
    case 'route':
      return `route\0${r.probe}\0${r.d}\0${r.table}\0${r.src}\0${r.dst}\0${r.gw}\0${r.oif}\0${r.err}\0${r.proto}`;
    case 'route_sample':
      return `route_sample\0${r.probe}\0${r.table}\0${r.src}\0${r.dst}\0${r.gw}\0${r.oif}\0${r.oif_index}\0${r.flow_oif}\0${r.flow_iif}\0${r.err}\0${r.proto}\0${r.first}`;
    case 'conn':
      return `conn\0${r.probe}\0${r.est === null}\0${r.side}\0${r.laddr}\0${r.raddr}\0${r.state}\0${r.from}`;
    default:
      return undefined;
  }
}

const escapeRe = (text: string): string => text.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');

/** The skeleton of a line the layout path read as r (its strings then have no escapes). */
function skeletonOf(line: string, r: ProbeRecord, build: Build): Skeleton {
  const fixed = FIXED[r.t] ?? [];
  // the text before each varying integer, then (hist) up to the slot list's [
  const texts: string[] = [];
  let digits = 0;
  let from = 0;
  let inString = false;
  let list = false;
  for (let i = 0, int = 0; i < line.length && !list; i++) {
    const c = line.charCodeAt(i);
    if (c === 34 /* " */) inString = !inString;
    else if (inString) continue;
    else if (c === 91 /* [ */) {
      list = true;
      texts.push(line.slice(from, i + 1));
    } else if (c === 45 /* - */ || (c >= 48 && c <= 57)) {
      const start = i;
      while (i + 1 < line.length && line.charCodeAt(i + 1) >= 48 && line.charCodeAt(i + 1) <= 57) i++;
      if (!fixed.includes(int++)) {
        texts.push(line.slice(from, start));
        from = i + 1;
        digits += i + 1 - start;
      }
    }
  }
  const ints = list ? texts.length - 1 : texts.length;
  let source = '^';
  for (let j = 0; j < texts.length; j++) source += escapeRe(texts[j]) + (j < ints ? '-?\\d+' : '');
  if (!list) source += escapeRe(line.slice(from)) + '$';
  // encoding the line costs about as much as reading 16 to 20 digits with charCodeAt
  const bytes = list || digits > 24;
  return { re: new RegExp(source), gaps: texts.map((t) => t.length), ints, list, bytes, build, next: undefined };
}

/** Known skeletons by key, null for a key seen once (bounded: past the bound they start over). */
const SKELETONS = new Map<string, Skeleton | null>();
/** Known skeletons by the length of their lines before any slot list, most recently added first. */
const BY_LENGTH = new Map<number, Skeleton[]>();

/** The length of the line before a slot list: what its skeleton fixes (the slot list of a hist line varies). */
const lengthOf = (line: string): number => (line.charCodeAt(line.length - 2) === 93 /* ] */ ? line.lastIndexOf('[') : line.length);

/**
 * A key lookup costs about as much again as the layout path's read. Lines that never repeat (many
 * addresses, say) would pay it for nothing: the lookups left before only one line in 16 is looked
 * up; each key found again gives 8 back.
 */
let lookups = 64;
let skipped = 0;

/** The skeleton of the line the layout path just read as r, once its key has been seen twice. */
function skeletonFor(line: string, r: ProbeRecord): Skeleton | undefined {
  if (lookups <= 0 && (++skipped & 15) !== 0) return undefined;
  const key = keyOf(r);
  if (key === undefined) return undefined;
  const known = SKELETONS.get(key);
  if (known === undefined) {
    if (lookups > 0) lookups--;
    if (SKELETONS.size >= 5_000) forget();
    SKELETONS.set(own(key), null);
    return undefined;
  }
  lookups = Math.min(lookups + 8, 64);
  if (known !== null) return known;
  const build = builderOf(withOwnStrings(r));
  if (build === undefined) return undefined;
  const k = skeletonOf(line, r, build);
  SKELETONS.set(own(key), k);
  return k;
}

/** Starts over: the skeletons known so far then lead only to each other (and are garbage once none is in use). */
function forget(): void {
  SKELETONS.clear();
  BY_LENGTH.clear();
}

/** The skeleton of the line read before, if it had one. */
let last: Skeleton | undefined;
/** Lines the skeleton path has read (for tests). */
let skeletonReads = 0;

function parseFast(line: string): ProbeRecord | undefined {
  // first the skeleton that came after the previous line's last time
  const next = last?.next;
  if (next !== undefined) {
    const r = readAs(next, line);
    if (r !== undefined) {
      skeletonReads++;
      last = next;
      return r;
    }
  }
  // then those seen with lines of this length
  const length = lengthOf(line);
  const known = BY_LENGTH.get(length) ?? [];
  let k: Skeleton | undefined;
  let r: ProbeRecord | undefined;
  for (const candidate of known) {
    if (candidate !== next && (r = readAs(candidate, line)) !== undefined) {
      skeletonReads++;
      k = candidate;
      break;
    }
  }
  if (r === undefined) {
    // then the layout path; the skeleton of what it reads may be known by key
    r = readLayout(line);
    s = ''; // the line may be a slice that keeps its whole chunk alive
    k = r === undefined ? undefined : skeletonFor(line, r);
    tagsText = '';
    if (k !== undefined && !known.includes(k)) {
      // lines of this length try k first from now on
      if (known.length === 0) BY_LENGTH.set(length, known);
      known.unshift(k);
      if (known.length > 8) known.pop();
    }
  }
  if (last !== undefined && k !== undefined) last.next = k;
  last = k;
  return r;
}

/**
 * Parses one loader output line. Returns undefined for anything that is not a known, well-formed
 * record (the caller counts those as malformed); never throws. The records loaders print most
 * are read by a fast path (a known skeleton, else a layout-specific reader); anything else goes
 * through JSON.parse and a shape check.
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

/** How many lines the skeleton path has read so far (for tests: the fast path's two paths give the same records). */
export function skeletonReadCount(): number {
  return skeletonReads;
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
