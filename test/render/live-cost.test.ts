import test from 'ava';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { LiveServer } from '../../src/render/live/server.ts';
import { synthetic } from './fixtures.ts';

// --live must not move the latency of the run: with no page open, the live view does no work on the
// thread that sends requests (it used to correlate the whole run once a second regardless).
test('with no page open, the live view adds no pauses to the run\'s thread', async (t) => {
  const live = new LiveServer({ intervalMs: 250 });
  for (const r of synthetic({ seconds: 1800, packetRecords: 0, events: 200 })) live.feed(r);
  await live.start();
  t.teardown(() => live.close());
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  await sleep(2000);
  h.disable();
  const maxMs = h.max / 1e6;
  t.log(`event-loop delay over 2 s with no page open: max ${maxMs.toFixed(1)} ms, p99 ${(h.percentile(99) / 1e6).toFixed(1)} ms`);
  t.true(maxMs < 40, `max event-loop delay ${maxMs.toFixed(1)} ms: the live view correlated with nobody watching`);
  t.is(live.updates, 0);
});
