import test from 'ava';
import { startBundledServices } from '../../src/cluster/process.ts';
import { AutocannonEngine } from '../../src/load/autocannon/engine.ts';
import { LeanEngine } from '../../src/load/lean/engine.ts';
import type { LoadEngine } from '../../src/load/types.ts';
import type { RequestSpec } from '../../src/scenario/schema.ts';
import { closed, drive } from './drive.ts';

// Every method the scenario schema allows works against the bundled services, with each client. A
// response to HEAD has a Content-Length and no body: a client waiting for the body times out.
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;
const clients: Record<string, () => LoadEngine> = {
  autocannon: () => new AutocannonEngine(),
  lean: () => new LeanEngine(),
  'lean, pipelining 4': () => new LeanEngine({ pipelining: 4 }),
};

for (const [name, make] of Object.entries(clients)) {
  test(`${name}: every method of the schema gets answered by the bundled services, HEAD included`, async (t) => {
    const svc = await startBundledServices({ backend: { default: { payloadBytes: 512 } } });
    t.teardown(() => svc.stop());
    for (const method of METHODS) {
      const req: RequestSpec = { method, path: '/api/x', headers: {}, weight: 1, ...(['POST', 'PUT', 'PATCH'].includes(method) ? { body: '{"a":1}' } : {}) };
      const r = await drive(make(), svc.frontend.url, [closed(method, 400, 2)], [req], 1000);
      t.true(r.summary.responses >= 10, `${method}: ${r.summary.responses} responses`);
      t.is(r.summary.errors, 0, `${method}: ${JSON.stringify(r.summary)}`);
      t.is(r.total('http.reqs'), r.summary.responses, method);
    }
  });

  test(`${name}: a HEAD among GETs on one connection leaves the stream in step`, async (t) => {
    const svc = await startBundledServices({ backend: { default: { payloadBytes: 3000 } } });
    t.teardown(() => svc.stop());
    const mix: RequestSpec[] = [
      { method: 'GET', path: '/a', headers: {}, weight: 2 },
      { method: 'HEAD', path: '/b', headers: {}, weight: 1 },
    ];
    const r = await drive(make(), svc.frontend.url, [closed('mix', 500, 1)], mix, 1000);
    t.true(r.summary.responses >= 20, `${r.summary.responses} responses`);
    t.is(r.summary.errors, 0, JSON.stringify(r.summary));
    const served = await svc.frontend.requestsServed();
    t.true(served >= r.summary.responses, `frontend served ${served}, client counted ${r.summary.responses}`);
  });
}
