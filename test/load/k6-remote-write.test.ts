import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { now } from '../../src/core/clock.ts';
import { decodeSparse, encodeSparse, mergeEncoded, summarize } from '../../src/core/histogram.ts';
import type { Sample, Sink } from '../../src/core/types.ts';
import { addNative, K6Collector, splitNative, toHdr } from '../../src/load/k6/collector.ts';
import { K6Engine } from '../../src/load/k6/engine.ts';
import { RemoteWriteReceiver, histogramDelta, reduceSchema, type SeriesDelta } from '../../src/load/k6/receiver.ts';
import { decodeWriteRequest, encodeWriteRequest, expand, RemoteWriteFormatError, type NativeHistogram } from '../../src/load/k6/remote-write.ts';
import type { LoadPlan } from '../../src/load/types.ts';
import { needs } from '../helpers/needs.ts';
import { MemorySink } from '../helpers/memory-sink.ts';

// The remote-write path of the k6 engine: the wire format (snappy + protobuf, native histograms),
// the receiver's cumulative → delta step for several senders, the exact merge, and the real k6
// (.tools/bin/k6) against it: windows agree with k6's own end-of-test summary.

const K6_BIN = fileURLToPath(new URL('../../.tools/bin/k6', import.meta.url));


function hist(schema: number, buckets: [number, number][], zeroCount = 0, timestamp = 1000): NativeHistogram {
  const positive = new Map(buckets);
  const count = zeroCount + buckets.reduce((a, [, c]) => a + c, 0);
  return { count, sum: count * 0.01, schema, zeroThreshold: 2.938735877055719e-39, zeroCount, positive, negative: new Map(), timestamp };
}

test('wire format: a WriteRequest with labels, samples and native histograms (gaps, negative indexes) survives encode → decode', (t) => {
  const h = hist(3, [[-80, 5], [-79, 2], [-77, 9], [-40, 1], [3, 4]], 2, 1234);
  const body = encodeWriteRequest([
    { labels: { __name__: 'k6_http_req_duration_seconds', status: '200', scenario: 's' }, samples: [], histograms: [h] },
    { labels: { __name__: 'k6_data_received_total' }, samples: [{ value: 123456, timestamp: 1_796_000_000_123 }], histograms: [] },
  ]);
  const [a, b] = decodeWriteRequest(body);
  t.deepEqual(a.labels, { __name__: 'k6_http_req_duration_seconds', status: '200', scenario: 's' });
  t.deepEqual(a.histograms[0], h);
  t.deepEqual(b.samples, [{ value: 123456, timestamp: 1_796_000_000_123 }]);
});

test('wire format: spans and deltas expand as the protocol documents; malformed bodies are a RemoteWriteFormatError, never a crash', (t) => {
  // first span at index -2, 2 buckets; a gap of 3; one more bucket: counts 4, 6, 1
  t.deepEqual([...expand([{ offset: -2, length: 2 }, { offset: 3, length: 1 }], [4, 2, -5])], [[-2, 4], [-1, 6], [3, 1]]);
  t.throws(() => expand([{ offset: 0, length: 3 }], [1, 1]), { instanceOf: RemoteWriteFormatError });
  t.throws(() => expand([{ offset: 0, length: 1 }], [1, 1]), { instanceOf: RemoteWriteFormatError });
  t.throws(() => expand([{ offset: 0, length: 2 }], [1, -2]), { instanceOf: RemoteWriteFormatError, message: /below zero/ });
  t.throws(() => decodeWriteRequest(Buffer.from('definitely not snappy')), { instanceOf: RemoteWriteFormatError });
});

test('native histograms: a delta subtracts bucket by bucket; a coarser schema is met exactly; a lower count is a restart', (t) => {
  const a = hist(3, [[-80, 5], [-79, 2]]);
  const b = hist(3, [[-80, 7], [-79, 2], [-70, 1]], 1);
  const d = histogramDelta(a, b);
  t.is(d.count, 4);
  t.is(d.zeroCount, 1);
  t.deepEqual([...d.positive], [[-80, 2], [-70, 1]]);
  // schema 3 → 2: buckets -80 and -79 fall into ⌈-80/2⌉ = -40 and ⌈-79/2⌉ = -39
  t.deepEqual([...reduceSchema(a, 2).positive], [[-40, 5], [-39, 2]]);
  const coarse = hist(2, [[-40, 6], [-39, 3]]);
  t.deepEqual([...histogramDelta(a, coarse).positive], [[-40, 1], [-39, 1]]);
  t.is(histogramDelta(b, a), a, 'count went down: the sender restarted, all of it is new');
});

test('merging is exact: the HDR form of the summed native buckets equals the sum of each part\'s HDR form', (t) => {
  const parts = [hist(3, [[-100, 3], [-90, 10], [-60, 1]], 1), hist(3, [[-100, 1], [-89, 4], [-20, 2]]), hist(2, [[-45, 2]])];
  let sum: ReturnType<typeof addNative> | undefined;
  for (const p of parts) sum = addNative(sum, p);
  const merged = summarize(mergeEncoded([toHdr(sum!)].map((s) => encodeSparse(s))));
  // each part alone at schema 2 (the coarsest), then merged as HDR
  const alone = parts.map((p) => encodeSparse(toHdr(addNative(undefined, reduceSchema(p, 2)))));
  t.deepEqual(summarize(mergeEncoded(alone)), merged);
  t.is(merged.count, 24);
  // a native bucket sits at its upper bound: 2^(-45/4) s = 411 µs (HDR is exact to 1 µs below 2048 µs)
  const one = summarize(mergeEncoded([encodeSparse(toHdr(addNative(undefined, hist(2, [[-45, 1]]))))]));
  t.deepEqual([one.count, one.min, one.max], [1, 411, 411]);
});

test('the receiver: cumulative pushes become deltas per sender and series; wrong token, path, encoding or body are refused and counted', async (t) => {
  const deltas: SeriesDelta[] = [];
  const rx = new RemoteWriteReceiver((d) => deltas.push(d));
  await rx.start();
  t.teardown(() => rx.stop());
  const post = (url: string, body: Uint8Array, headers: Record<string, string> = {}) =>
    fetch(url, { method: 'POST', body, headers: { authorization: `Bearer ${rx.token}`, 'content-encoding': 'snappy', 'content-type': 'application/x-protobuf', ...headers } });
  const push = (counter: number, h: NativeHistogram, ts: number) => encodeWriteRequest([
    { labels: { __name__: 'k6_loadscope_sent_total', scenario: 's' }, samples: [{ value: counter, timestamp: ts }], histograms: [] },
    { labels: { __name__: 'k6_http_req_duration_seconds', scenario: 's', status: '200' }, samples: [], histograms: [{ ...h, timestamp: ts }] },
  ]);
  t.is((await post(rx.urlFor('0'), push(10, hist(3, [[-80, 10]]), 1000))).status, 204);
  t.is((await post(rx.urlFor('1'), push(5, hist(3, [[-80, 5]]), 1050))).status, 204);
  t.is((await post(rx.urlFor('0'), push(25, hist(3, [[-80, 12], [-70, 13]]), 1100))).status, 204);
  const of = (sender: string, name: string) => deltas.filter((d) => d.sender === sender && d.labels.__name__ === name);
  t.deepEqual(of('0', 'k6_loadscope_sent_total').map((d) => d.value), [10, 15]);
  t.deepEqual(of('1', 'k6_loadscope_sent_total').map((d) => d.value), [5]);
  t.deepEqual(of('0', 'k6_http_req_duration_seconds').map((d) => [...d.histogram!.positive]), [[[-80, 10]], [[-80, 2], [-70, 13]]]);
  // the second push of sender 0 began where its first ended
  t.is(of('0', 'k6_http_req_duration_seconds')[1].since, 1000);
  t.is(of('0', 'k6_http_req_duration_seconds')[0].since, undefined);

  const n = deltas.length;
  t.is((await post(rx.urlFor('0'), push(30, hist(3, [[-80, 13]]), 1200), { authorization: 'Bearer nope' })).status, 401);
  t.is((await post(rx.urlFor('0').replace('/write/0', '/other'), push(30, hist(3, [[-80, 13]]), 1200))).status, 404);
  t.is((await post(rx.urlFor('0'), push(30, hist(3, [[-80, 13]]), 1200), { 'content-encoding': 'gzip' })).status, 415);
  const bad = await post(rx.urlFor('0'), Buffer.from([0x05, 0x00, 0xff, 0xff]));
  t.is(bad.status, 400);
  t.regex(await bad.text(), /snappy|protobuf/);
  t.is(deltas.length, n, 'nothing refused became data');
  t.is(rx.stats.rejected, 4);
  t.is(rx.stats.pushes, 3);
});

test('the collector: deltas of two senders land in one window whose histogram is their exact sum; failures and 5xx are counted by kind', (t) => {
  const sink = new MemorySink();
  const runStart = 1_000_000;
  const c = new K6Collector(sink, runStart, { stageOf: (l) => l.scenario ?? 'k6', isOpen: () => true }, 0, 100);
  const d = (sender: string, status: string, h: NativeHistogram, time: number, extra: Record<string, string> = {}): SeriesDelta =>
    ({ sender, labels: { __name__: 'k6_http_req_duration_seconds', scenario: 's', status, ...extra }, time, since: time - 100, histogram: h });
  c.delta(d('0', '200', hist(3, [[-80, 3]]), runStart + 400));
  c.delta(d('1', '200', hist(3, [[-80, 2], [-60, 1]]), runStart + 900));
  c.delta(d('1', '503', hist(3, [[-60, 4]]), runStart + 950));
  c.delta(d('0', '0', hist(3, [[-10, 2]]), runStart + 960, { error_code: '1050' }));
  c.delta(d('0', '200', hist(3, [[-80, 7]]), runStart + 1110)); // its span +1010…+1110: the next window (a span across a boundary is split: its own test)
  c.flush(Infinity);
  const at = (metric: string, time: number, kind?: string) => sink.samples.filter((s) => s.metric === metric && s.time === time && (kind === undefined || s.tags.kind === kind));
  t.is(at('http.reqs', runStart)[0].value, 10);
  t.is(at('http.reqs', runStart + 1000)[0].value, 7);
  t.is(at('http.errors', runStart, 'http_5xx')[0].value, 4);
  t.is(at('http.errors', runStart, 'timeout')[0].value, 2);
  const lat = at('http.latency_us', runStart)[0];
  t.is(lat.value, 10);
  t.is(decodeSparse(lat.hist!).total, 10);
  t.is((lat.meta!.native as { buckets: string }).buckets, '-80*5,-60*5');
  t.is(at('http.service_time_us', runStart)[0].hist, lat.hist);
  t.deepEqual([c.totals('0').responses, c.totals('0').failures, c.totals('1').responses], [10, 2, 7]);
});

// ---- the real k6 ----

const k6Test = needs('k6 remote write (real k6)', existsSync(K6_BIN) ? undefined : `${K6_BIN} missing (npm run setup builds it with Go)`);

function tmp(t: ExecutionContext, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `ls-k6rw-${name}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A plain HTTP server in its own process (so the receiver's event loop is not the target's). */
async function targetProcess(t: ExecutionContext): Promise<string> {
  const child = spawn(process.execPath, ['-e', "require('http').createServer((q,r)=>r.end('ok')).listen(0,'127.0.0.1',function(){console.log(this.address().port)})"], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => void child.kill('SIGKILL'));
  const port = await new Promise<string>((res, rej) => {
    createInterface({ input: child.stdout! }).once('line', res);
    child.once('exit', (code) => rej(new Error(`target exited ${code}`)));
  });
  return `http://127.0.0.1:${port}`;
}

function plan(baseUrl: string, dir: string, sink: Sink, stage: LoadPlan['stages'][number]): LoadPlan {
  return { baseUrl, requests: [{ method: 'GET', path: '/', headers: {}, weight: 1 }], stages: [stage], requestTimeoutMs: 2000, runStart: now(), sink, workDir: dir };
}

const summaryOf = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as { metrics: Record<string, Record<string, number>> };
/** A native bucket's width (schema 3): the resolution within which a percentile is known. */
const STEP = 2 ** (1 / 8);

k6Test('real k6: the windows from remote write hold exactly k6\'s request count, and p50/p99 agree with k6\'s summary within one native bucket', async (t) => {
  const dir = tmp(t, 'one');
  const sink = new MemorySink();
  const summary = await new K6Engine().run(plan(await targetProcess(t), dir, sink, { name: 's', startMs: 0, durationMs: 3000, model: 'closed', connections: 4 }), new AbortController().signal);
  const k6 = summaryOf(join(dir, 'k6-summary.json')).metrics;
  const lat = sink.samples.filter((s) => s.metric === 'http.latency_us');
  const reqs = sink.samples.filter((s) => s.metric === 'http.reqs').reduce((a, s) => a + s.value, 0);
  const ours = summarize(mergeEncoded(lat.map((s) => s.hist!)), 1000);
  t.log(`k6: ${k6.http_reqs.count} requests, med ${k6.http_req_duration.med} ms, p99 ${k6.http_req_duration['p(99)']} ms; windows: ${ours.count} requests in ${lat.length} windows, p50 ${ours.p50} ms, p99 ${ours.p99} ms; ${JSON.stringify((summary.extra as { k6: { remoteWrite: unknown } }).k6.remoteWrite)}`);
  t.true(k6.http_reqs.count > 1000, `${k6.http_reqs.count} requests`);
  t.is(ours.count, k6.http_reqs.count);
  t.is(reqs, k6.http_reqs.count);
  t.is(summary.responses, k6.http_reqs.count);
  t.is(summary.requestsSent, k6.http_reqs.count);
  t.true(lat.length >= 3, `${lat.length} windows`);
  for (const [mine, theirs] of [[ours.p50, k6.http_req_duration.med], [ours.p99, k6.http_req_duration['p(99)']]]) {
    t.true(mine >= theirs / STEP && mine <= theirs * STEP * 1.002 + 0.001, `${mine} ms vs k6 ${theirs} ms: more than one native bucket apart`);
  }
  // the window's sum (exact, from k6) against k6's average
  const sum = lat.reduce((a, s) => a + (s.meta!.native as { sum: number }).sum, 0);
  t.true(Math.abs((sum / ours.count) * 1000 - k6.http_req_duration.avg) < 1e-6, `mean ${(sum / ours.count) * 1000} vs ${k6.http_req_duration.avg}`);
  t.false(existsSync(join(dir, 'k6-requests.json')), 'no per-request output unless asked');
  const rw = (summary.extra as { k6: { remoteWrite: { windowRequests: number; k6SummaryRequests: number; rejected: number } } }).k6.remoteWrite;
  t.deepEqual([rw.windowRequests, rw.k6SummaryRequests, rw.rejected], [k6.http_reqs.count, k6.http_reqs.count, 0]);
});

k6Test('real k6, two processes against one target: merged count is the sum of both; merged percentiles equal those of one histogram of every request of both', async (t) => {
  const dir = tmp(t, 'two');
  const sink = new MemorySink();
  const summary = await new K6Engine({ instances: 2, requestLog: true }).run(plan(await targetProcess(t), dir, sink, { name: 's', startMs: 0, durationMs: 3000, model: 'open', rate: { from: 400, to: 400 } }), new AbortController().signal);
  const counts = [0, 1].map((i) => summaryOf(join(dir, `k6-summary-${i}.json`)).metrics.http_reqs.count);
  const lat = sink.samples.filter((s) => s.metric === 'http.latency_us');
  const merged = summarize(mergeEncoded(lat.map((s) => s.hist!)));
  t.log(`k6 processes: ${counts.join(' + ')} requests; merged windows: ${merged.count}, p50 ${merged.p50} µs, p99 ${merged.p99} µs`);
  t.true(counts.every((c) => c > 400), counts.join(','));
  t.is(merged.count, counts[0] + counts[1]);
  t.is(summary.responses, counts[0] + counts[1]);

  // One histogram of both, built here from every request's duration as k6 itself wrote it (--out json),
  // bucketed as k6's native histogram (schema 3: bucket ⌈8·log2(seconds)⌉), then read as loadscope reads it.
  const single = new Map<number, number>();
  let n = 0;
  for (const i of [0, 1]) {
    for (const line of readFileSync(join(dir, `k6-requests-${i}.json`), 'utf8').split('\n')) {
      if (!line.startsWith('{"metric":"http_req_duration","type":"Point"')) continue;
      const v = (JSON.parse(line) as { data: { value: number } }).data.value / 1000;
      const k = Math.ceil(8 * Math.log2(v));
      single.set(k, (single.get(k) ?? 0) + 1);
      n++;
    }
  }
  t.is(n, merged.count, 'every request of both processes is in the merged windows');
  const one = summarize(mergeEncoded([encodeSparse(toHdr({ schema: 3, zeroThreshold: 0, zeroCount: 0, sum: 0, positive: single }))]));
  t.deepEqual([merged.p50, merged.p90, merged.p99, merged.p999, merged.max, merged.min], [one.p50, one.p90, one.p99, one.p999, one.max, one.min]);
});

k6Test('real k6: under a ramping arrival rate every full window holds what the schedule sent in it (a request lands near its own window, not at its push)', async (t) => {
  const dir = tmp(t, 'rate');
  const sink = new MemorySink();
  // 100 → 500 requests/s over 4 s: 100 more per second each second, so a window shifted by 0.25 s is off by 25
  await new K6Engine().run(plan(await targetProcess(t), dir, sink, { name: 's', startMs: 0, durationMs: 4000, model: 'open', rate: { from: 100, to: 500 } }), new AbortController().signal);
  const start = sink.events.find((e) => e.kind === 'stage.start')!.time;
  const end = sink.events.find((e) => e.kind === 'stage.end')!.time;
  const rate = (ms: number) => 100 + (400 * (ms - start)) / 4000;
  const full = sink.samples.filter((s) => s.metric === 'http.reqs' && s.time >= start && s.time + 1000 <= end);
  const expected = full.map((s) => (rate(s.time) + rate(s.time + 1000)) / 2);
  t.log(`stage ${Math.round(start)}–${Math.round(end)}; full windows: ${full.map((s, k) => `${s.value} (schedule ${Math.round(expected[k])})`).join(', ')}`);
  t.true(full.length >= 2, `${full.length} full windows`);
  full.forEach((w, k) => t.true(Math.abs(w.value - expected[k]) <= 20, `a full window holds ${w.value} requests; the schedule sent ${expected[k].toFixed(0)} in it`));
});

test('a push whose span crosses a window boundary is split in proportion: the parts add up to the push exactly', (t) => {
  const positive = new Map([[-40, 7], [-39, 13], [-30, 1], [-20, 29]]);
  const h: NativeHistogram = { count: 53, sum: 1.25, schema: 3, zeroThreshold: 0, zeroCount: 3, positive, negative: new Map(), timestamp: 0 };
  for (const f of [0, 0.1, 0.25, 0.5, 0.9, 1]) {
    const [a, b] = splitNative(h, f);
    t.is(a.count, Math.round(53 * f), `f ${f}`);
    t.is(a.count + b.count, 53);
    t.is(a.zeroCount + b.zeroCount, 3);
    for (const [i, c] of positive) t.is((a.positive.get(i) ?? 0) + (b.positive.get(i) ?? 0), c, `bucket ${i}, f ${f}`);
    t.true(Math.abs(a.sum + b.sum - 1.25) < 1e-12);
    // each bucket's share is within one observation of its proportion
    for (const [i, c] of positive) t.true(Math.abs((a.positive.get(i) ?? 0) - c * f) < 1, `bucket ${i}, f ${f}`);
  }
  // and a collector puts each part in its own window: 30% of a 100 ms span before the boundary
  const samples: Sample[] = [];
  const sink: Sink = { sample: (x) => samples.push(x), event: () => undefined };
  const runStart = 1_000_000;
  const c = new K6Collector(sink, runStart, { stageOf: () => 's', isOpen: () => true }, 0, 100);
  c.delta({ sender: '0', labels: { __name__: 'k6_http_req_duration_seconds', status: '200', scenario: 's' }, time: runStart + 1070, since: runStart + 970, histogram: { ...h, zeroCount: 0, count: 50, positive: new Map([[-30, 50]]) } });
  c.flush(Infinity);
  const reqs = samples.filter((x) => x.metric === 'http.reqs').map((x) => [x.time - runStart, x.value]);
  t.deepEqual(reqs, [[0, 15], [1000, 35]]);
});

test("a sender's first push (no previous one to start its span) is never placed before the sender started, nor before the run", (t) => {
  const samples: Sample[] = [];
  const sink: Sink = { sample: (x) => samples.push(x), event: () => undefined };
  const runStart = 1_000_000;
  const h = (count: number): NativeHistogram => ({ count, sum: count * 0.001, schema: 3, zeroThreshold: 0, zeroCount: 0, positive: new Map([[-80, count]]), negative: new Map(), timestamp: 0 });
  const c = new K6Collector(sink, runStart, { stageOf: () => 's', isOpen: () => true }, 0, 100);
  const d = (sender: string, time: number) => ({ sender, labels: { __name__: 'k6_http_req_duration_seconds', status: '200', scenario: 's' }, time, histogram: h(40) });
  // k6 started 10 ms into the run and pushed its first 40 requests at 50 ms: a nominal 100 ms span
  // would have put 20 of them in the second before the run.
  c.started('0', runStart + 10);
  c.delta(d('0', runStart + 50));
  // a second sender started 990 ms in, its first push at 1,030 ms: its span is 990–1,030, so 10 of
  // its 40 go to the first window and 30 to the second (a nominal span, 930–1,030, would give 28 and 12)
  c.started('1', runStart + 990);
  c.delta(d('1', runStart + 1030));
  // a sender the collector was not told of: the run's start is the floor
  c.delta(d('2', runStart + 30));
  c.flush(Infinity);
  const reqs = samples.filter((x) => x.metric === 'http.reqs').map((x) => [x.time - runStart, x.value]);
  t.deepEqual(reqs, [[0, 90], [1000, 30]]);
  t.is(c.totals('1').spans.get('s')?.first, runStart + 990);
});
