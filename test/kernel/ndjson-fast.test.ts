// The probe reader's fast path against its reference, the plain path (JSON.parse and the shape
// checks): the recorded loader lines, hand-made odd lines, random mutations and every chunk boundary.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { fileURLToPath } from 'node:url';
import { LineSplitter, parseProbeLineJson, ProbeLineParser } from '../../src/kernel/ndjson.ts';
import type { ProbeRecord } from '../../src/kernel/types.ts';

/** One parser for the whole file, as one loader's stream has (its tag objects are shared across lines). */
const parser = new ProbeLineParser();
const parseProbeLine = (line: string) => parser.parse(line);
const parseProbeLineFast = (line: string) => parser.fast(line);
const fastReadCount = () => parser.fastReads;

const LINES = readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'recorded.ndjson'), 'utf8').split('\n').filter(Boolean);
const FAST_TYPES = ['count', 'hist', 'conn', 'route', 'route_sample'];
const FAST_LINES = LINES.filter((l) => FAST_TYPES.includes((JSON.parse(l) as { t: string }).t));
const first = (t: string, also = ''): string => LINES.find((l) => l.startsWith(`{"t":"${t}",`) && l.includes(also))!;
const COUNT = first('count', '"iface":"lspxtA"');
const HIST = first('hist');
const CONN = first('conn', '"side":"server"');
const ROUTE = first('route');
const SAMPLE = first('route_sample');

/** The lines on which parseProbeLine does not give what the reference gives. */
const disagreements = (lines: string[]): string[] => lines.filter((line) => !sameValue(parseProbeLine(line), parseProbeLineJson(line)));

/** Deep equality that also tells key order and -0 from 0 apart. */
function sameValue(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.join('\0') !== kb.join('\0')) return false;
  return ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** A small seeded generator: rand(n) gives 0..n-1, the same sequence for the same seed. */
function seeded(start: number): (n: number) => number {
  let seed = start;
  return (n) => {
    seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) | 0;
    return ((seed >>> 0) % 1_000_003) % n;
  };
}

/** Characters the mutation tests insert: JSON syntax, number parts, escapes, non-ASCII, a lone surrogate. */
const PALETTE = ['"', '\\', '{', '}', '[', ']', ',', ':', ' ', '-', '+', '.', '0', '1', '9', 'e', 'E', 'n', 't', 'é', '\u0000', '\t', '\ud83d', 'x'];

test('every recorded high-volume line takes the fast path and reads exactly as JSON.parse', (t) => {
  t.is(FAST_LINES.length, 18);
  for (const line of FAST_LINES) {
    const fast = parseProbeLineFast(line);
    t.truthy(fast, `fast path refused a recorded line: ${line}`);
    t.deepEqual(fast, JSON.parse(line) as ProbeRecord, line);
    t.true(sameValue(fast, JSON.parse(line)), `key order or -0 differs: ${line}`);
  }
  for (const line of LINES) t.deepEqual(parseProbeLine(line), parseProbeLineJson(line), line);
});

test('odd but possible lines read the same as through JSON.parse and the shape checks', (t) => {
  const odd: string[] = [];
  const vary = (line: string, from: string | RegExp, ...tos: string[]) => {
    for (const to of tos) {
      const v = line.replace(from, to);
      t.not(v, line, `${String(from)} not in ${line}`);
      odd.push(v);
    }
  };
  // strings: escapes, unicode (raw and escaped), a lone surrogate, raw control characters, braces
  vary(COUNT, '"iface":"lspxtA"', '"iface":"ls\\"x"', '"iface":"ls\\\\x"', '"iface":"\\u0041"', '"iface":"a\\/b"', '"iface":"é"', '"iface":"😀"', '"iface":"\ud800"', '"iface":"a\tb"', '"iface":"a}b"', '"iface":"{"', '"iface":""');
  vary(CONN, '"from":"FIN_WAIT2"', '"from":"\\u00e9"', '"from":"é"', '"from":"x\u0001"', '"from":"}{"', '"from":"\u2028"', '"from":"\u007f"');
  vary(SAMPLE, '"oif":"lspxtA"', '"oif":"-"', '"oif":"ls pxtA"', '"oif":"ls\\tA"', '"oif":"\u00ff"');
  vary(COUNT, '"probe":"pktlat"', '"probe":"pkt\\u006cat"', '"probe":""');
  // keys: reordered, missing, extra, duplicated, differently spelled
  vary(COUNT, /"w":(\d+),"d":(\d+)/, '"d":$2,"w":$1');
  vary(COUNT, /,"d":\d+/, '', ',"d":1,"x":2');
  vary(COUNT, /\}$/, ',"v":1}', ',"extra":true}', ',"v":null}');
  vary(ROUTE, '"gw":', '"GW":', '"gw" :');
  vary(SAMPLE, '"first":true', '"first":false', '"first":"true"', '"first":1', '"first":null');
  // whitespace and line ends
  vary(COUNT, '"v":', '"v": ', '"v":\t');
  vary(COUNT, /\}$/, ' }', '} ', '}\r', '}}', '},');
  vary(COUNT, /^\{/, ' {', '{ ');
  // numbers: signs, exponents, fractions, leading zeros, beyond 2^53, beyond 64 bits
  vary(COUNT, /"v":\d+/, '"v":-5', '"v":-0', '"v":0', '"v":1e3', '"v":1E3', '"v":1e+3', '"v":1.5', '"v":1.0', '"v":01', '"v":00', '"v":+1', '"v":.5', '"v":1.', '"v":-', '"v":--1', '"v":999999999999999', '"v":9999999999999999', '"v":1234567890123456', '"v":9007199254740993', '"v":18446744073709551615', '"v":123456789012345678901234567890', '"v":-18446744073709551615', '"v":0x10', '"v":Infinity', '"v":NaN', '"v":"1"', '"v":true');
  vary(ROUTE, '"err":0', '"err":-11', '"err":-0', '"err":-011', '"err":-1e1');
  vary(SAMPLE, '"oif_index":2', '"oif_index":-1', '"oif_index":4294967295');
  vary(CONN, /"est":\d+/, '"est":null', '"est":nul', '"est":NULL', '"est":-1', '"est":18446744073709551615');
  vary(CONN, /"ts":\d+/, '"ts":18446744073709551615', '"ts":9007199254740993');
  vary(HIST, /"sum":\d+/, '"sum":18446744073709551615', '"sum":12345678901234567');
  // hist slot arrays
  vary(HIST, /"b":\[[^\]]*\]/, '"b":[]', '"b":[1]', '"b":[1,-2]', '"b":[-0]', '"b":[1,2,]', '"b":[,1]', '"b":[1,,2]', '"b":[1.5,2]', '"b":[1e2,2]', '"b":[18446744073709551615,1,9007199254740993,2]', '"b":[ 1,2]', '"b":[01]', '"b":"1,1"', '"b":{}', '"b":[1', '"b":null');
  // tags: empty, odd keys, non-string values, nested objects
  vary(COUNT, /"tags":\{[^}]*\}/, '"tags":{}', '"tags":{"a":"1"}', '"tags":{"__proto__":"x"}', '"tags":{"2":"x","b":"y","1":"z"}', '"tags":{"a":"1","a":"2"}', '"tags":{"a":1}', '"tags":{"a":null}', '"tags":{"a":{"b":"c"}}', '"tags":{"a":"}"}', '"tags":{"a""b"}', '"tags":{"a":"b",}', '"tags":[]', '"tags":null', '"tags":{"":""}');
  // record types the fast path must not take for one of its own
  vary(COUNT, '"t":"count"', '"t":"counts"', '"t":"coun"', '"t":"conn"', '"t":"hist"', '"t":"lost"', '"t":"Count"');
  vary(ROUTE, '"t":"route"', '"t":"route_sample"', '"t":"routes"');
  vary(CONN, '"side":"server"', '"side":"serverx"', '"side":"peer"', '"side":""');
  vary(CONN, '"state":"closed"', '"state":"open"', '"state":"failed"', '"state":"opened"', '"state":"closing"', '"state":"clos\\u0065d"');
  odd.push('', '{', '{}', '[1,2]', 'null', '{"t":"count"}', '{"t":"c', 'libbpf: prog load failed', '{"t":"count","probe":"x"}');
  t.true(odd.length > 130, `${odd.length} odd lines`);
  t.deepEqual(disagreements(odd), []);
  for (const line of odd) t.deepEqual(parseProbeLine(line), parseProbeLineJson(line), line);
  // what the fast path does accept, it reads exactly as JSON.parse (a few cases it must take)
  for (const line of odd) {
    const fast = parseProbeLineFast(line);
    if (fast !== undefined) t.true(sameValue(fast, JSON.parse(line)), line);
  }
  for (const v of ['"v":-0', '"v":9007199254740993', '"v":18446744073709551615', '"iface":"é"', '"from":"}{"', '"b":[1,-2]', '"tags":{}']) {
    t.true(odd.some((l) => l.includes(v) && parseProbeLineFast(l) !== undefined), `fast path refused ${v}`);
  }
  for (const v of ['"iface":"a}b"', '"iface":"\\u0041"', '"v":1e3', '"v": ', '"b":[1.5,2]', '"state":"opened"']) {
    t.true(odd.some((l) => l.includes(v)) && odd.every((l) => !l.includes(v) || parseProbeLineFast(l) === undefined), `fast path took ${v}`);
  }
  t.true(Object.is((parseProbeLine(COUNT.replace(/"v":\d+/, '"v":-0')) as { v: number }).v, -0));
  t.is((parseProbeLine(COUNT.replace(/"v":\d+/, '"v":18446744073709551615')) as { v: number }).v, 18446744073709551615);
  t.is((parseProbeLine(COUNT.replace(/"v":\d+/, '"v":9007199254740993')) as { v: number }).v, 9007199254740992);
});

test('every prefix of every recorded line, and random mutations, read as the reference does', (t) => {
  const prefixes = LINES.flatMap((l) => Array.from({ length: l.length }, (_, i) => l.slice(0, i)));
  t.deepEqual(disagreements(prefixes), []);

  const rand = seeded(0x5eed);
  const mutants: string[] = [];
  for (const line of FAST_LINES) {
    for (let k = 0; k < 400; k++) {
      let m = line;
      for (let edits = 1 + rand(2); edits > 0; edits--) {
        const at = rand(m.length + 1);
        const op = rand(3);
        const ch = PALETTE[rand(PALETTE.length)];
        m = op === 0 ? m.slice(0, at) + m.slice(at + 1) : op === 1 ? m.slice(0, at) + ch + m.slice(at) : m.slice(0, at) + ch + m.slice(at + 1);
      }
      mutants.push(m);
    }
  }
  const accepted = mutants.filter((m) => parseProbeLineFast(m) !== undefined).length;
  t.true(accepted > 1000, `only ${accepted} mutants took the fast path`);
  t.true(mutants.length - accepted > 1000, 'most odd mutants are left to JSON.parse');
  t.deepEqual(disagreements(mutants), []);
});

test('a byte stream split anywhere (also inside a UTF-8 character) gives the same records', (t) => {
  const lines = [
    COUNT,
    CONN,
    HIST,
    COUNT.replace('"iface":"lspxtA"', '"iface":"é😀"'),
    SAMPLE,
    '{"t":"error","probe":"tcpwatch","msg":"ünïcödé \\u00e9 — failed"}',
    ROUTE,
  ];
  const bytes = Buffer.from(lines.join('\n') + '\n', 'utf8');
  const expected = lines.map((l) => parseProbeLineJson(l));
  t.true(expected.every((r) => r !== undefined));
  const read = (cuts: number[]): (ProbeRecord | undefined)[] => {
    const out: (ProbeRecord | undefined)[] = [];
    const decoder = new StringDecoder('utf8');
    const split = new LineSplitter((line) => out.push(parseProbeLine(line)));
    let from = 0;
    for (const cut of [...cuts, bytes.length]) {
      split.push(decoder.write(bytes.subarray(from, cut)));
      from = cut;
    }
    split.push(decoder.end());
    split.end();
    return out;
  };
  const wrong: number[] = [];
  for (let at = 0; at <= bytes.length; at++) {
    if (!sameValue(read([at]), expected)) wrong.push(at);
    if (!sameValue(read([at, Math.min(bytes.length, at + 3), Math.min(bytes.length, at + 101)]), expected)) wrong.push(-at);
  }
  t.deepEqual(wrong, []);
  t.deepEqual(read([]), expected);
  // a last line without its newline (a loader killed mid-write) still reaches end()
  const torn: (ProbeRecord | undefined)[] = [];
  const split = new LineSplitter((line) => torn.push(parseProbeLine(line)));
  split.push(`${COUNT}\n${CONN}`);
  split.end();
  t.deepEqual(torn, [parseProbeLineJson(COUNT), parseProbeLineJson(CONN)]);
});

test('tags objects are shared and frozen; records never share mutable state', (t) => {
  const a = parseProbeLine(COUNT) as Extract<ProbeRecord, { t: 'count' }>;
  const b = parseProbeLine(COUNT.replace(/"v":\d+/, '"v":1')) as Extract<ProbeRecord, { t: 'count' }>;
  t.is(a.tags, b.tags);
  t.true(Object.isFrozen(a.tags));
  t.not(a, b);
  const h1 = parseProbeLine(HIST) as Extract<ProbeRecord, { t: 'hist' }>;
  const h2 = parseProbeLine(HIST) as Extract<ProbeRecord, { t: 'hist' }>;
  t.not(h1.b, h2.b);
  h1.b.push(1);
  t.deepEqual(h2.b, (JSON.parse(HIST) as { b: number[] }).b);
});

// Streams as loaders print them: the same lines again and again with other integers, now and then
// something odd. The fast path must read most of them, and each exactly as the plain path does.

/** Integers that name rather than measure (kept as they are); every other one may vary. */
const FIXED_KEYS = new Set(['d', 'table', 'err', 'proto', 'oif_index', 'flow_oif', 'flow_iif']);
/** Integers as JSON writes them, near and past the edges of exact doubles. */
const INTS = ['0', '-0', '7', '-11', '2147483648', '123456789012', '999999999999999', '1000000000000000', '9007199254740993', '18446744073709551615', '-123456789012345678901234567890'];
/** Not integers as JSON writes them, in an integer's place. */
const NOT_INTS = ['01', '-01', '00', '-', '--1', '+1', '1.5', '1e3', '1E3', '1.', '.5', ' 1', '1 ', '', 'null', '"1"', '0x10'];
const SLOT_LISTS = ['[]', '[0]', '[-0]', '[1,-2]', '[7,9007199254740993,18446744073709551615,-123456789012345678901234567890,1]', `[${Array.from({ length: 3000 }, (_, i) => i % 97).join(',')}]`];
const NOT_SLOT_LISTS = ['[01]', '[1,]', '[,1]', '[1,,2]', '[ 1]', '[1 ]', '[1.5]', '[1e2]', '[-]', '[1', '1]', '[[1]]', '[1,-]', '[-01]'];

/** line with its varying integers (and slot list) replaced: pick(key, n) gives the new text for the integer at key, n counting them. */
function withInts(line: string, pick: (key: string, n: number) => string | undefined, list?: string): string {
  let n = 0;
  const out = line.replace(/"(\w+)":(-?\d+)/g, (m, key: string) => {
    const v = FIXED_KEYS.has(key) ? undefined : pick(key, n++);
    return v === undefined ? m : `"${key}":${v}`;
  });
  return list === undefined ? out : out.replace(/"b":\[[^\]]*\]/, `"b":${list}`);
}

test('a stream that repeats as loaders print it reads as the reference, mostly by the fast path', (t) => {
  const lines: string[] = [];
  let k = 0;
  for (let round = 0; round < 40; round++) {
    for (const line of FAST_LINES) {
      k++;
      // mostly integers, now and then something JSON.parse must judge
      const odd = k % 11 === 0;
      lines.push(
        withInts(
          line,
          (key, n) => (key === 'w' || key === 'ts' ? String(1_139_900_704_785 + round) : odd && n === 1 ? NOT_INTS[k % NOT_INTS.length] : INTS[(k + n) % INTS.length]),
          k % 7 === 0 ? NOT_SLOT_LISTS[k % NOT_SLOT_LISTS.length] : SLOT_LISTS[k % SLOT_LISTS.length],
        ),
      );
    }
  }
  const before = fastReadCount();
  t.deepEqual(disagreements(lines), []);
  const byFastPath = fastReadCount() - before;
  t.true(byFastPath > lines.length / 2, `only ${byFastPath} of ${lines.length} lines read by the fast path`);
  t.true(lines.filter((l) => parseProbeLineJson(l) === undefined).length > 50, 'enough lines for JSON.parse to refuse');
});

test('after lines of the same layout, odd variants of each line read as the reference', (t) => {
  for (let i = 0; i < 3; i++) for (const line of FAST_LINES) parseProbeLine(line);
  const rand = seeded(0xbead);
  const wrong: string[] = [];
  let byFastPath = 0;
  let variants = 0;
  FAST_LINES.forEach((line, i) => {
    const variantsOf: string[] = [];
    // each integer in turn replaced by an integer or by something else
    const count = withInts(line, () => undefined).match(/"\w+":-?\d+/g)?.length ?? 0;
    for (let at = 0; at < count; at++) for (const v of [...INTS, ...NOT_INTS]) variantsOf.push(withInts(line, (_, n) => (n === at ? v : undefined)));
    for (const list of [...SLOT_LISTS, ...NOT_SLOT_LISTS]) if (line.includes('"b":[')) variantsOf.push(withInts(line, () => undefined, list));
    // and random edits
    for (let e = 0; e < 300; e++) {
      const at = rand(line.length + 1);
      const ch = PALETTE[rand(PALETTE.length)];
      const op = rand(3);
      variantsOf.push(op === 0 ? line.slice(0, at) + line.slice(at + 1) : op === 1 ? line.slice(0, at) + ch + line.slice(at) : line.slice(0, at) + ch + line.slice(at + 1));
    }
    for (const v of variantsOf) {
      // after its predecessor, as in a loader's stream
      parseProbeLine(FAST_LINES[(i + FAST_LINES.length - 1) % FAST_LINES.length]);
      const before = fastReadCount();
      if (!sameValue(parseProbeLine(v), parseProbeLineJson(v))) wrong.push(v);
      byFastPath += fastReadCount() - before;
      variants++;
    }
  });
  t.deepEqual(wrong, []);
  t.true(byFastPath > 1000, `only ${byFastPath} variants read by the fast path`);
  t.true(variants - byFastPath > 1000, 'most odd variants are left to the plain path');
});

test('many distinct tag sets, very long lines and non-ASCII text still read as the reference', (t) => {
  const lines: string[] = [];
  // more distinct tag objects than the parser keeps
  for (let i = 0; i < 2500; i++) {
    const line = COUNT.replace('"iface":"lspxtA"', `"iface":"if${i}"`);
    for (let r = 0; r < 3; r++) lines.push(line.replace(/"v":\d+/, `"v":${i * 3 + r}`));
  }
  // a slot list of 40,000 integers, and non-ASCII text before the integers
  const huge = HIST.replace(/"b":\[[^\]]*\]/, `"b":[${Array.from({ length: 40_000 }, (_, i) => i).join(',')}]`);
  const accents = [CONN.replace('"laddr":"127.0.0.1"', '"laddr":"é"'), HIST.replace('"iface":"lspxtA"', '"iface":"😀"'), SAMPLE.replace('"oif":"lspxtA"', '"oif":"ü"')];
  for (let r = 0; r < 4; r++) lines.push(huge, ...accents.map((l) => withInts(l, (key) => (['lport', 'n', 'sport'].includes(key) ? String(r) : undefined))));
  t.deepEqual(disagreements(lines), []);
  t.true(lines.every((l) => parseProbeLine(l) !== undefined));
});
