import test from 'ava';
import { createHistogram, decode, record } from '../../src/core/histogram.ts';
import type { RunEvent, Sample, Sink } from '../../src/core/types.ts';
import { K6Collector, K6JsonParser, parseK6Time, type K6Point, type StageMap } from '../../src/load/k6/stream.ts';
import { WindowRecorder } from '../../src/load/windows.ts';

class MemorySink implements Sink {
  samples: Sample[] = [];
  events: RunEvent[] = [];
  sample(s: Sample): void {
    this.samples.push(s);
  }
  event(e: RunEvent): void {
    this.events.push(e);
  }
}

const T0 = Date.parse('2026-01-01T00:00:00Z');
const iso = (ms: number) => new Date(Math.floor(ms)).toISOString().replace('Z', `${String(Math.round((ms % 1) * 1e6)).padStart(6, '0')}Z`);

/** A k6 --out json line, exactly as k6 v1 lays it out. */
function line(metric: string, t: number, value: number, tags: Record<string, string>): string {
  return JSON.stringify({ metric, type: 'Point', data: { time: iso(t), value, tags } });
}

const stages: StageMap = { stageOf: (tags) => tags.stage ?? tags.scenario ?? 'k6', isOpen: (s) => s === 'open' };

test('k6 times keep microseconds and honour offsets', (t) => {
  t.is(parseK6Time('2026-11-22T21:42:46.484320375Z'), Date.parse('2026-11-22T21:42:46Z') + 484.320375);
  t.is(parseK6Time('2026-11-22T23:42:46.5+02:00'), Date.parse('2026-11-22T21:42:46Z') + 500);
  t.is(parseK6Time('2026-11-22T21:42:46Z'), Date.parse('2026-11-22T21:42:46Z'));
  t.true(Number.isNaN(parseK6Time('yesterday')));
});

test('the parser reads points split across chunks, skips other metrics and Metric lines, counts garbage', (t) => {
  const points: K6Point[] = [];
  const p = new K6JsonParser((x) => points.push(x));
  const text = [
    '{"type":"Metric","data":{"name":"http_req_duration","type":"trend","contains":"time","thresholds":[],"submetrics":null},"metric":"http_req_duration"}',
    line('http_req_blocked', T0, 0.1, { scenario: 'a' }),
    line('http_req_duration', T0 + 1.5, 12.25, { scenario: 'a', status: '200' }),
    // the older layout (type first) is read too
    JSON.stringify({ type: 'Point', data: { time: iso(T0 + 2), value: 3, tags: { scenario: 'b' } }, metric: 'dropped_iterations' }),
    '{"metric":"http_req_duration","type":"Point","data":{"time":"nonsense","value":1}}',
    line('http_req_duration', T0 + 3, 7, { scenario: 'a', status: '503' }),
  ].join('\n');
  // Feed in uneven chunks, the last line without its newline.
  for (let i = 0; i < text.length; i += 37) p.push(text.slice(i, i + 37));
  p.end();
  t.deepEqual(points.map((x) => [x.metric, x.value, x.tags.status]), [
    ['http_req_duration', 12.25, '200'],
    ['dropped_iterations', 3, undefined],
    ['http_req_duration', 7, '503'],
  ]);
  t.is(points[0].time, T0 + 1.5);
  t.is(p.lines, 6);
  t.is(p.malformed, 1);
});

test('two k6 streams feeding one recorder merge exactly: windows hold every value of both', (t) => {
  const sink = new MemorySink();
  const recorder = new WindowRecorder(sink, T0);
  const a = new K6Collector(recorder, stages, 0);
  const b = new K6Collector(recorder, stages, 0);
  const pa = new K6JsonParser((x) => a.point(x));
  const pb = new K6JsonParser((x) => b.point(x));
  const expected = createHistogram();
  let n = 0;
  for (let i = 0; i < 500; i++) {
    const time = T0 + i * 4 + 0.25;
    const ms = 1 + ((i * 37) % 200) / 7;
    record(expected, ms * 1000);
    (i % 2 ? pa : pb).push(line('http_req_duration', time, ms, { scenario: 'open', status: '200' }) + '\n');
    (i % 2 ? pa : pb).push(line('data_received', time, 100, { scenario: 'open' }) + '\n');
    n++;
  }
  pa.push(line('http_req_duration', T0 + 10, 0, { scenario: 'open', status: '0', error_code: '1050' }) + '\n');
  pb.push(line('http_req_duration', T0 + 11, 0, { scenario: 'open', status: '0', error_code: '1212' }) + '\n');
  pb.push(line('loadscope_sent', T0, 9, { scenario: 'open' }) + '\n');
  pb.push(line('dropped_iterations', T0 + 12, 2, { scenario: 'open' }) + '\n');
  recorder.stop();
  a.flushBytes(sink, T0);
  b.flushBytes(sink, T0);

  const lat = sink.samples.filter((s) => s.metric === 'http.latency_us');
  const merged = createHistogram();
  for (const s of lat) merged.add(decode(s.hist!));
  t.is(merged.totalCount, n);
  for (const p of [50, 90, 99, 99.9, 100]) t.is(merged.getValueAtPercentile(p), expected.getValueAtPercentile(p), `p${p}`);
  // Open stage: service time recorded too (k6 sends on schedule or drops; it never queues).
  const service = sink.samples.filter((s) => s.metric === 'http.service_time_us').reduce((x, s) => x + s.value, 0);
  t.is(service, n);
  t.is(sink.samples.filter((s) => s.metric === 'http.reqs').reduce((x, s) => x + s.value, 0), n);
  t.deepEqual(
    sink.samples.filter((s) => s.metric === 'http.errors').map((s) => s.tags.kind).sort(),
    ['conn', 'timeout'],
  );
  t.is(sink.samples.filter((s) => s.metric === 'http.bytes').reduce((x, s) => x + s.value, 0), n * 100);
  t.is(a.responses + b.responses, n);
  t.is(a.failures + b.failures, 2);
  t.is(b.sent, 9);
  t.is(b.dropped, 2);
  // Windows are 1 s, aligned to the run start, tagged with the stage.
  t.true(lat.every((s) => (s.time - T0) % 1000 === 0 && s.tags.stage === 'open'));
});

test('status classes become error kinds as in the autocannon engine; stages come from tags', (t) => {
  const sink = new MemorySink();
  const recorder = new WindowRecorder(sink, T0);
  const firsts: string[] = [];
  const c = new K6Collector(recorder, stages, 0, (stage) => firsts.push(stage));
  c.point({ metric: 'http_req_duration', time: T0 + 100, value: 5, tags: { scenario: 'x', status: '404' } });
  c.point({ metric: 'http_req_duration', time: T0 + 200, value: 5, tags: { scenario: 'x', status: '502' } });
  c.point({ metric: 'http_req_duration', time: T0 + 300, value: 5, tags: { scenario: 'x', stage: 'hold', status: '200' } });
  c.point({ metric: 'http_req_duration', time: T0 + 400, value: 5, tags: { status: '200' } });
  recorder.stop();
  const errors = Object.fromEntries(sink.samples.filter((s) => s.metric === 'http.errors').map((s) => [s.tags.kind, s.value]));
  t.deepEqual(errors, { http_4xx: 1, http_5xx: 1 });
  t.deepEqual(firsts, ['x', 'hold', 'k6']);
  t.is(c.responses, 4);
  t.deepEqual(c.spans.get('x'), { first: T0 + 95, last: T0 + 200 });
});
