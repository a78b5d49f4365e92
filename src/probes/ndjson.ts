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
// whitespace (bpf/*.c); this reads that exact layout and gives up (to JSON.parse) on any surprise.

const MISMATCH = new Error('layout');
let s = '';
let p = 0;

function lit(text: string): void {
  if (!s.startsWith(text, p)) throw MISMATCH;
  p += text.length;
}

function int(): number {
  let c = s.charCodeAt(p);
  let neg = false;
  if (c === 45 /* - */) {
    neg = true;
    c = s.charCodeAt(++p);
  }
  if (!(c >= 48 && c <= 57)) throw MISMATCH;
  let x = 0;
  do {
    x = x * 10 + (c - 48);
    c = s.charCodeAt(++p);
  } while (c >= 48 && c <= 57);
  if (c === 46 /* . */ || c === 101 || c === 69 /* e E */) throw MISMATCH;
  return neg ? -x : x;
}

/** The string's body up to the closing quote (the caller has checked the line has no backslash). */
function text(): string {
  const e = s.indexOf('"', p);
  if (e < 0) throw MISMATCH;
  const v = s.slice(p, e);
  p = e + 1;
  return v;
}

/** Tag objects repeat every window: parse each distinct text once and share it (frozen). */
const tagCache = new Map<string, Readonly<Record<string, string>>>();

function tags(): Record<string, string> {
  const e = s.indexOf('}', p);
  if (e < 0) throw MISMATCH;
  const body = s.slice(p, e + 1);
  p = e + 1;
  let t = tagCache.get(body);
  if (t === undefined) {
    const parsed = JSON.parse(body) as Record<string, unknown>;
    if (typeof parsed !== 'object' || parsed === null || Object.values(parsed).some((v) => typeof v !== 'string')) throw MISMATCH;
    t = Object.freeze(parsed as Record<string, string>);
    if (tagCache.size < 10_000) tagCache.set(body, t);
  }
  return t as Record<string, string>;
}

function ints(): number[] {
  lit('[');
  const out: number[] = [];
  if (s.charCodeAt(p) === 93 /* ] */) {
    p++;
    return out;
  }
  for (;;) {
    out.push(int());
    const c = s.charCodeAt(p++);
    if (c === 93) return out;
    if (c !== 44) throw MISMATCH;
  }
}

function end<T>(r: T): T {
  if (p !== s.length - 1 || s.charCodeAt(p) !== 125) throw MISMATCH;
  return r;
}

function fastCount(): CountRecord {
  p = 22; // {"t":"count","probe":"
  const probe = text();
  lit(',"m":"');
  const m = text();
  lit(',"w":');
  const w = int();
  lit(',"d":');
  const d = int();
  lit(',"tags":');
  const tg = tags();
  lit(',"v":');
  return end({ t: 'count', probe, m, w, d, tags: tg, v: int() });
}

function fastHist(): HistRecord {
  p = 21; // {"t":"hist","probe":"
  const probe = text();
  lit(',"m":"');
  const m = text();
  lit(',"w":');
  const w = int();
  lit(',"d":');
  const d = int();
  lit(',"tags":');
  const tg = tags();
  lit(',"n":');
  const n = int();
  lit(',"sum":');
  const sum = int();
  lit(',"b":');
  return end({ t: 'hist', probe, m, w, d, tags: tg, n, sum, b: ints() });
}

function fastConn(): ConnRecord {
  p = 21; // {"t":"conn","probe":"
  const probe = text();
  lit(',"ts":');
  const ts = int();
  lit(',"start":');
  const start = int();
  lit(',"est":');
  let est: number | null = null;
  if (s.startsWith('null', p)) p += 4;
  else est = int();
  lit(',"end":');
  const endNs = int();
  lit(',"side":"');
  const side = text();
  if (side !== 'client' && side !== 'server') throw MISMATCH;
  lit(',"laddr":"');
  const laddr = text();
  lit(',"lport":');
  const lport = int();
  lit(',"raddr":"');
  const raddr = text();
  lit(',"rport":');
  const rport = int();
  lit(',"state":"');
  const state = text();
  if (state !== 'closed' && state !== 'failed' && state !== 'open') throw MISMATCH;
  lit(',"from":"');
  return end({ t: 'conn', probe, ts, start, est, end: endNs, side, laddr, lport, raddr, rport, state, from: text() });
}

function fastRoute(): RouteRecord {
  p = 22; // {"t":"route","probe":"
  const probe = text();
  lit(',"w":');
  const w = int();
  lit(',"d":');
  const d = int();
  lit(',"table":');
  const table = int();
  lit(',"src":"');
  const src = text();
  lit(',"dst":"');
  const dst = text();
  lit(',"gw":"');
  const gw = text();
  lit(',"oif":"');
  const oif = text();
  lit(',"err":');
  const err = int();
  lit(',"proto":');
  const proto = int();
  lit(',"n":');
  return end({ t: 'route', probe, w, d, table, src, dst, gw, oif, err, proto, n: int() });
}

function fastRouteSample(): RouteSampleRecord {
  p = 29; // {"t":"route_sample","probe":"
  const probe = text();
  lit(',"ts":');
  const ts = int();
  lit(',"table":');
  const table = int();
  lit(',"src":"');
  const src = text();
  lit(',"dst":"');
  const dst = text();
  lit(',"gw":"');
  const gw = text();
  lit(',"oif":"');
  const oif = text();
  lit(',"oif_index":');
  const oif_index = int();
  lit(',"flow_oif":');
  const flow_oif = int();
  lit(',"flow_iif":');
  const flow_iif = int();
  lit(',"err":');
  const err = int();
  lit(',"proto":');
  const proto = int();
  lit(',"sport":');
  const sport = int();
  lit(',"dport":');
  const dport = int();
  lit(',"first":');
  let first: boolean;
  if (s.startsWith('true', p)) {
    first = true;
    p += 4;
  } else {
    lit('false');
    first = false;
  }
  return end({ t: 'route_sample', probe, ts, table, src, dst, gw, oif, oif_index, flow_oif, flow_iif, err, proto, sport, dport, first });
}

const P_COUNT = '{"t":"count","probe":"';
const P_CONN = '{"t":"conn","probe":"';
const P_HIST = '{"t":"hist","probe":"';
const P_ROUTE = '{"t":"route","probe":"';
const P_SAMPLE = '{"t":"route_sample","probe":"';

function fastParser(line: string): (() => ProbeRecord) | undefined {
  switch (line.charCodeAt(6)) {
    case 99 /* c */:
      return line.startsWith(P_COUNT) ? fastCount : line.startsWith(P_CONN) ? fastConn : undefined;
    case 104 /* h */:
      return line.startsWith(P_HIST) ? fastHist : undefined;
    case 114 /* r */:
      return line.startsWith(P_ROUTE) ? fastRoute : line.startsWith(P_SAMPLE) ? fastRouteSample : undefined;
    default:
      return undefined;
  }
}

function parseFast(line: string): ProbeRecord | undefined {
  const parse = fastParser(line);
  if (parse === undefined) return undefined;
  s = line;
  try {
    return parse();
  } catch {
    return undefined;
  } finally {
    s = '';
  }
}

/**
 * Parses one loader output line. Returns undefined for anything that is not a known, well-formed
 * record (the caller counts those as malformed); never throws. The records loaders print most
 * are read by a layout-specific fast path; anything else goes through JSON.parse and a shape check.
 */
export function parseProbeLine(line: string): ProbeRecord | undefined {
  if (line.charCodeAt(0) !== 123 /* { */) return undefined;
  if (line.indexOf('\\') === -1) {
    const r = parseFast(line);
    if (r !== undefined) return r;
  }
  return parseGeneral(line);
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
