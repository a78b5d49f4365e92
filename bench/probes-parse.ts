// Micro-measurement of the probe NDJSON reader: lines/s on one core for the common record types.
// Run: npx tsx bench/probes-parse.ts   (not a test; the figure depends on the machine and its load,
// so it prints a calibration loop and plain JSON.parse on the same lines for reference)
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { LineSplitter, parseProbeLine } from '../src/probes/ndjson.ts';

const recorded = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'probes', 'fixtures', 'recorded.ndjson'), 'utf8')
  .split('\n')
  .filter(Boolean);
const pick = (t: string) => recorded.filter((l) => l.startsWith(`{"t":"${t}"`));

/** Varies the numbers so V8 cannot memoize anything, as a real stream would. */
function stream(templates: string[], lines: number): string {
  const out: string[] = [];
  for (let i = 0; i < lines; i++) out.push(templates[i % templates.length].replace(/"w":(\d+)|"ts":(\d+)/, (m) => m.replace(/\d+$/, (d) => String(Number(d) + i))));
  return out.join('\n') + '\n';
}

function measureParseOnly(name: string, text: string): void {
  const lines = text.split('\n').filter(Boolean);
  let parsed = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (const line of lines) if (parseProbeLine(line)) parsed++;
  const s = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1e6;
  console.log(`${(name + ' [parse only]').padEnd(48)} ${String(parsed).padStart(8)} lines  ${(parsed / s / 1e6).toFixed(2)} M lines/s wall  ${(parsed / cpu / 1e6).toFixed(2)} M lines/CPU-s`);
}

/** The ceiling on this machine: touch each line once (indexOf + charCodeAt), no parsing. */
function measureTouch(name: string, text: string): void {
  const lines = text.split('\n').filter(Boolean);
  let x = 0;
  const c0 = process.cpuUsage();
  for (const line of lines) x += line.indexOf('"t"') + line.charCodeAt(line.length >> 1);
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1e6;
  console.log(`${(name + ' [read each line once, ceiling]').padEnd(48)} ${String(lines.length).padStart(8)} lines  ${''.padStart(18)}  ${(lines.length / cpu / 1e6).toFixed(2)} M lines/CPU-s${x < 0 ? '!' : ''}`);
}

function measureJsonParse(name: string, text: string): void {
  const lines = text.split('\n').filter(Boolean);
  let parsed = 0;
  const c0 = process.cpuUsage();
  for (const line of lines) if (JSON.parse(line)) parsed++;
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1e6;
  console.log(`${(name + ' [plain JSON.parse, reference]').padEnd(48)} ${String(parsed).padStart(8)} lines  ${''.padStart(18)}  ${(parsed / cpu / 1e6).toFixed(2)} M lines/CPU-s`);
}

/** How fast this core is right now: CPU ns per iteration of a trivial loop (a free modern x86 core: ~0.5-1). */
function calibrate(): number {
  const c0 = process.cpuUsage();
  let x = 0;
  for (let i = 0; i < 1e8; i++) x += i & 7;
  const c = process.cpuUsage(c0);
  if (x < 0) console.log(x);
  return ((c.user + c.system) * 1000) / 1e8;
}

function measure(name: string, text: string, chunk = 64 * 1024): void {
  let parsed = 0;
  let bad = 0;
  const split = new LineSplitter((line) => (parseProbeLine(line) ? parsed++ : bad++));
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < text.length; i += chunk) split.push(text.slice(i, i + chunk));
  split.end();
  const s = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1e6;
  const mb = Buffer.byteLength(text) / 1e6;
  console.log(
    `${(name + ' [split+parse]').padEnd(48)} ${String(parsed).padStart(8)} lines  ${(parsed / s / 1e6).toFixed(2)} M lines/s wall  ${(parsed / cpu / 1e6).toFixed(2)} M lines/CPU-s  ${(mb / s).toFixed(0)} MB/s${bad ? `  (${bad} rejected!)` : ''}`,
  );
}

const N = 1_000_000;
const sets: [string, string[]][] = [
  ['count (pkt_count, drops, tcp_*)', pick('count')],
  ['conn (TCP lifecycle)', pick('conn')],
  ['route_sample', pick('route_sample')],
  ['route', pick('route')],
  ['hist (20-40 slots)', pick('hist')],
  ['mix (as a loaded run emits)', [...pick('count'), ...pick('count'), ...pick('conn'), ...pick('conn'), ...pick('route_sample'), ...pick('route'), ...pick('hist')]],
];
console.log(`calibration: ${calibrate().toFixed(2)} CPU-ns per trivial loop iteration (a free modern x86 core: ~0.5-1)`);
console.log(`load average ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')} on ${(await import('node:os')).cpus().length} CPUs (other work on the machine slows the wall figure)`);
for (let round = 0; round < 2; round++) {
  console.log(round === 0 ? '# warm-up' : '# measured');
  for (const [name, templates] of sets) {
    const text = stream(templates, round === 0 ? N / 5 : N);
    measure(name, text);
    measureParseOnly(name, text);
    if (round === 1) {
      measureJsonParse(name, text);
      measureTouch(name, text);
    }
  }
}
