import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { complementCidrs } from '../../src/load/k6/guard.ts';
import { planFromScenarios, scenariosOf } from '../../src/load/k6/inspect.ts';
import { generateScript, GRACEFUL_STOP } from '../../src/load/k6/script.ts';
import { parseSummary } from '../../src/load/k6/summary.ts';
import type { LoadPlan } from '../../src/load/types.ts';
import type { PlannedStage } from '../../src/core/types.ts';
import type { RequestSpec } from '../../src/scenario/schema.ts';

const USER_SCRIPT = fileURLToPath(new URL('../../fixtures/k6/user-script.js', import.meta.url));

const req = (path: string, weight: number, extra: Partial<RequestSpec> = {}): RequestSpec => ({ method: 'GET', path, headers: {}, weight, ...extra });

function plan(stages: PlannedStage[], over: Partial<LoadPlan> = {}): Pick<LoadPlan, 'baseUrl' | 'requests' | 'stages' | 'requestTimeoutMs' | 'thresholds'> {
  return { baseUrl: 'http://127.0.0.1:8080', requests: [req('/', 1)], stages, requestTimeoutMs: 10_000, thresholds: {}, ...over };
}

test('a closed stage becomes constant-vus at its offset', (t) => {
  const g = generateScript(plan([{ name: 'warmup', startMs: 0, durationMs: 10_000, model: 'closed', connections: 8 }]));
  t.deepEqual(g.options.scenarios, {
    warmup: { executor: 'constant-vus', vus: 8, duration: '10000ms', startTime: '0ms', gracefulStop: GRACEFUL_STOP },
  });
  t.deepEqual(g.spans, { warmup: [[0, 'warmup']] });
});

test('consecutive closed stages become one ramping-vus scenario that steps at each boundary', (t) => {
  const g = generateScript(
    plan([
      { name: 'a', startMs: 0, durationMs: 2000, model: 'closed', connections: 4 },
      { name: 'b', startMs: 2000, durationMs: 3000, model: 'closed', connections: 16 },
      { name: 'c', startMs: 5000, durationMs: 1000, model: 'open', rate: { from: 100, to: 100 } },
      { name: 'd', startMs: 6000, durationMs: 1000, model: 'closed', connections: 2 },
    ]),
  );
  t.deepEqual(Object.keys(g.options.scenarios), ['a-to-b', 'c', 'd']);
  t.deepEqual(g.options.scenarios['a-to-b'], {
    executor: 'ramping-vus',
    startVUs: 4,
    stages: [
      { duration: '2000ms', target: 4 },
      { duration: '0s', target: 16 },
      { duration: '3000ms', target: 16 },
    ],
    gracefulRampDown: GRACEFUL_STOP,
    startTime: '0ms',
    gracefulStop: GRACEFUL_STOP,
  });
  t.deepEqual(g.spans['a-to-b'], [[0, 'a'], [2000, 'b']]);
  t.is(g.options.scenarios.d.executor, 'constant-vus');
  t.is(g.options.scenarios.d.startTime, '6000ms');
});

test('open stages become constant- and ramping-arrival-rate with the VU pool as connection pool', (t) => {
  const g = generateScript(
    plan([
      { name: 'steady', startMs: 0, durationMs: 20_000, model: 'open', rate: { from: 600, to: 600 } },
      { name: 'ramp down', startMs: 20_000, durationMs: 10_000, model: 'open', rate: { from: 600, to: 100 }, connections: 40 },
      { name: 'trickle', startMs: 30_000, durationMs: 5000, model: 'open', rate: { from: 2.5, to: 0.25 } },
    ]),
  );
  t.deepEqual(g.options.scenarios.steady, {
    executor: 'constant-arrival-rate',
    rate: 600,
    duration: '20000ms',
    timeUnit: '1s',
    preAllocatedVUs: 300,
    maxVUs: 1200,
    startTime: '0ms',
    gracefulStop: GRACEFUL_STOP,
  });
  // Stage names that k6 does not accept as scenario names are mapped; the spans map them back.
  t.deepEqual(g.options.scenarios.ramp_down, {
    executor: 'ramping-arrival-rate',
    startRate: 600,
    stages: [{ duration: '10000ms', target: 100 }],
    timeUnit: '1s',
    preAllocatedVUs: 40,
    maxVUs: 40,
    startTime: '20000ms',
    gracefulStop: GRACEFUL_STOP,
  });
  t.deepEqual(g.spans.ramp_down, [[0, 'ramp down']]);
  // Fractional rates stay exact: k6 rates are integers per timeUnit.
  t.like(g.options.scenarios.trickle, { executor: 'ramping-arrival-rate', startRate: 250, timeUnit: '100s', stages: [{ duration: '5000ms', target: 25 }] });
});

test('the weighted mix becomes weighted requests in smooth round-robin order', (t) => {
  const g = generateScript(
    plan([{ name: 's', startMs: 0, durationMs: 1000, model: 'closed', connections: 1 }], {
      baseUrl: 'http://127.0.0.1:9000/base/',
      requests: [
        req('/api/items', 4, { name: 'items' }),
        req('/api/slow', 1),
        req('/api/items', 1, { method: 'POST', name: 'create', headers: { 'content-type': 'application/json' }, body: '{"sku":"a-1"}' }),
      ],
      requestTimeoutMs: 2500,
    }),
  );
  const requests = JSON.parse(/const REQUESTS = (\[[\s\S]*?\n\]);/.exec(g.source)![1]) as { method: string; url: string; body: string | null; params: { headers: Record<string, string>; tags: Record<string, string>; timeout: string } }[];
  t.deepEqual(requests[0], { method: 'GET', url: 'http://127.0.0.1:9000/base/api/items', body: null, params: { headers: {}, tags: { name: 'items' }, timeout: '2500ms' } });
  t.deepEqual(requests[1].params.tags, { name: 'GET /api/slow' });
  t.like(requests[2], { method: 'POST', body: '{"sku":"a-1"}', params: { headers: { 'content-type': 'application/json' } } });
  const order = JSON.parse(/const ORDER = (\[[^\]]*\]);/.exec(g.source)![1]) as number[];
  t.is(order.length, 6);
  t.deepEqual([0, 1, 2].map((i) => order.filter((x) => x === i).length), [4, 1, 1]);
  t.notDeepEqual(order.slice(0, 4), [0, 0, 0, 0], 'the heavy request is spread out, not bunched');
});

test('thresholds go to k6 where k6 has the aggregation; the rest are listed as skipped', (t) => {
  const g = generateScript(
    plan([{ name: 's', startMs: 0, durationMs: 1000, model: 'closed', connections: 1 }], {
      thresholds: { http_req_duration: ['p(99) < 250', 'avg<100', 'count > 5'], http_req_failed: ['rate < 0.01', 'count < 3'], http_reqs: ['count > 100', 'rate > 50'] },
    }),
  );
  t.deepEqual(g.options.thresholds, { http_req_duration: ['p(99) < 250', 'avg<100'], http_req_failed: ['rate < 0.01'], http_reqs: ['count > 100', 'rate > 50'] });
  t.deepEqual(g.skippedThresholds.map((s) => `${s.metric} ${s.expression}`), ['http_req_duration count > 5', 'http_req_failed count < 3']);
});

/** Directory holding @types/k6 (a typeRoots entry): $LOADSCOPE_K6_TYPES_ROOT or the repository's node_modules/@types. */
function k6TypesRoot(): string | undefined {
  if (process.env.LOADSCOPE_K6_TYPES_ROOT) return process.env.LOADSCOPE_K6_TYPES_ROOT;
  try {
    return dirname(dirname(createRequire(import.meta.url).resolve('@types/k6/package.json')));
  } catch {
    return undefined;
  }
}

/** Type-checks JavaScript files against the k6 type definitions; returns the diagnostics as text. */
function typeCheck(files: string[], typesRoot: string): string[] {
  const program = ts.createProgram(files, {
    allowJs: true,
    checkJs: true,
    noEmit: true,
    strict: true,
    target: ts.ScriptTarget.ES2020,
    module: ts.ModuleKind.ES2020,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    lib: ['lib.es2020.d.ts'],
    types: ['k6'],
    typeRoots: [typesRoot],
  });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file && d.start !== undefined ? `${d.file.fileName}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}: ` : '';
    return where + ts.flattenDiagnosticMessageText(d.messageText, '\n');
  });
}

test('the generated script (and the user fixture) type-check against @types/k6', (t) => {
  const root = k6TypesRoot();
  if (!root) return t.fail('@types/k6 is not installed: add "@types/k6": "2.3.0" to devDependencies (or set LOADSCOPE_K6_TYPES_ROOT)');
  const g = generateScript(
    plan(
      [
        { name: 'warmup', startMs: 0, durationMs: 1000, model: 'closed', connections: 2 },
        { name: 'hold', startMs: 1000, durationMs: 1000, model: 'closed', connections: 4 },
        { name: 'ramp', startMs: 2000, durationMs: 2000, model: 'open', rate: { from: 10.5, to: 50 } },
        { name: 'steady', startMs: 4000, durationMs: 1000, model: 'open', rate: { from: 50, to: 50 } },
      ],
      {
        requests: [req('/a', 3, { name: 'a' }), req('/b', 1, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })],
        thresholds: { http_req_duration: ['p(99) < 250'], http_req_failed: ['rate < 0.01'] },
      },
    ),
  );
  const dir = mkdtempSync(join(tmpdir(), 'ls-k6-types-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'script.js');
  writeFileSync(file, g.source);
  t.deepEqual(typeCheck([file, USER_SCRIPT], root), []);

  // The check is not vacuous: a wrong executor name or request call is caught.
  const broken = join(dir, 'broken.js');
  writeFileSync(broken, g.source.replace('"constant-arrival-rate"', '"constant-arrival-rat"').replace('http.request(r.method, r.url, r.body, params)', 'http.request(r.method, 42, r.body, params)'));
  const problems = typeCheck([broken], root);
  t.true(problems.some((p) => p.includes('constant-arrival-rat')), problems.join('\n'));
  t.true(problems.some((p) => p.includes("'number'")), problems.join('\n'));
});

test('k6 summary-export: threshold booleans mean "failed", checks are collected from nested groups', (t) => {
  const s = parseSummary({
    root_group: { checks: { ok: { name: 'ok', path: '::ok', passes: 3, fails: 1 } }, groups: { g: { checks: { inner: { name: 'inner', path: '::g::inner', passes: 2, fails: 0 } }, groups: {} } } },
    metrics: { http_reqs: { count: 10, rate: 5, thresholds: { 'count > 100': true, 'count > 1': false } } },
  });
  t.deepEqual(s.thresholds, [
    { metric: 'http_reqs', expression: 'count > 100', ok: false },
    { metric: 'http_reqs', expression: 'count > 1', ok: true },
  ]);
  t.deepEqual(s.checks.map((c) => c.path), ['::ok', '::g::inner']);
  t.deepEqual(s.metrics.http_reqs, { count: 10, rate: 5 });
});

test('a user script\'s options give one planned stage per k6 scenario', (t) => {
  const list = scenariosOf({
    scenarios: {
      later: { executor: 'ramping-vus', startTime: '1s', startVUs: 1, stages: [{ duration: '2s', target: 4 }, { duration: '2s', target: 0 }] },
      browse: { executor: 'constant-arrival-rate', rate: 50, timeUnit: '1s', duration: '4s', preAllocatedVUs: 10 },
    },
  });
  t.deepEqual(planFromScenarios(list), [
    { name: 'browse', startMs: 0, durationMs: 4000, model: 'open', connections: 10, rate: { from: 50, to: 50 } },
    { name: 'later', startMs: 1000, durationMs: 4000, model: 'closed', connections: 4 },
  ]);
  t.deepEqual(scenariosOf({ vus: 3, duration: '30s' }).map((s) => [s.name, s.executor, s.vus, s.durationMs]), [['default', 'constant-vus', 3, 30_000]]);
});

test('the k6 network guard blocks everything outside loopback, 198.18.0.0/15 and the allowed target', (t) => {
  const ranges = complementCidrs(['127.0.0.0/8', '198.18.0.0/15', '::1/128', '203.0.113.7/32']);
  const v4 = ranges.filter((r) => !r.includes(':'));
  const v6 = ranges.filter((r) => r.includes(':'));
  // The IPv4 ranges tile the space outside the allowed ones exactly.
  const size = (r: string) => 2 ** (32 - Number(r.split('/')[1]));
  t.is(v4.reduce((a, r) => a + size(r), 0), 2 ** 32 - 2 ** 24 - 2 ** 17 - 1);
  const ip = (a: string) => a.split('.').reduce((x, p) => x * 256 + Number(p), 0);
  const blocked = (a: string) => v4.some((r) => {
    const [net, len] = r.split('/');
    return Math.floor(ip(a) / size(r)) === Math.floor(ip(net) / size(r)) && Number(len) >= 0;
  });
  for (const a of ['10.1.2.3', '192.168.1.1', '8.8.8.8', '0.0.0.0', '198.20.0.1', '203.0.113.8', '255.255.255.255']) t.true(blocked(a), a);
  for (const a of ['127.0.0.1', '127.255.0.9', '198.18.0.1', '198.19.255.254', '203.0.113.7']) t.false(blocked(a), a);
  t.is(v6.length, 128);
  t.true(v6.includes('0:0:0:0:0:0:0:0/128'));
  t.true(v6.includes('8000:0:0:0:0:0:0:0/1'));
});
