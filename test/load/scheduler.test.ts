import test from 'ava';
import { now } from '../../src/core/clock.ts';
import { mergeEncoded } from '../../src/core/histogram.ts';
import { arrivalTime, expectedArrivals } from '../../src/load/arrivals.ts';
import { buildResult } from '../../src/analyze/results.ts';
import type { JournalRecord } from '../../src/core/types.ts';
import { AutocannonEngine } from '../../src/load/autocannon/engine.ts';
import { LeanEngine } from '../../src/load/lean/engine.ts';
import type { LoadEngine } from '../../src/load/types.ts';
import { defaultMaxConnections } from '../../src/scenario/schema.ts';
import http from 'node:http';
import { serverFor } from '../helpers/with-server.ts';
import { closed, drive, open } from './drive.ts';

// The stage scheduler (src/load/scheduler.ts) that every in-process client shares, pinned through
// each client: the open model's schedule, queue and pool, and the closed model's pool across stages.

test('arrival schedule: constant spacing, ramp area, strictly increasing', (t) => {
  t.is(arrivalTime(0, 100, 100, 1000), 0);
  t.is(arrivalTime(50, 100, 100, 1000), 500);
  t.is(arrivalTime(100, 100, 100, 1000), undefined);
  let k = 0;
  let last = -1;
  while (true) {
    const at = arrivalTime(k, 100, 500, 10_000);
    if (at === undefined) break;
    t.true(at > last || k === 0);
    last = at;
    k++;
  }
  t.true(Math.abs(k - expectedArrivals(100, 500, 10_000)) <= 1, `ramp gave ${k} arrivals`);
  let down = 0;
  while (arrivalTime(down, 500, 100, 10_000) !== undefined) down++;
  t.true(Math.abs(down - 3000) <= 1, `ramp down gave ${down}`);
});


test('a stage whose rate is 0 throughout has no arrival at all', (t) => {
  t.is(arrivalTime(0, 0, 0, 5000), undefined);
  t.is(expectedArrivals(0, 0, 5000), 0);
  t.is(arrivalTime(0, 0, 10, 5000), 0);
});

test('open-model pool by default: 100 ms of the peak rate, at least 16', (t) => {
  t.is(defaultMaxConnections({ from: 1, to: 1 }), 16);
  t.is(defaultMaxConnections({ from: 160, to: 160 }), 16);
  t.is(defaultMaxConnections({ from: 161, to: 161 }), 17);
  t.is(defaultMaxConnections({ from: 1000, to: 50 }), 100);
});

const clients: Record<string, () => LoadEngine> = {
  autocannon: () => new AutocannonEngine(),
  lean: () => new LeanEngine(),
};

for (const [name, make] of Object.entries(clients)) {
  test(`${name}: an open stage grows its pool to the default and no further, queues arrivals, measures them from the intended start and drops what is still queued at the end`, async (t) => {
    let inflight = 0;
    let peak = 0;
    // 200 ms per response: a pool of 20 serves 100/s of the 200/s scheduled, the rest queues.
    const srv = await serverFor(t, (_req, res) => {
      inflight++;
      peak = Math.max(peak, inflight);
      setTimeout(() => {
        inflight--;
        res.end('ok');
      }, 200);
    });
    const r = await drive(make(), srv.url, [open('o', 1000, 200)]);
    t.is(r.summary.connectionsMax, defaultMaxConnections({ from: 200, to: 200 }));
    t.true(peak <= 20, `peak ${peak} in flight`);
    t.true(Math.abs(r.summary.requestsSent + r.summary.dropped - 200) <= 1, `sent ${r.summary.requestsSent} + dropped ${r.summary.dropped} of 200 scheduled`);
    t.true(r.summary.dropped >= 50, `dropped ${r.summary.dropped}`);
    t.is(r.summary.responses, r.summary.requestsSent);
    t.is(r.summary.inFlightAtCutoff, 0);
    t.true(r.latency().maxValue >= 400_000, `latency max ${r.latency().maxValue} µs: queued arrivals count from their intended start`);
    const service = mergeEncoded(r.samples.filter((s) => s.metric === 'http.service_time_us').map((s) => s.hist!));
    t.is(service.totalCount, r.summary.responses);
    t.true(service.getValueAtPercentile(50) < 350_000, `service time p50 ${service.getValueAtPercentile(50)} µs: from the actual send`);
  });

  test(`${name}: a closed stage with fewer connections than the last retires the extra ones`, async (t) => {
    // Each request is judged by what its connection saw: one sent after a response that left the server
    // once the narrow stage had begun was sent by a connection that knew of the stage (the scheduler
    // retires the extra ones as it journals stage.start), so at most 2 such requests are ever in flight.
    // A wall-clock mark ("450 ms after the test began") moved with the setup of this file's concurrent
    // tests and with a late stage switch, and then saw the wide stage's 4.
    const requests: { socket: number; at: number; end: number; prevEnd?: number }[] = [];
    const sockets = new WeakMap<object, { id: number; lastEnd?: number }>();
    let connections = 0;
    const srv = await serverFor(t, (req, res) => {
      let sock = sockets.get(req.socket);
      if (!sock) sockets.set(req.socket, (sock = { id: connections++ }));
      const r = { socket: sock.id, at: now(), end: Infinity, prevEnd: sock.lastEnd };
      requests.push(r);
      setTimeout(() => {
        r.end = sock.lastEnd = now();
        res.end('ok');
      }, 5);
    });
    const r = await drive(make(), srv.url, [closed('wide', 400, 4), closed('narrow', 600, 2)]);
    t.deepEqual(r.events.filter((e) => e.kind === 'stage.start').map((e) => e.attrs.stage), ['wide', 'narrow']);
    t.is(r.summary.connectionsMax, 4);
    const narrowAt = r.events.find((e) => e.kind === 'stage.start' && e.attrs.stage === 'narrow')!.time;
    const late = requests.filter((q) => (q.prevEnd ?? q.at) >= narrowAt);
    const peakLate = Math.max(0, ...late.map((q) => late.filter((o) => o.at <= q.at && o.end > q.at).length));
    t.true(late.length > 20, `${late.length} requests sent in the narrow stage`);
    t.true(peakLate <= 2, `${peakLate} in flight in the narrow stage, on ${new Set(late.map((q) => q.socket)).size} connection(s)`);
    t.true(r.total('http.reqs', 'narrow') > 20, `narrow ${r.total('http.reqs', 'narrow')}`);
    t.is(r.summary.latencyBasis, 'actual-send (closed model, not corrected)');
  });
}

for (const [name, make] of Object.entries(clients)) {
  test(`${name}: every scheduled arrival ends as sent or dropped, also when a closed stage follows an open one`, async (t) => {
    // 100 ms per response on a pool of 4: 40/s of the 200/s scheduled are served, the rest is still
    // queued when the closed stage begins — those arrivals missed their stage and count as dropped.
    const srv = await serverFor(t, (_req, res) => setTimeout(() => res.end('ok'), 100));
    const r = await drive(make(), srv.url, [open('o', 1000, 200, 200, 4), closed('c', 300, 1), open('o2', 500, 40, 40, 1)]);
    const scheduled = expectedArrivals(200, 200, 1000) + expectedArrivals(40, 40, 500);
    const sentOpen = r.total('http.reqs', 'o') + r.total('http.errors', 'o') + r.total('http.reqs', 'o2') + r.total('http.errors', 'o2');
    t.true(r.summary.dropped >= 100, `dropped ${r.summary.dropped}: the queue left by stage o is counted`);
    t.true(Math.abs(sentOpen + r.summary.dropped - scheduled) <= 2, `open stages: ${sentOpen} sent + ${r.summary.dropped} dropped of ${scheduled} scheduled`);
    t.is(r.summary.requestsSent, r.summary.responses + r.summary.errors + r.summary.inFlightAtCutoff);
  });
}

/** results.json of what `drive` recorded, judged by `thresholds`. */
function resultOf(r: Awaited<ReturnType<typeof drive>>, stages: ReturnType<typeof closed>[], thresholds: Record<string, string[]> = {}) {
  const startedAt = Math.min(...r.samples.map((s) => s.time));
  const records: JournalRecord[] = [
    { type: 'run', runId: 't', schemaVersion: 1, scenarioName: 't', scenarioFile: 't.yaml', scenarioText: '', engine: 'test', startedAt, durationScale: 1, plan: stages, thresholds, environment: {}, notices: [] },
    ...r.samples.map((s) => ({ type: 'sample' as const, ...s })),
    ...r.events.map((e) => ({ type: 'event' as const, ...e })),
    { type: 'event', kind: 'engine.summary', time: Math.max(...r.events.map((e) => e.time)), source: 'load', attrs: { ...r.summary } },
    { type: 'end', endedAt: Math.max(...r.events.map((e) => e.time)) + 1, outcome: 'completed' },
  ];
  return buildResult(records);
}

for (const [name, make] of Object.entries(clients)) {
  test(`${name}: timeouts count in the latency with the time they took, as k6's http_req_duration`, async (t) => {
    // the server never answers: every request times out after 300 ms
    const srv = await serverFor(t, () => {});
    const stages = [closed('hang', 1000, 2)];
    const r = await drive(make(), srv.url, stages, undefined, 300);
    const errors = r.total('http.errors');
    t.true(errors >= 2, `${errors} timeouts`);
    t.is(r.latency().totalCount, errors, `latency holds ${r.latency().totalCount} of ${errors} timed-out requests`);
    t.true(r.latency().minNonZeroValue >= 290_000, `shortest ${r.latency().minNonZeroValue} µs`);
    const p99 = resultOf(r, stages, { http_req_duration: ['p(99) < 100'] }).thresholds[0];
    t.true(p99.observed !== null && p99.observed >= 290 && !p99.ok, JSON.stringify(p99));
  });

  test(`${name}: a timed-out request took its timeout, not the time until the client noticed`, async (t) => {
    const srv = await serverFor(t, () => {});
    const r = await drive(make(), srv.url, [closed('hang', 1500, 4)], undefined, 300);
    const h = r.latency();
    t.true(h.totalCount >= 4, `${h.totalCount} timeouts`);
    t.log(`timed-out requests: min ${h.minNonZeroValue} µs, p50 ${h.getValueAtPercentile(50)} µs, max ${h.maxValue} µs`);
    t.true(h.minNonZeroValue >= 290_000 && h.maxValue <= 360_000, `300 ms timeouts recorded as ${h.minNonZeroValue}..${h.maxValue} µs`);
  });

  test(`${name}: a stage's rate counts the responses received within it, over its duration (not the ones answered in the drain)`, async (t) => {
    // 400 ms per response on 10 connections for 1 s: two rounds end within the stage (~400, ~800 ms),
    // the third in the drain (~1200 ms). At 300 ms the third round ended at ~900 ms plus the drift of a
    // busy machine, close enough to the stage's end that some of it was sent back within the stage by
    // the server and received after it by the client (22 vs 30 once in CI).
    const finished: number[] = [];
    const srv = await serverFor(t, (_req, res) => setTimeout(() => {
      res.end('ok');
      finished.push(now());
    }, 400));
    const stages = [closed('slow', 1000, 10)];
    const r = await drive(make(), srv.url, stages);
    const end = r.events.find((e) => e.kind === 'stage.end')!.time;
    const within = finished.filter((f) => f <= end).length;
    const result = resultOf(r, stages);
    const s = result.stages[0];
    t.log(`${s.requests} responses, ${within} within the stage of ${s.durationS} s, rps ${s.rps}, run rps ${result.http.rps}`);
    t.true(s.requests > within, 'some responses came in the drain');
    t.true(Math.abs(s.rps! * s.durationS! - within) <= 2, `stage rate ${s.rps} × ${s.durationS} s vs ${within} received within it`);
    t.true(Math.abs(result.http.rps * s.durationS! - within) <= 2, `run rate ${result.http.rps} × ${s.durationS} s vs ${within}`);
  });
}

for (const [name, make] of Object.entries(clients)) {
  test(`${name}: a target that refuses connections at first, then comes up: every attempt is a conn error, nothing is lost, one notice says when`, async (t) => {
    // take a free port, close it, and listen on it again 600 ms into the load
    const probe = await serverFor(t, () => {});
    const { port } = probe;
    await probe.close();
    const later = setTimeout(() => {
      const srv = http.createServer((_req, res) => res.end('ok'));
      srv.listen(port, '127.0.0.1');
      t.teardown(() => new Promise<void>((resolve) => {
        srv.close(() => resolve());
        srv.closeAllConnections();
      }));
    }, 600);
    t.teardown(() => clearTimeout(later));
    const r = await drive(make(), `http://127.0.0.1:${port}`, [closed('c', 1200, 2), open('o', 600, 100)]);
    const conn = r.samples.filter((s) => s.metric === 'http.errors' && s.tags.kind === 'conn').reduce((a, s) => a + s.value, 0);
    t.true(conn > 0, `${conn} conn errors while the target was down`);
    t.true(r.total('http.reqs', 'c') > 0 && r.total('http.reqs', 'o') > 0, 'answered once the target is up');
    t.is(r.summary.errors, conn);
    t.is(r.summary.requestsSent, r.summary.responses + r.summary.errors + r.summary.inFlightAtCutoff);
    const notices = r.events.filter((e) => e.kind === 'load.notice').map((e) => String(e.attrs.message));
    t.log(notices.join('\n'));
    t.true(notices.some((m) => new RegExp(`^connection errors from [\\d.]+ s to [\\d.]+ s of the run .*: ${conn} requests? failed`).test(m)), notices.join('\n'));
  });
}
