import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { now } from '../../src/core/clock.ts';
import { K6Collector } from '../../src/load/k6/collector.ts';
import { K6Engine } from '../../src/load/k6/engine.ts';
import { endNotices } from '../../src/load/notices.ts';
import type { SeriesDelta } from '../../src/load/k6/receiver.ts';
import type { LoadPlan } from '../../src/load/types.ts';
import { MemorySink } from '../helpers/memory-sink.ts';
import { startServer } from '../helpers/with-server.ts';

// The notices a load engine writes when its load ends (src/load/notices.ts): the same sentences from
// the scheduler's engines and from k6, whose collector keeps the failures by kind.

test('endNotices: one notice per failed kind with its count and first time, dropped with the engine\'s reason; nothing when nothing failed', (t) => {
  const totals = new Map([
    ['timeout', { n: 3, first: 12_345 }],
    ['http_5xx', { n: 7, first: 11_000 }],
    ['conn', { n: 2, first: 10_500 }],
  ]);
  const base = { runStart: 10_000, requestTimeoutMs: 2500, dropped: 0, droppedWhy: 'why' };
  const fine = endNotices({ ...base, totals });
  t.deepEqual(fine.map((n) => n.notice), ['timeout', 'http_5xx'], 'conn is the scheduler\'s own, per outage');
  t.regex(fine[0].message, /^3 request\(s\) timed out \(no answer within the request timeout, 2500 ms\), the first at 2\.3 s/);
  t.regex(fine[1].message, /^7 response\(s\) were HTTP 5xx, the first at 1\.0 s/);
  const k6 = endNotices({ ...base, totals, conn: true, coarse: true, requestTimeoutMs: undefined, dropped: 4 });
  t.deepEqual(k6.map((n) => n.notice), ['conn', 'timeout', 'http_5xx', 'dropped']);
  t.regex(k6[0].message, /^2 request\(s\) got no answer .* the first in the second from 0\.0 s/);
  t.regex(k6[1].message, /within their timeout\), the first in the second from 2\.0 s/);
  t.regex(k6[3].message, /^4 open-model arrival\(s\) were never sent: why/);
  t.deepEqual(endNotices({ ...base, totals: new Map() }), []);
});

test('the k6 collector keeps failures by kind over every sender and window, with the earliest window', (t) => {
  const runStart = 1_000_000;
  const c = new K6Collector(new MemorySink(), runStart, { stageOf: () => 's', isOpen: () => false }, 0, 100);
  const h = (count: number) => ({ count, sum: count * 0.01, schema: 3, zeroThreshold: 0, zeroCount: 0, positive: new Map([[-80, count]]), negative: new Map(), timestamp: 0 });
  const d = (sender: string, status: string, count: number, time: number, extra: Record<string, string> = {}): SeriesDelta =>
    ({ sender, labels: { __name__: 'k6_http_req_duration_seconds', scenario: 's', status, ...extra }, time, since: time - 100, histogram: h(count) });
  c.delta(d('0', '503', 2, runStart + 2500));
  c.delta(d('1', '503', 3, runStart + 1500));
  c.delta(d('0', '0', 4, runStart + 3500, { error_code: '1050' }));
  c.delta(d('1', '200', 9, runStart + 500));
  t.deepEqual(Object.fromEntries(c.kinds), { http_5xx: { n: 5, first: runStart + 1000 }, timeout: { n: 4, first: runStart + 3000 } });
});

test('a k6 run whose target answers 503 and hangs ends with notices for both, as the other engines write them', async (t) => {
  let n = 0;
  const server = await startServer((req, res) => {
    const k = n++;
    if (k % 10 === 3) return; // never answered: k6's request timeout
    res.statusCode = k % 10 === 5 ? 503 : 200;
    res.end('x');
  });
  t.teardown(() => server.close());
  const dir = mkdtempSync(join(tmpdir(), 'ls-k6-notices-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sink = new MemorySink();
  const plan: LoadPlan = {
    baseUrl: server.url,
    requests: [{ method: 'GET', path: '/', headers: {}, weight: 1 }],
    stages: [{ name: 'one', startMs: 0, durationMs: 3000, model: 'closed', connections: 4 }],
    requestTimeoutMs: 400,
    runStart: now(),
    sink,
    workDir: dir,
  };
  await new K6Engine().run(plan, new AbortController().signal);
  const notices = sink.events.filter((e) => e.kind === 'load.notice').map((e) => e.attrs as { notice: string; message: string });
  t.log(notices.map((x) => x.message).join('\n'));
  const errors = (kind: string) => sink.samples.filter((s) => s.metric === 'http.errors' && s.tags.kind === kind).reduce((a, s) => a + s.value, 0);
  t.true(errors('timeout') > 0 && errors('http_5xx') > 0, `timeouts ${errors('timeout')}, 5xx ${errors('http_5xx')}`);
  const of = (kind: string) => notices.find((x) => x.notice === kind)?.message ?? '';
  t.regex(of('timeout'), new RegExp(`^${errors('timeout')} request\\(s\\) timed out \\(no answer within the request timeout, 400 ms\\)`));
  t.regex(of('http_5xx'), new RegExp(`^${errors('http_5xx')} response\\(s\\) were HTTP 5xx, the first in the second from 0\\.0 s`));
  t.false(notices.some((x) => x.notice === 'conn' || x.notice === 'dropped'), 'nothing refused, nothing dropped');
});
