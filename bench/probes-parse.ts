// Micro-measurement of the probe NDJSON reader: lines/s on one core for the common record types.
// Run: npx tsx bench/probes-parse.ts   (LINES=200000 for a quicker look; not a test: the figure
// depends on the machine and its load, so it prints a calibration loop and plain JSON.parse on the
// same lines for reference)
//
// Per record type, each on the same 1M lines, CPU time of this thread (process.cpuUsage):
//   split+parse   64 KiB Buffer chunks as the loader's stdout gives them, decoded as the stream's
//                 setEncoding('utf8') does (StringDecoder), LineSplitter, ProbeLineParser (one per stream)
//   parse only    ProbeLineParser.parse over lines already split
//   mapper only   ProbeRecordMapper.handle of the first 100k parsed records into a sink that drops them
// Three measured rounds; the summary gives the median and, in brackets, the lowest round.
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { fileURLToPath } from 'node:url';
import { ProbeRecordMapper } from '../src/kernel/mapper.ts';
import { LineSplitter, parseProbeLineJson, ProbeLineParser } from '../src/kernel/ndjson.ts';
import type { ProbeRecord } from '../src/kernel/types.ts';
import type { Sink } from '../src/core/types.ts';

const recorded = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'kernel', 'fixtures', 'recorded.ndjson'), 'utf8')
  .split('\n')
  .filter(Boolean);
const pick = (t: string) => recorded.filter((l) => l.startsWith(`{"t":"${t}"`));

/** Varies the numbers so V8 cannot memoize anything, as a real stream would. */
function stream(templates: string[], lines: number): string {
  const out: string[] = [];
  for (let i = 0; i < lines; i++) out.push(templates[i % templates.length].replace(/"w":(\d+)|"ts":(\d+)/, (m) => m.replace(/\d+$/, (d) => String(Number(d) + i))));
  return out.join('\n') + '\n';
}

/** One record mix, held every way the measurements need it (built per set: 1M lines of each at once would not fit). */
interface Lines {
  buf: Buffer;
  lines: string[];
}

function prepare(text: string): Lines {
  return { buf: Buffer.from(text, 'utf8'), lines: text.split('\n').filter(Boolean) };
}

function cpuSeconds(fn: () => void): number {
  const c0 = process.cpuUsage();
  fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e6;
}

/** A measurement: how many lines it handled and the CPU seconds that took. */
type Measure = (l: Lines) => { lines: number; cpu: number };

const timed =
  (fn: (l: Lines) => number): Measure =>
  (l) => {
    let lines = 0;
    const cpu = cpuSeconds(() => (lines = fn(l)));
    return { lines, cpu };
  };

const CHUNK = 64 * 1024;
const dropSink: Sink = { sample: () => undefined, event: () => undefined };
const clock = parseProbeLineJson(pick('clock')[0]) as Extract<ProbeRecord, { t: 'clock' }>;

const MEASURES: Record<string, Measure> = {
  'split+parse': timed((l) => {
    let parsed = 0;
    const decoder = new StringDecoder('utf8');
    const parser = new ProbeLineParser();
    const split = new LineSplitter((line) => {
      if (parser.parse(line) === undefined) throw new Error(`a line was rejected: ${line}`);
      parsed++;
    });
    for (let i = 0; i < l.buf.length; i += CHUNK) split.push(decoder.write(l.buf.subarray(i, i + CHUNK)));
    split.end();
    return parsed;
  }),
  'parse only': timed((l) => {
    let parsed = 0;
    const parser = new ProbeLineParser();
    for (const line of l.lines) if (parser.parse(line)) parsed++;
    return parsed;
  }),
  // the first 100k records, parsed outside the timing (a hist record costs the mapper ~100 µs)
  'mapper only': (l) => {
    const mapper = new ProbeRecordMapper(dropSink, 'bench');
    mapper.handle(clock);
    const parser = new ProbeLineParser();
    const records = l.lines.slice(0, 100_000).map((line) => parser.parse(line)!);
    return { lines: records.length, cpu: cpuSeconds(() => records.forEach((r) => mapper.handle(r))) };
  },
};

/** References on the same lines: plain JSON.parse, and touching each line once (no parsing: the ceiling). */
const REFERENCES: Record<string, Measure> = {
  'plain JSON.parse, reference': timed((l) => {
    let parsed = 0;
    for (const line of l.lines) if (JSON.parse(line)) parsed++;
    return parsed;
  }),
  'read each line once, ceiling': timed((l) => {
    let x = 0;
    for (const line of l.lines) x += line.indexOf('"t"') + line.charCodeAt(line.length >> 1);
    return x < 0 ? 0 : l.lines.length;
  }),
};

/** How fast this core is right now: CPU ns per iteration of a trivial loop (a free modern x86 core: ~0.5-1). */
function calibrate(): number {
  const c0 = process.cpuUsage();
  let x = 0;
  for (let i = 0; i < 1e8; i++) x += i & 7;
  const c = process.cpuUsage(c0);
  if (x < 0) console.log(x);
  return ((c.user + c.system) * 1000) / 1e8;
}

const label = (name: string, what: string) => `${name} [${what}]`.padEnd(52);
const rate = (x: number) => `${(x / 1e6).toFixed(2)} M lines/CPU-s`;

const N = Number(process.env.LINES ?? 1_000_000);
const ROUNDS = 3;
const mixes: [string, string[]][] = [
  ['count (pkt_count, drops, tcp_*)', pick('count')],
  ['conn (TCP lifecycle)', pick('conn')],
  ['route_sample', pick('route_sample')],
  ['route', pick('route')],
  ['hist (20-40 slots)', pick('hist')],
  ['mix (as a loaded run emits)', [...pick('count'), ...pick('count'), ...pick('conn'), ...pick('conn'), ...pick('route_sample'), ...pick('route'), ...pick('hist')]],
];

/** One pass over every mix and measure; the lines of one mix are built just before it is measured. */
function pass(lines: number, measures: Record<string, Measure>, onResult: (key: string, linesPerCpuS: number, n: number) => void): void {
  for (const [name, templates] of mixes) {
    const l = prepare(stream(templates, lines));
    for (const [what, measure] of Object.entries(measures)) {
      const { lines: n, cpu } = measure(l);
      onResult(label(name, what), n / cpu, n);
    }
  }
}

console.log(`calibration: ${calibrate().toFixed(2)} CPU-ns per trivial loop iteration (a free modern x86 core: ~0.5-1)`);
console.log(`load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} on ${cpus().length} CPUs (CPU time, not wall time, is measured)`);
console.log('# warm-up');
pass(N / 5, MEASURES, (key, r, n) => console.log(`${key} ${String(n).padStart(8)} lines  ${rate(r)}`));
const results = new Map<string, { rates: number[]; lines: number }>();
for (let round = 1; round <= ROUNDS; round++) {
  console.log(`# round ${round} of ${ROUNDS}`);
  pass(N, MEASURES, (key, r, n) => {
    results.set(key, { rates: [...(results.get(key)?.rates ?? []), r], lines: n });
    console.log(`${key} ${rate(r)}`);
  });
}
console.log(`# measured: median of ${ROUNDS} rounds (lowest round in brackets)`);
for (const [key, { rates, lines }] of results) {
  const sorted = [...rates].sort((a, b) => a - b);
  console.log(`${key} ${String(lines).padStart(8)} lines  ${rate(sorted[sorted.length >> 1])}  (min ${(sorted[0] / 1e6).toFixed(2)})`);
}
console.log(`# references (one round), calibration now ${calibrate().toFixed(2)} CPU-ns`);
pass(N, REFERENCES, (key, r, n) => console.log(`${key} ${String(n).padStart(8)} lines  ${rate(r)}`));
