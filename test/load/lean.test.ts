import test from 'ava';
import { LeanEngine } from '../../src/load/lean/engine.ts';
import { now } from '../../src/core/clock.ts';
import type { RunEvent, Sample } from '../../src/core/types.ts';
import { parseScenario } from '../../src/scenario/load.ts';
import { serverFor } from '../helpers/with-server.ts';

for (const pipelining of [1, 4]) {
  test(`lean engine, pipelining ${pipelining}: every response counted, bodies of every framing parsed`, async (t) => {
    let served = 0;
    let peak = 0;
    let inflight = 0;
    const srv = await serverFor(t, (req, res) => {
      inflight++;
      peak = Math.max(peak, inflight);
      req.resume();
      req.on('end', () => {
        served++;
        inflight--;
        if (req.url === '/chunked') {
          res.write('a'.repeat(700));
          setImmediate(() => res.end('b'.repeat(900)));
        } else if (req.url === '/empty') {
          res.statusCode = 204;
          res.end();
        } else res.end('x'.repeat(1500));
      });
    });
    const samples: Sample[] = [];
    const sink = { sample: (s: Sample) => samples.push(s), event: (_e: RunEvent) => {} };
    const summary = await new LeanEngine({ pipelining }).run(
      {
        baseUrl: srv.url,
        requests: [
          { method: 'GET', path: '/chunked', headers: {}, weight: 1 },
          { method: 'GET', path: '/empty', headers: {}, weight: 1 },
          { method: 'POST', path: '/len', headers: { 'content-type': 'text/plain' }, body: 'hello', weight: 1 },
        ],
        stages: [{ name: 'c', startMs: 0, durationMs: 1000, model: 'closed', connections: 2 }],
        requestTimeoutMs: 5000,
        runStart: now(),
        sink,
        workDir: '/tmp',
      },
      new AbortController().signal,
    );
    const reqs = samples.filter((s) => s.metric === 'http.reqs').reduce((a, s) => a + s.value, 0);
    t.true(reqs > 50, `${reqs} responses`);
    t.is(reqs, summary.responses);
    t.is(summary.errors, 0);
    t.is(served, summary.responses + summary.inFlightAtCutoff);
    t.true(peak <= 2 * pipelining, `peak ${peak} in flight`);
  });
}

test('pipelining is for engine: lean only', (t) => {
  const err = t.throws(() => parseScenario('name: a\nengine: autocannon\npipelining: 4\nstages:\n  - { duration: 1s, connections: 1 }\n', 'p.yaml'));
  t.regex(JSON.stringify((err as { problems?: unknown }).problems), /"pipelining\\" needs engine: lean/);
  t.notThrows(() => parseScenario('name: a\nengine: lean\npipelining: 4\nstages:\n  - { duration: 1s, connections: 1 }\n', 'p.yaml'));
});
