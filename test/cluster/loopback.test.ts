// The scalable loopback cluster and the frontend's backend list: round-robin over replicas, the control
// endpoint, scale-up (ready, then routed) and scale-down (unrouted, drained) with zero failed requests.
import test from 'ava';
import http from 'node:http';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { control, LoopbackCluster, LOOPBACK_NOTICE } from '../../src/cluster/loopback.ts';
import { sumMetric } from '../../src/cluster/prom.ts';
import { AutocannonEngine } from '../../src/load/autocannon/engine.ts';
import { now } from '../../src/core/clock.ts';
import type { RunEvent, Sample } from '../../src/core/types.ts';
import { Ledger } from '../../src/core/ledger.ts';
import { scenarioSchema, type ScenarioInput } from '../../src/scenario/schema.ts';
import { request, serviceFor } from '../helpers/with-server.ts';
import { parseArgs, UsageError } from '../../src/services/args.ts';
import { isLoopbackPeer, parseBackendList } from '../../src/services/control.ts';

/** Sends `n` GETs with `concurrency` keep-alive sockets; counts replies by x-served-by and failures. */
async function spread(url: string, n: number, concurrency = 4) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const by = new Map<string, number>();
  let failed = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < n) {
        const r = await request(url, { agent }).catch(() => undefined);
        if (r?.status !== 200) failed++;
        else by.set(String(r.headers['x-served-by']), (by.get(String(r.headers['x-served-by'])) ?? 0) + 1);
      }
    }),
  );
  agent.destroy();
  return { by: Object.fromEntries(by), failed };
}

function recorder() {
  const events: RunEvent[] = [];
  const samples: Sample[] = [];
  return { events, samples, sink: { event: (e: RunEvent) => events.push(e), sample: (s: Sample) => samples.push(s) } };
}

function cluster(t: import('ava').ExecutionContext, input: Partial<ScenarioInput> = {}) {
  const spec = scenarioSchema.parse({ name: 'loopback-test', stages: [{ duration: '1s', rate: 1 }], ...input });
  const rec = recorder();
  const runId = `test-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
  const ledger = new Ledger(runId);
  const c = new LoopbackCluster(spec, { runId, sink: rec.sink, ledger, onStatus: () => {} });
  t.teardown(async () => {
    await c.stop();
    ledger.close();
  });
  return { c, ...rec };
}

test('--backends flag and control body: parsed and checked; only loopback peers may call', (t) => {
  const fe = parseArgs(['--role', 'frontend', '--backends', 'http://127.0.0.1:1, http://127.0.0.1:2/api']);
  t.deepEqual(fe.backends?.map((u) => u.href), ['http://127.0.0.1:1/', 'http://127.0.0.1:2/api']);
  t.deepEqual(parseArgs(['--role', 'frontend', '--backends', '']).backends, []);
  for (const [argv, message] of [
    [['--role', 'frontend', '--backends', 'http://a:1', '--backend', 'http://b:1'], /--backend or --backends, not both/],
    [['--role', 'frontend', '--backends', 'http://127.0.0.1:1,ftp://x'], /--backends must be an http:\/\/ URL, got "ftp:\/\/x"/],
    [['--role', 'backend', '--backends', 'http://127.0.0.1:1'], /--backends applies to --role frontend only/],
  ] as const) {
    t.throws(() => parseArgs([...argv]), { instanceOf: UsageError, message });
  }
  t.deepEqual(parseBackendList('{"backends":["http://127.0.0.1:9"]}').map((u) => u.port), ['9']);
  t.throws(() => parseBackendList('{"backends":[],"extra":1}'), { message: /only the key "backends"/ });
  t.true(['127.0.0.1', '127.3.4.5', '::1', '::ffff:127.0.0.1'].every(isLoopbackPeer));
  t.false(['10.0.0.1', '198.18.0.1', '::ffff:10.0.0.1', undefined].some(isLoopbackPeer));
});

test('frontend --backends round-robins per request and follows PUT /_loadscope/backends', async (t) => {
  const [a, b] = await Promise.all([serviceFor(t, { role: 'backend', name: 'rr-a' }), serviceFor(t, { role: 'backend', name: 'rr-b' })]);
  const fe = await serviceFor(t, { role: 'frontend', name: 'rr-fe', backends: [a.url] }, { env: { LOADSCOPE_CONTROL_TOKEN: 'sesame' } });
  t.deepEqual((await spread(`${fe.url}/x`, 20, 1)).by, { 'rr-a': 20 });

  const put = JSON.parse(await control(fe.url, 'PUT', 'sesame', JSON.stringify({ backends: [a.url, b.url] })));
  t.like(put, { generation: 2, quiesced: true });
  t.deepEqual((await spread(`${fe.url}/x`, 20, 1)).by, { 'rr-a': 10, 'rr-b': 10 }, 'strict alternation one request at a time');
  const more = await spread(`${fe.url}/x`, 200, 8);
  t.is(more.failed, 0);
  t.true(Math.abs(more.by['rr-a'] - more.by['rr-b']) <= 8, JSON.stringify(more.by));

  const snap = JSON.parse(await control(fe.url, 'GET', 'sesame'));
  t.deepEqual(snap.backends.map((x: { url: string }) => x.url), [a.url, b.url]);
  t.true(snap.backends.every((x: { connections: number }) => x.connections >= 1));
  t.true(snap.backends.every((x: { inFlight: number; requests: number }) => x.inFlight === 0 && x.requests >= 110), JSON.stringify(snap));
  const m = await fe.scrape();
  t.is(sumMetric(m, 'loadscope_upstream_connections_total', { backend: b.url }), snap.backends[1].connections);
  t.is(sumMetric(m, 'loadscope_http_requests_total'), 240, 'control requests are not counted');

  await control(fe.url, 'PUT', 'sesame', JSON.stringify({ backends: [] }));
  const none = await request(`${fe.url}/x`);
  t.is(none.status, 503);
  t.regex(none.body.toString(), /no backend in the list/);

  const call = (method: string, body?: string, headers: http.OutgoingHttpHeaders = { authorization: 'Bearer sesame' }) =>
    request(`${fe.url}/_loadscope/backends`, { method, body, headers: { ...headers, ...(body ? { 'content-length': Buffer.byteLength(body) } : {}) } });
  t.is((await call('GET', undefined, {})).status, 401, 'token required when the frontend has one');
  t.is((await call('GET', undefined, { authorization: 'Bearer wrong' })).status, 401);
  t.is((await call('DELETE')).status, 405);
  t.regex((await call('PUT', '{"backends":["https://x"]}')).body.toString(), /backends\[0\] must be an http:\/\/ URL/);
  t.is((await call('PUT', 'nope')).status, 400);
  t.is((await call('PUT', '{"backends":"http://127.0.0.1:1"}')).status, 400);
});

test('a removed backend finishes its in-flight request; the PUT answers once it is idle', async (t) => {
  const slow = await serviceFor(t, { role: 'backend', name: 'slow', config: { routes: { '/slow': { delayMs: 700 } } } });
  const fast = await serviceFor(t, { role: 'backend', name: 'fast' });
  const fe = await serviceFor(t, { role: 'frontend', name: 'drain-fe', backends: [slow.url] });
  const inflight = request(`${fe.url}/slow`);
  await sleep(150);
  const t0 = now();
  const put = JSON.parse(await control(fe.url, 'PUT', '', JSON.stringify({ backends: [fast.url] })));
  const waited = now() - t0;
  t.true(put.quiesced);
  t.true(waited > 350 && waited < 3000, `PUT answered after ${waited.toFixed(0)} ms: when the in-flight request ended`);
  const r = await inflight;
  t.is(r.status, 200);
  t.is(r.headers['x-served-by'], 'slow');
  t.is((await request(`${fe.url}/slow`)).headers['x-served-by'], 'fast');
});

test('PUT ?drain=0 (a failed or hung backend leaves): answered as soon as the list is in place, the removed backend\'s request still ends', async (t) => {
  const slow = await serviceFor(t, { role: 'backend', name: 'slow', config: { routes: { '/slow': { delayMs: 700 } } } });
  const fast = await serviceFor(t, { role: 'backend', name: 'fast' });
  const fe = await serviceFor(t, { role: 'frontend', name: 'nodrain-fe', backends: [slow.url] });
  const inflight = request(`${fe.url}/slow`);
  await sleep(150);
  const t0 = now();
  const put = JSON.parse(await control(fe.url, 'PUT', '', JSON.stringify({ backends: [fast.url] }), undefined, false));
  const waited = now() - t0;
  t.false(put.quiesced, 'the removed backend still had its request in flight');
  t.true(waited < 300, `PUT answered after ${waited.toFixed(0)} ms, not when the 700 ms request ended`);
  t.is((await request(`${fe.url}/x`)).headers['x-served-by'], 'fast', 'new requests go to the new list at once');
  const r = await inflight;
  t.is(r.status, 200);
  t.is(r.headers['x-served-by'], 'slow');
});

test('a pod stopped while still listed (no removal first) costs no idempotent request: retried on another backend', async (t) => {
  const [a, b] = await Promise.all([serviceFor(t, { role: 'backend', name: 'gone' }), serviceFor(t, { role: 'backend', name: 'stays' })]);
  const fe = await serviceFor(t, { role: 'frontend', name: 'retry-fe', backends: [a.url, b.url] });
  await spread(`${fe.url}/x`, 100, 8); // keep-alive sockets to both backends are now idle in the frontend
  const during = spread(`${fe.url}/x`, 1500, 8);
  await sleep(100);
  await a.stop();
  const res = await during;
  t.is(res.failed, 0, JSON.stringify(res));
  t.true(res.by.stays > res.by.gone, JSON.stringify(res.by));
  t.true(sumMetric(await fe.scrape(), 'loadscope_upstream_retries_total') >= 1, 'the closed or refused connections were retried');
});

test('a backend that resets a new connection before answering (a draining pod) costs no idempotent request', async (t) => {
  // What a pod that stops listening does to connections still in its listen queue: a reset on a fresh
  // socket, before any byte of an answer. The frontend retries once on another backend.
  const resetter = net.createServer((sock) => sock.resetAndDestroy());
  await new Promise<void>((r) => resetter.listen(0, '127.0.0.1', r));
  t.teardown(() => resetter.close());
  const b = await serviceFor(t, { role: 'backend', name: 'stays' });
  const fe = await serviceFor(t, { role: 'frontend', name: 'reset-fe', backends: [`http://127.0.0.1:${(resetter.address() as net.AddressInfo).port}`, b.url] });
  const res = await spread(`${fe.url}/x`, 200, 4);
  t.is(res.failed, 0, JSON.stringify(res));
  t.deepEqual(res.by, { stays: 200 });
  t.true(sumMetric(await fe.scrape(), 'loadscope_upstream_retries_total') >= 50, 'the reset connections were retried');
});

test.serial('scale up: pods start, turn ready, then join the frontend; requests spread over every replica', async (t) => {
  const { c, events, samples } = cluster(t, { services: { backend: { resources: { requests: { cpu: '100m', memory: '64Mi' } } } } });
  const target = await c.start(new AbortController().signal);
  t.deepEqual(c.notices(), [LOOPBACK_NOTICE]);
  t.is(c.replicas('backend'), 1);
  await c.scale('backend', 3);
  t.is(c.replicas('backend'), 3, 'the new size is the spec at once');
  const pending = await c.podMetrics('backend');
  t.is(pending.length, 3);
  t.is(pending.filter((p) => p.phase === 'Pending').length, 2);
  await c.settled();
  const pods = await c.podMetrics('backend');
  t.deepEqual(pods.map((p) => [p.pod, p.phase, p.ready]), [['backend-1', 'Running', true], ['backend-2', 'Running', true], ['backend-3', 'Running', true]]);
  t.deepEqual(pods[0].requests, { cpuMillis: 100, memoryBytes: 64 * 2 ** 20 });
  t.true(pods.every((p) => p.memoryBytes > 10e6 && p.cpuSeconds > 0 && p.readyTransitionTime! >= p.startTime));

  const res = await spread(`${target.url}/x`, 600, 6);
  t.is(res.failed, 0);
  for (const pod of ['backend-1', 'backend-2', 'backend-3']) t.true(res.by[pod] >= 150, `${pod}: ${JSON.stringify(res.by)}`);

  for (const pod of ['backend-2', 'backend-3']) {
    const at = (kind: string) => events.findIndex((e) => e.kind === kind && (e.attrs.pod === pod || (kind === 'routing.update' && (e.attrs.pods as string[]).includes(pod))));
    t.true(at('pod.created') >= 0 && at('pod.created') < at('pod.ready') && at('pod.ready') < at('routing.update'), `${pod}: created → ready → routed`);
  }
  t.like(events.find((e) => e.kind === 'service.scaled')?.attrs, { service: 'backend', from: 1, to: 3 });
  // The cluster samples every second, each pod and then the frontend's list: wait for its first round
  // after the requests. A fixed 1.1 s left a round 100 ms to finish, less a busy machine's timer drift.
  const spreadEnd = now();
  await found(() => samples.find((s) => s.metric === 'frontend.upstream_connections' && s.time > spreadEnd));
  const tagged = samples.filter((s) => s.metric === 'pod.requests_served' && s.tags.service === 'backend');
  t.deepEqual([...new Set(tagged.map((s) => s.tags.pod))].sort(), ['backend-1', 'backend-2', 'backend-3']);
  t.true(samples.some((s) => s.metric === 'frontend.upstream_connections' && s.tags.pod === 'backend-3' && s.value >= 1), 'new connections went to the new replica');
  await t.throwsAsync(c.scale('frontend', 2), { message: /cannot scale/ });
});

test.serial('scale down under steady open-model load (GET and POST): zero failed requests, exact counters', async (t) => {
  const { c, events } = cluster(t, {
    services: { backend: { replicas: 3, routes: { '/api/items': { cpuMs: 0.3, delayMs: 5, delayJitterMs: 20 } } } },
  });
  const target = await c.start(new AbortController().signal);
  const rec = recorder();
  const load = new AutocannonEngine().run(
    {
      baseUrl: target.url,
      requests: [
        { method: 'GET', path: '/api/items', headers: {}, weight: 3 },
        { method: 'POST', path: '/api/items', headers: { 'content-type': 'application/json' }, body: '{"sku":"a"}', weight: 1 },
      ],
      stages: [{ name: 'steady', startMs: 0, durationMs: 6000, model: 'open', rate: { from: 250, to: 250 }, connections: 64 }],
      requestTimeoutMs: 5000,
      runStart: now(),
      sink: rec.sink,
      workDir: '/tmp',
    },
    new AbortController().signal,
  );
  await sleep(1500);
  await c.scale('backend', 1);
  await c.settled();
  const settledAt = now();
  const summary = await load;
  t.true(now() - settledAt > 1000, 'both pods were gone while the load still ran');
  const errors = rec.samples.filter((s) => s.metric === 'http.errors').reduce((a, s) => a + s.value, 0);
  t.is(errors, 0, 'no request failed');
  t.is(summary.errors, 0);
  // A busy machine may not send every arrival (dropped) or see every answer before the cut-off; none of them failed.
  t.true(summary.responses >= 600, JSON.stringify(summary));
  t.log(`${summary.responses} responses, ${summary.dropped} dropped, ${summary.inFlightAtCutoff} in flight at cut-off, 0 errors`);
  const terminated = events.filter((e) => e.kind === 'pod.terminated');
  t.is(terminated.length, 2);
  t.true(terminated.every((e) => e.attrs.exitCode === 0), 'each drained to exit 0');
  const removed = terminated.map((e) => String(e.attrs.pod));
  const readyAt = (pod: string) => events.find((e) => e.kind === 'pod.ready' && e.attrs.pod === pod)!.time;
  const kept = ['backend-1', 'backend-2', 'backend-3'].find((p) => !removed.includes(p))!;
  t.true(removed.every((p) => readyAt(p) >= readyAt(kept)), 'the most recently ready pods go first, as a ReplicaSet picks');
  for (const pod of removed) {
    const unrouted = events.findIndex((e) => e.kind === 'routing.update' && !(e.attrs.pods as string[]).includes(pod));
    const gone = events.findIndex((e) => e.kind === 'pod.terminated' && e.attrs.pod === pod);
    t.true(unrouted >= 0 && unrouted < gone, `${pod} left the list before it was stopped`);
  }
  const counters = await c.counters();
  const served = (svc: string) => counters.filter((x) => x.service === svc).reduce((a, x) => a + x.requestsServed, 0);
  t.true(served('frontend') >= summary.responses && served('frontend') <= summary.responses + summary.inFlightAtCutoff);
  t.is(served('backend'), served('frontend'), 'per-pod counters, terminated pods included, add up');
  t.deepEqual(counters.filter((x) => x.service === 'backend').map((x) => x.pod).sort(), ['backend-1', 'backend-2', 'backend-3']);
  t.true(counters.filter((x) => x.service === 'backend').every((x) => x.requestsServed > 10 && x.requestsAborted === 0));
});

/** Resolves with what `pick` finds (polled every 50 ms), or fails after `timeoutMs`. */
async function found<T>(pick: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = now() + timeoutMs;
  for (;;) {
    const x = pick();
    if (x !== undefined) return x;
    if (now() > deadline) throw new Error('nothing found in time');
    await sleep(50);
  }
}

/** Resolves once `events` holds one that `match` accepts (polled), or fails after `timeoutMs`. */
const eventFor = (events: RunEvent[], match: (e: RunEvent) => boolean, timeoutMs?: number): Promise<RunEvent> => found(() => events.find(match), timeoutMs);

test.serial('a pod that dies is taken out of the list and replaced; requests keep being served', async (t) => {
  const { c, events } = cluster(t, { services: { backend: { replicas: 2 } } });
  const target = await c.start(new AbortController().signal);
  const victim = (await c.podMetrics('backend')).find((p) => p.pod === 'backend-1')!;
  t.true(victim.ready);
  const pid = events.find((e) => e.kind === 'pod.ready' && e.attrs.pod === 'backend-1')!.attrs.pid as number;
  process.kill(pid, 'SIGKILL');
  const failed = await eventFor(events, (e) => e.kind === 'pod.failed' && e.attrs.pod === 'backend-1');
  t.like(failed.attrs, { service: 'backend', signal: 'SIGKILL', exitCode: null });
  const routed = await eventFor(events, (e) => e.kind === 'routing.update' && (e.attrs.pods as string[]).includes('backend-3'));
  await c.settled();
  const at = (match: (e: RunEvent) => boolean) => events.findIndex(match);
  const unrouted = at((e) => e.kind === 'routing.update' && e.time >= failed.time && !(e.attrs.pods as string[]).includes('backend-1'));
  t.true(unrouted >= 0 && unrouted < at((e) => e.kind === 'pod.created' && e.attrs.pod === 'backend-3'), 'out of the list before its replacement was created');
  t.true(routed.time - failed.time >= 1000, 'replaced after the restart backoff');
  t.is(c.replicas('backend'), 2, 'a replacement is not a scale');
  t.false(events.some((e) => e.kind === 'service.scaled'));
  t.deepEqual((await c.podMetrics('backend')).map((p) => [p.pod, p.phase, p.ready]), [['backend-2', 'Running', true], ['backend-3', 'Running', true]]);
  const res = await spread(`${target.url}/x`, 200, 4);
  t.is(res.failed, 0);
  t.deepEqual(Object.keys(res.by).sort(), ['backend-2', 'backend-3']);
});
