// The loader output reader, histogram conversion, clock mapping and summary, on recorded loader lines.
import { buildResult } from '../../src/analyze/results.ts';
import { syntheticRecords } from '../helpers/synthetic-journal.ts';
import test from 'ava';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { summarizeProbes } from '../../src/analyze/probes.ts';
import { decode, encode } from '../../src/core/histogram.ts';
import { loglinToEncoded, loglinToHistogram, LOGLIN_SLOTS, slotOf, slotRange } from '../../src/kernel/loghist.ts';
import { windowIndex } from '../../src/core/clock.ts';
import { monoToEpochMs, ProbeRecordMapper } from '../../src/kernel/mapper.ts';
import { alignArg } from '../../src/kernel/probes.ts';
import { LineSplitter, ProbeLineParser } from '../../src/kernel/ndjson.ts';
import type { ProbeRecord } from '../../src/kernel/types.ts';
import { MemorySink } from './helpers/netns.ts';

/** One parser for the file, as one loader's stream has. */
const parser = new ProbeLineParser();
const parseProbeLine = (line: string) => parser.parse(line);

const RECORDED = readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'recorded.ndjson'), 'utf8');
const LINES = RECORDED.split('\n').filter(Boolean);

test('every recorded loader line parses into its record type', (t) => {
  const types = new Map<string, number>();
  for (const line of LINES) {
    const r = parseProbeLine(line);
    t.truthy(r, line);
    types.set(r!.t, (types.get(r!.t) ?? 0) + 1);
  }
  t.deepEqual([...types.keys()].sort(), ['clock', 'conn', 'count', 'end', 'error', 'hist', 'lost', 'ready', 'route', 'route_sample']);
  const hist = parseProbeLine(LINES.find((l) => l.includes('"t":"hist"'))!) as Extract<ProbeRecord, { t: 'hist' }>;
  t.is(hist.m, 'pkt_latency_ns');
  t.is(hist.tags.iface, 'lspxtA');
  let n = 0;
  for (let i = 1; i < hist.b.length; i += 2) n += hist.b[i];
  t.is(n, hist.n, 'slot counts add up to the record count');
});

test('the fast path reads exactly what JSON.parse reads', (t) => {
  for (const line of LINES) t.deepEqual(parseProbeLine(line), JSON.parse(line), line);
  // odd but valid variants fall back to JSON.parse and still parse the same
  const count = LINES.find((l) => l.includes('"t":"count"'))!;
  for (const v of [count.replace('"v":', '"v": '), count.replace('"tags":{', '"tags":{"x\\"y":"1",'), count.replace(/"v":(\d+)/, '"v":$1.5')]) {
    t.deepEqual(parseProbeLine(v), JSON.parse(v), v);
  }
  const conn = LINES.find((l) => l.includes('"t":"conn"'))!;
  const open = conn.replace(/"est":\d+/, '"est":null').replace('"state":"closed"', '"state":"open"');
  t.deepEqual(parseProbeLine(open), JSON.parse(open));
  const neg = LINES.find((l) => l.includes('"t":"route"'))!.replace('"err":0', '"err":-11');
  t.is((parseProbeLine(neg) as { err: number }).err, -11);
});

test('malformed, torn, unknown and mistyped lines are rejected, never thrown', (t) => {
  const good = LINES.find((l) => l.includes('"t":"count"'))!;
  for (let cut = 1; cut < good.length; cut += 7) t.is(parseProbeLine(good.slice(0, cut)), undefined);
  t.is(parseProbeLine(''), undefined);
  t.is(parseProbeLine('libbpf: prog load failed'), undefined);
  t.is(parseProbeLine('{"t":"nope","v":1}'), undefined);
  t.is(parseProbeLine('{"t":"toString"}'), undefined);
  t.is(parseProbeLine('{"t":"count","probe":"x","m":"pkt_count","w":"1","d":1,"tags":{},"v":1}'), undefined);
  t.is(parseProbeLine('{"t":"hist","probe":"x","m":"a","w":1,"d":1,"tags":{},"n":1,"sum":1,"b":"1,1"}'), undefined);
  t.is(parseProbeLine('[1,2]'), undefined);
});

test('line splitting gives the same lines at any chunk boundary', (t) => {
  const text = LINES.slice(0, 6).join('\n') + '\n';
  for (let at = 0; at <= text.length; at += 13) {
    const got: string[] = [];
    const s = new LineSplitter((l) => got.push(l));
    s.push(text.slice(0, at));
    s.push(text.slice(at, at + 5));
    s.push(text.slice(at + 5));
    s.end();
    t.deepEqual(got, LINES.slice(0, 6));
  }
  const torn: string[] = [];
  const s = new LineSplitter((l) => torn.push(l));
  s.push('{"t":"end"');
  s.end();
  t.deepEqual(torn, ['{"t":"end"']);
});

test('log-linear slots: every value lands in its slot, slots are at most 12.5% wide', (t) => {
  for (let s = 0; s < LOGLIN_SLOTS - 1; s++) {
    const { lo, hi } = slotRange(s);
    t.is(slotOf(lo), s);
    t.is(slotOf(hi - 1), s);
    if (s >= 16) t.true((hi - lo) / lo <= 0.125 + 1e-12);
    t.is(slotRange(s + 1).lo, hi, 'slots tile the range');
  }
  for (const v of [0, 1, 15, 16, 17, 31, 32, 1000, 1023, 1024, 123_456_789, 2 ** 39, 2 ** 41]) {
    const { lo, hi } = slotRange(slotOf(v));
    t.true(v >= lo && (v < hi || v >= 2 ** 40), `value ${v} in [${lo}, ${hi})`);
  }
});

test('kernel histograms convert to HDR with at most half a slot of error', (t) => {
  const values = Array.from({ length: 5000 }, (_, i) => Math.round(800 * Math.exp((i / 5000) * 6)));
  const slots = new Map<number, number>();
  for (const v of values) slots.set(slotOf(v), (slots.get(slotOf(v)) ?? 0) + 1);
  const h = loglinToHistogram([...slots].flat());
  t.is(h.totalCount, values.length);
  const sorted = [...values].sort((a, b) => a - b);
  for (const p of [50, 90, 99]) {
    const exact = sorted[Math.ceil((p / 100) * sorted.length) - 1];
    const got = h.getValueAtPercentile(p);
    t.true(Math.abs(got - exact) / exact <= 0.0625 + 0.002, `p${p}: ${got} vs ${exact}`);
  }
});

test('clock sync maps kernel monotonic time onto epoch ms exactly once', (t) => {
  const sync = { mono_ns: 1_000_000_000_000, realtime_ms: 1_700_000_000_123.456 };
  t.is(monoToEpochMs(sync, sync.mono_ns), 1_700_000_000_123.456);
  t.is(monoToEpochMs(sync, sync.mono_ns + 2_500_000), 1_700_000_000_125.956);
  t.is(monoToEpochMs(sync, sync.mono_ns - 1_000_000_000), 1_700_000_000_123.456 - 1000);

  const sink = new MemorySink();
  const m = new ProbeRecordMapper(sink, 'pktlat');
  const clock = parseProbeLine(LINES[0]) as Extract<ProbeRecord, { t: 'clock' }>;
  m.handle(clock);
  m.handle({ ...clock, mono_ns: clock.mono_ns + 5e9, realtime_ms: 0 }); // a second clock record is ignored
  const count = parseProbeLine(LINES.find((l) => l.includes('"m":"pkt_count"'))!) as Extract<ProbeRecord, { t: 'count' }>;
  m.handle(count);
  const s = sink.samples('probe.pkt_count')[0];
  t.is(s.time, monoToEpochMs(clock, count.w));
  t.true(Math.abs(s.time - (clock.realtime_ms + (count.w - clock.mono_ns) / 1e6)) < 0.001);
  t.is(s.value, count.v);
  t.deepEqual(s.tags, count.tags);
});

/** The window starts a loader emits for --align-ms `arg` (bpf/common/ls_loader.c window_t0 and ls_window_start, in doubles as there). */
function loaderWindowStarts(arg: string, clock: { mono_ns: number; realtime_ms: number }, nowNs: number, n: number): number[] {
  let t0 = clock.mono_ns + (Number(arg) - clock.realtime_ms) * 1e6;
  if (t0 > nowNs) t0 -= Math.ceil((t0 - nowNs) / 1e9) * 1e9;
  else t0 += Math.floor((nowNs - t0) / 1e9) * 1e9;
  const start = Math.max(0, Math.trunc(t0));
  return Array.from({ length: n }, (_, k) => start + k * 1e9);
}

test('the probes\' window k lands in the run\'s window k, whatever the run start\'s fraction of a µs', (t) => {
  // every double of one millisecond at today's epoch (their spacing is 2^-12 ms), each with a loader
  // whose wall clock reads 0.4 ms ahead of the run's time base, started 30 ms into the run
  const ms = 1_796_616_130_098;
  let misplaced = 0;
  for (let j = 0; j < 4096; j++) {
    const origin = ms + j / 4096;
    const arg = alignArg(origin);
    t.true(Number(arg) >= origin && Number(arg) - origin < 0.001, `${arg} for ${origin}`);
    const clock = { mono_ns: 123_456_789_012_345, realtime_ms: origin + 30.4 };
    const starts = loaderWindowStarts(arg, clock, clock.mono_ns + 1000, 3).map((w) => monoToEpochMs(clock, w));
    if (starts.some((s, k) => windowIndex(s, origin) !== k)) misplaced++;
  }
  t.is(misplaced, 0);
});

test('recorded lines map to probe.* samples and events, and summarize', (t) => {
  const sink = new MemorySink();
  const mappers = new Map<string, ProbeRecordMapper>();
  for (const line of LINES) {
    const r = parseProbeLine(line)!;
    const probe = r.probe;
    if (!mappers.has(probe)) mappers.set(probe, new ProbeRecordMapper(sink, probe));
    mappers.get(probe)!.handle(r);
  }
  const lat = sink.samples('probe.pkt_latency_ns');
  t.is(lat.length, 2);
  t.is(decode(lat[0].hist!).totalCount, lat[0].value);
  t.true(sink.records.every((r) => (r.type === 'sample' ? r.metric.startsWith('probe.') : r.type === 'event' && r.kind.startsWith('probe.'))));
  t.is(sink.events('probe.lost').length, 1);
  t.is(sink.samples('probe.lost_events')[0].value, 17);

  const s = summarizeProbes(sink.records);
  t.is(s.packetLatency.length, 2);
  t.is(s.packetLatency[0].unit, 'ns');
  t.true(s.packetLatency[0].p50 > 0 && s.packetLatency[0].p50 <= s.packetLatency[0].p99);
  t.deepEqual(s.packets.map((p) => `${p.iface}/${p.dir}`).sort(), ['lspxtA/tx', 'lspxtB/rx']);
  t.true(s.routes.some((r) => r.table === 100 && r.dst === '198.19.1.7' && r.gw === '198.18.0.2' && r.oif === 'lspxtA'));
  t.is(s.drops.byReason[0].reason, 'QDISC_DROP');
  t.true(s.retransmits.segments > 0);
  t.is(s.rtt[0].unit, 'us');
  t.is(s.connections.opened, 1);
  t.truthy(s.connections.durationMs);
  t.is(s.lostEvents.total, 17);
  t.deepEqual(s.lostEvents.byProbe, { fibroute: 17, pktlat: 0 });
  t.deepEqual(s.loaders.map((l) => l.probe).sort(), ['fibroute', 'pktlat']);
  t.true(Object.keys(s).every((k) => k !== 'status'), 'the run adds status; the summary must not override it');
});

test('summarizeProbes of a run without probes is empty, not an error', (t) => {
  const s = summarizeProbes([]);
  t.deepEqual(s.packets, []);
  t.is(s.lostEvents.total, 0);
  t.is(s.connections.opened, 0);
});

test('loglinToEncoded (slots straight to HDR buckets) encodes exactly what a histogram of the same slots does', (t) => {
  let seed = 11;
  const r = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 300; i++) {
    const b: number[] = [];
    for (let k = 0, n = 1 + Math.floor(r() * 40); k < n; k++) b.push(Math.floor(r() * LOGLIN_SLOTS), 1 + Math.floor(r() * 1000));
    t.is(loglinToEncoded(b), encode(loglinToHistogram(b)), `input ${i}`);
  }
});

test('probes on that counted no packet of the target make a notice in results.json', (t) => {
  const recs = [...syntheticRecords({ seconds: 4, packetRecords: 5, events: 4 })];
  const notice = (r: ReturnType<typeof buildResult>) => r.notices.filter((n) => n.includes('counted no packet'));
  t.deepEqual(notice(buildResult(recs)), [], 'packets were counted: no notice');
  const none = notice(buildResult(recs.filter((r) => !(r.type === 'sample' && r.metric === 'probe.pkt_count'))));
  t.log(none);
  t.is(none.length, 1);
});


test("pktlat's end record carries how late its window timer fired, into probe.end and results' loaders", (t) => {
  const sink = new MemorySink();
  const m = new ProbeRecordMapper(sink, 'pktlat');
  m.handle(parseProbeLine(LINES[0])!);
  const end = parseProbeLine('{"t":"end","probe":"pktlat","ts":1142025257133,"cpu_s":0.041,"lines":23,"lost":{"ringbuf":0,"map_full":0},"stale":2,"overwritten":1,"fidelity":"sampled","win_late_us":12.345,"progs":{}}');
  t.truthy(end, 'the end record parses');
  m.handle(end!);
  t.is(sink.events('probe.end')[0].attrs.windowLateUs, 12.345);
  t.deepEqual(summarizeProbes(sink.records).loaders, [{ probe: 'pktlat', cpuSeconds: 0.041, lines: 23, lost: 0, stale: 2, overwritten: 1, windowLateUs: 12.345 }]);
});
