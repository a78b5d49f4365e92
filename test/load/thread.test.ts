import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { isMainThread } from 'node:worker_threads';
import { LoadscopeError } from '../../src/core/errors.ts';
import { mergeEncoded, summarize } from '../../src/core/histogram.ts';
import { engines } from '../../src/load/engines.ts';
import { drive, open } from './drive.ts';

/** A plain HTTP server in a process of its own (a stall of this test's thread must not stall it). */
async function outsideServer() {
  const child = spawn(process.execPath, ['-e', "require('http').createServer((q, s) => s.end('ok')).listen(0, '127.0.0.1', function () { console.log(this.address().port) })"], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  return { url: `http://127.0.0.1:${Number(line.toString().trim())}`, stop: () => child.kill('SIGKILL') };
}

for (const name of ['autocannon', 'lean'] as const) {
  test.serial(`${name}: the load runs on its own thread — a 400 ms stall of the main thread delays no arrival and no response`, async (t) => {
    t.true(isMainThread);
    const server = await outsideServer();
    try {
      // open model, 200/s for 2 s: the main thread is blocked (a busy loop) from 0.7 s to 1.1 s
      let stalled = 0;
      const stall = setTimeout(() => {
        const end = performance.now() + 400;
        while (performance.now() < end) stalled++;
      }, 700);
      const r = await drive(engines[name]({}), server.url, [open('open', 2000, 200)]);
      clearTimeout(stall);
      t.true(stalled > 0, 'the stall did not happen');
      const lat = summarize(r.latency());
      t.is(r.summary.requestsSent, 400);
      t.is(r.total('http.reqs'), 400);
      // on the main thread, ~80 arrivals would have left up to 400 ms late (latency counts from the
      // intended start): here none is even 100 ms late
      t.true(lat.max < 100_000, `latency max ${lat.max} µs: an arrival or a response waited for the main thread`);
      t.log(`latency µs: p50 ${lat.p50}, p99 ${lat.p99}, max ${lat.max}`);
      // the windows still reached the sink, whole (they merge back to every response)
      t.is(mergeEncoded(r.samples.filter((s) => s.metric === 'http.latency_us').map((s) => s.hist!)).totalCount, 400);
    } finally {
      server.stop();
    }
  });
}

test.serial('an engine failure inside the load thread reaches the caller as its typed error', async (t) => {
  // nothing listens on port 9 of loopback: every request fails to connect, the run still ends normally
  const r = await drive(engines.lean({}), 'http://127.0.0.1:9', [open('open', 500, 20)], undefined, 1000);
  t.is(r.summary.responses, 0);
  // every one of the 10 arrivals ends as a failed request or as dropped (never connected), none lost
  t.is(r.summary.errors + r.summary.dropped, 10, JSON.stringify(r.summary));
  // a plan the engine refuses (a URL scheme it does not speak) fails with its own LoadscopeError
  const err = await t.throwsAsync(drive(engines.lean({}), 'https://127.0.0.1:9', [open('open', 200, 5)]), { instanceOf: LoadscopeError });
  t.is(err?.code, 'ENGINE');
  t.regex(err?.message ?? '', /plain http only/);
  t.regex(err?.hint ?? '', /engine: autocannon/);
});
