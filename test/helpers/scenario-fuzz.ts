// The scenario fuzzer: a grammar of valid scenario files written after src/scenario/schema.ts, mutations of
// them (wrong types, missing and unknown keys, bad units, huge and NaN-ish numbers, hostile unicode, broken
// YAML, duplicate keys, deep nesting, alias bombs), and the oracle every case must satisfy: a valid plan
// within LIMITS, or SCENARIO_INVALID with located problems — never another error, a stack or a hang.
// Used by `npm run fuzz` (scripts/fuzz.ts) and test/scenario/fuzz.test.ts.
import fc from 'fast-check';
import { stringify } from 'yaml';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { LoadscopeError } from '../../src/core/errors.ts';
import { hostileChar, LIMITS } from '../../src/scenario/limits.ts';
import { parseScenario } from '../../src/scenario/load.ts';
import { repoRoot } from './cli.ts';

type Obj = Record<string, unknown>;

const K6_SCRIPT = join(repoRoot, 'fixtures', 'k6', 'user-script.js');

const durationArb = (maxMs: number): fc.Arbitrary<string> =>
  fc.oneof(
    fc.integer({ min: 1, max: Math.min(600, maxMs / 1000) }).map((n) => `${n}s`),
    fc.integer({ min: 1, max: 5000 }).map((n) => `${n}ms`),
    fc.integer({ min: 1, max: Math.min(90, maxMs / 60_000) }).map((n) => `${n}m`),
    fc.tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 1, max: 59 })).map(([m, s]) => `${m}m${s}s`),
    fc.double({ min: 0.1, max: 30, noNaN: true }).map((x) => `${+x.toFixed(2)}s`).filter((x) => x !== '0s'),
  );

/** A name the validator must accept: printable unicode, 1..64 characters. */
const nameArb = fc.oneof(
  fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).filter((s) => s.trim() === s && s.length <= LIMITS.nameChars && !hostileChar(s) && s.length > 0),
);

const cpuArb = fc.oneof(fc.integer({ min: 1, max: 4000 }).map((n) => `${n}m`), fc.constantFrom(0.5, 1, 2, '1.5'));
const memArb = fc.oneof(fc.integer({ min: 1, max: 4096 }).map((n) => `${n}Mi`), fc.constantFrom('1Gi', 134217728, '500M'));

const resourcesArb = fc.record(
  {
    requests: fc.record({ cpu: cpuArb, memory: memArb }, { requiredKeys: [] }),
  },
  { requiredKeys: [] },
);

const routeArb = fc.record(
  {
    cpuMs: fc.double({ min: 0, max: 1000, noNaN: true }),
    payloadBytes: fc.integer({ min: 0, max: 1 << 20 }),
    delayMs: fc.integer({ min: 0, max: 60_000 }),
    delayJitterMs: fc.integer({ min: 0, max: 1000 }),
    status: fc.integer({ min: 200, max: 599 }),
  },
  { requiredKeys: [] },
);

const pathArb = fc.oneof(
  fc.constantFrom('/', '/api/items', '/api/slow', '/a/b?c=d&e=%20', '/ünïcødé', '/%F0%9F%98%80'),
  fc.stringMatching(/^\/[a-z0-9/_.~-]{0,30}$/),
);

const headerArb = fc.dictionary(
  fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/),
  fc.oneof(fc.string({ maxLength: 40 }).filter((v) => !/[\u0000-\u0008\u000a-\u001f\u007f]/.test(v)), fc.constant('application/json')),
  { maxKeys: 4 },
);

const requestArb = fc.record(
  {
    name: nameArb,
    method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'),
    path: pathArb,
    headers: headerArb,
    body: fc.string({ maxLength: 60 }),
    weight: fc.integer({ min: 1, max: 1000 }),
  },
  { requiredKeys: ['path'] },
);

const rateArb = fc.oneof(
  fc.oneof(fc.integer({ min: 1, max: 5000 }), fc.double({ min: 0.01, max: LIMITS.rate, noNaN: true })),
  fc.record({ from: fc.integer({ min: 0, max: 5000 }), to: fc.integer({ min: 0, max: LIMITS.rate }) }),
);

const stageArb = fc.oneof(
  fc.record({ name: nameArb, duration: durationArb(7_200_000), connections: fc.integer({ min: 1, max: 10_000 }) }, { requiredKeys: ['duration', 'connections'] }),
  fc.record(
    { name: nameArb, duration: durationArb(7_200_000), rate: rateArb, maxConnections: fc.integer({ min: 1, max: 10_000 }) },
    { requiredKeys: ['duration', 'rate'] },
  ),
);

const thresholdArb = fc.record(
  {
    http_req_duration: fc.array(
      fc.tuple(fc.constantFrom('avg', 'min', 'max', 'med', 'count', 'p(50)', 'p(99)', 'p(99.9)', 'p(100)'), fc.constantFrom('<', '<=', '>', '>=', '==', '!='), fc.integer({ min: 0, max: 10_000 })).map(([a, o, n]) => `${a} ${o} ${n}`),
      { minLength: 1, maxLength: 3 },
    ),
    http_req_failed: fc.array(fc.tuple(fc.constantFrom('rate', 'count'), fc.constantFrom('<', '<='), fc.constantFrom('0.01', '1', '0')).map(([a, o, n]) => `${a}${o}${n}`), { minLength: 1, maxLength: 2 }),
    http_reqs: fc.array(fc.constantFrom('count > 100', 'rate > 10'), { minLength: 1, maxLength: 2 }),
    dropped_iterations: fc.array(fc.constantFrom('count == 0', 'rate < 1'), { minLength: 1, maxLength: 1 }),
  },
  { requiredKeys: [] },
);

const rps = { name: 'http_requests_per_second' };
const avgValueArb = fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.constantFrom('80', '500m', '1k'));
const hpaMetricArb = fc.oneof(
  fc.record({ type: fc.constant('Object'), object: fc.record({ describedObject: fc.record({ apiVersion: fc.constant('v1'), kind: fc.constant('Service'), name: fc.constantFrom('backend', 'frontend') }), metric: fc.constant(rps), target: fc.record({ type: fc.constant('AverageValue'), averageValue: avgValueArb }) }) }),
  fc.record({ type: fc.constant('Pods'), pods: fc.record({ metric: fc.constant(rps), target: fc.record({ type: fc.constant('AverageValue'), averageValue: avgValueArb }) }) }),
  fc.record({ type: fc.constant('External'), external: fc.record({ metric: fc.constant(rps), target: fc.record({ type: fc.constant('Value'), value: avgValueArb }) }) }),
  fc.record({ type: fc.constant('Resource'), resource: fc.record({ name: fc.constantFrom('cpu', 'memory'), target: fc.record({ type: fc.constant('Utilization'), averageUtilization: fc.integer({ min: 1, max: 200 }) }) }) }),
  fc.record({ type: fc.constant('Resource'), resource: fc.record({ name: fc.constant('memory'), target: fc.record({ type: fc.constant('AverageValue'), averageValue: fc.constantFrom('256Mi', '1Gi') }) }) }),
);
const rulesArb = fc.record(
  {
    stabilizationWindowSeconds: fc.integer({ min: 0, max: 3600 }),
    selectPolicy: fc.constantFrom('Max', 'Min', 'Disabled'),
    policies: fc.array(fc.record({ type: fc.constantFrom('Pods', 'Percent'), value: fc.integer({ min: 1, max: 100 }), periodSeconds: fc.integer({ min: 1, max: 1800 }) }), { minLength: 1, maxLength: 2 }),
    tolerance: fc.constantFrom('0.05', 0.1, '50m'),
  },
  { requiredKeys: [] },
);
const autoscalerArb = fc
  .record(
    {
      scaleTargetRef: fc.record({ apiVersion: fc.constant('apps/v1'), kind: fc.constant('Deployment'), name: fc.constantFrom('backend', 'frontend') }, { requiredKeys: ['kind', 'name'] }),
      minReplicas: fc.integer({ min: 1, max: 4 }),
      maxReplicas: fc.integer({ min: 4, max: LIMITS.replicas }),
      metrics: fc.array(hpaMetricArb, { minLength: 1, maxLength: 3 }),
      behavior: fc.record({ scaleUp: rulesArb, scaleDown: rulesArb }, { requiredKeys: [] }),
      syncPeriod: fc.constantFrom('1s', '5s', '15s', '10m'),
      metricResolution: fc.constantFrom('1s', '5s', '15s'),
    },
    { requiredKeys: ['scaleTargetRef', 'maxReplicas'] },
  );

/** A scenario the validator must accept, as the object a user would write. */
export const validScenarioArb: fc.Arbitrary<Obj> = fc
  .record(
    {
      name: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/),
      description: fc.string({ unit: 'grapheme', maxLength: 80 }).filter((s) => !hostileChar(s, true)),
      engine: fc.constantFrom('autocannon', 'lean', 'k6'),
      pipelining: fc.integer({ min: 1, max: 64 }),
      script: fc.constant(K6_SCRIPT),
      target: fc.oneof(
        fc.constant({ services: 'bundled' }),
        fc.constantFrom('http://127.0.0.1:8080', 'http://localhost:3000/api', 'https://[::1]:8443/', 'http://198.18.0.7', 'http://198.19.255.1:80/x?y=1').map((url) => ({ url })),
      ),
      cluster: fc.record({ mode: fc.constantFrom('auto', 'loopback', 'local') }, { requiredKeys: [] }),
      services: fc.record(
        {
          backend: fc.record(
            {
              routes: fc.dictionary(fc.stringMatching(/^\/[a-z0-9/]{0,12}$/), routeArb, { maxKeys: 3 }),
              default: routeArb,
              replicas: fc.integer({ min: 0, max: LIMITS.replicas }),
              resources: resourcesArb,
              rateLimit: fc.record({ requestsPerSecond: fc.integer({ min: 1, max: 1_000_000 }), burst: fc.integer({ min: 1, max: 1_000_000 }) }, { requiredKeys: ['requestsPerSecond'] }),
            },
            { requiredKeys: [] },
          ),
          frontend: fc.record({ maxSockets: fc.integer({ min: 1, max: 10_000 }), replicas: fc.integer({ min: 0, max: LIMITS.replicas }), resources: resourcesArb }, { requiredKeys: [] }),
        },
        { requiredKeys: [] },
      ),
      requests: fc.array(requestArb, { minLength: 1, maxLength: 4 }),
      stages: fc.array(stageArb, { minLength: 1, maxLength: 5 }),
      stress: fc.array(fc.record({ name: nameArb, start: durationArb(3_600_000), duration: durationArb(3_600_000), cores: fc.integer({ min: 1, max: 256 }), utilization: fc.double({ min: 0.01, max: 1, noNaN: true }) }, { requiredKeys: ['start', 'duration', 'cores'] }), { maxLength: 2 }),
      probes: fc.constantFrom('auto', 'required', 'off'),
      requestTimeout: durationArb(LIMITS.requestTimeoutMs),
      thresholds: thresholdArb,
      autoscaler: autoscalerArb,
    },
    { requiredKeys: ['name', 'stages'] },
  )
  .map(fixUp);

/** The cross-key rules of the schema, applied so the scenario stays valid. */
function fixUp(s: Obj): Obj {
  if (s.engine !== 'lean') delete s.pipelining;
  if (s.engine !== 'k6') delete s.script;
  const stages = s.stages as Obj[];
  const seen = new Set<string>();
  for (const st of stages) {
    if (typeof st.name === 'string' && seen.has(st.name)) delete st.name;
    if (typeof st.name === 'string') seen.add(st.name);
  }
  const total = stages.reduce((a, st) => a + (parseMs(st.duration as string) ?? 0), 0);
  // a stress phase starts strictly before the stages' end, at 1 ms or later: none fits stages of 1 ms
  if (total < 2) delete s.stress;
  const stress = (s.stress as Obj[] | undefined) ?? [];
  const names = new Set<string>();
  stress.forEach((p, i) => {
    if ((parseMs(p.start as string) ?? 0) >= total) p.start = `${Math.floor(total / 2)}ms`;
    const n = typeof p.name === 'string' ? p.name : `stress-${i + 1}`;
    if (names.has(n) || (p.name === undefined && stress.some((q, j) => j !== i && q.name === n))) p.name = `phase-${i}-${names.size}`;
    names.add(typeof p.name === 'string' ? p.name : n);
  });
  const a = s.autoscaler as Obj | undefined;
  if (a) {
    const svc = (a.scaleTargetRef as Obj).name as 'backend' | 'frontend';
    const services = ((s.services ??= {}) as Obj);
    const conf = ((services[svc] ??= {}) as Obj);
    const res = ((conf.resources ??= {}) as Obj);
    const req = ((res.requests ??= {}) as Obj);
    req.cpu ??= '200m';
    req.memory ??= '128Mi';
  }
  return s;
}

function parseMs(d: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let t = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(d)) !== null) t += Number(m[1]) * unit[m[2]];
  return t;
}

// ---- mutations ------------------------------------------------------------------------------------------

type Path = (string | number)[];

/** Every path into a plain object/array tree, the root excluded. */
function paths(v: unknown, at: Path = [], out: Path[] = []): Path[] {
  if (Array.isArray(v)) v.forEach((x, i) => (out.push([...at, i]), paths(x, [...at, i], out)));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) (out.push([...at, k]), paths(x, [...at, k], out));
  return out;
}

function parentOf(root: Obj, path: Path): { parent: Obj | unknown[]; key: string | number } {
  let cur: unknown = root;
  for (const k of path.slice(0, -1)) cur = (cur as Obj)[k as string];
  return { parent: cur as Obj, key: path[path.length - 1] };
}

const HOSTILE_STRINGS = [
  'evil\u202Egnp.exe', 'a\u2066b\u2069c', '\u202Aleft', 'x\u202Dy', 'nul\u0000byte', 'bell\u0007', 'esc\u001b[31mred', 'cr\rlf\n', 'tab\there', 'del\u007f', 'c1\u0085',
  '\u2028line', '😀🚀', 'é́́́́', '\uFEFFbom', '\u200Bzero', 'ＡＢＣ', 'ǅ', '\uD800', '\uDFFF', '"quoted"', "'", '<script>alert(1)</script>', '${env:HOME}', '{{x}}', '../../etc/passwd',
  '', ' ', ' lead', 'trail ', 'x'.repeat(65), 'x'.repeat(5000),
];
const NUMBERISH = ['NaN', '.nan', 'Infinity', '.inf', '-.inf', '-0', '1_000', '0x10', '0o17', '1e309', '-1e309', '1e-400', '١٢٣', '10 req/s', '', 'null', '~', 'true', 'yes', 'off'];
const HUGE = [1e9, 1e12, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 2 ** 31, -1, -0.5, 0, -0, 0.0000001, 1.5, 1e-300, 123456789.123];
const BAD_DURATIONS = ['10', '10 s', '10sec', '10S', '-5s', '0s', '0ms', '1e3s', '1.s', '.5s', 's', '10s10', '1h1x', '8760h', '99999999999999999999h', '25h', '86400001ms', '1440m1ms', '∞', '１０s', '10s ', ' 10s', '10 ms', '1d', '1w', 'PT10S'];
const TYPO_KEYS = ['nmae', 'stage', 'Stages', 'duraton', 'rates', 'conections', 'header', 'weigth', 'requsts', 'tresholds', 'autoscaller', 'maxReplica', 'pipeline', '__proto__', 'constructor', 'toString', 'prototype', '', ' ', '💥', '<<'];

type Mutation = { name: string; apply: (s: Obj, r: Rand) => void };

const pick = <T>(r: Rand, xs: readonly T[]): T => xs[r.nextInt(0, xs.length - 1)];

function randomPath(s: Obj, r: Rand, filter: (v: unknown) => boolean = () => true): Path | undefined {
  const all = paths(s).filter((p) => filter(parentOf(s, p).parent instanceof Array ? (parentOf(s, p).parent as unknown[])[p[p.length - 1] as number] : (parentOf(s, p).parent as Obj)[p[p.length - 1] as string]));
  return all.length ? pick(r, all) : undefined;
}

const setAt = (s: Obj, p: Path, v: unknown) => {
  const { parent, key } = parentOf(s, p);
  (parent as Obj)[key as string] = v;
};

const OBJECT_MUTATIONS: Mutation[] = [
  { name: 'missing-key', apply: (s, r) => { const p = randomPath(s, r); if (p) { const { parent, key } = parentOf(s, p); if (Array.isArray(parent)) parent.splice(key as number, 1); else delete (parent as Obj)[key as string]; } } },
  { name: 'missing-required', apply: (s, r) => { if (r.nextBoolean()) delete s.stages; else delete s.name; } },
  { name: 'wrong-type', apply: (s, r) => { const p = randomPath(s, r); if (p) setAt(s, p, pick(r, [42, 'text', true, null, [], {}, [1, 2], { a: 1 }, -1, 3.14, ''])); } },
  { name: 'unknown-key', apply: (s, r) => { const objs = [s, ...paths(s).map((p) => { const { parent, key } = parentOf(s, p); return (parent as Obj)[key as string]; })].filter((v): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v)); const o = pick(r, objs); o[pick(r, TYPO_KEYS)] = pick(r, [1, 'x', null, { y: 2 }]); } },
  { name: 'bad-unit', apply: (s, r) => { const p = randomPath(s, r, (v) => typeof v === 'string' && /^\d/.test(v)) ?? ['stages', 0, 'duration']; setAt(s, p, pick(r, BAD_DURATIONS)); } },
  { name: 'huge-number', apply: (s, r) => { const p = randomPath(s, r, (v) => typeof v === 'number') ?? ['stages', 0, 'rate']; setAt(s, p, pick(r, HUGE)); } },
  { name: 'nan-ish-string', apply: (s, r) => { const p = randomPath(s, r, (v) => typeof v === 'number') ?? ['stages', 0, 'rate']; setAt(s, p, pick(r, NUMBERISH)); } },
  { name: 'hostile-unicode', apply: (s, r) => { const p = randomPath(s, r, (v) => typeof v === 'string') ?? ['name']; setAt(s, p, pick(r, HOSTILE_STRINGS)); } },
  { name: 'hostile-name', apply: (s, r) => { const where = pick(r, ['stage', 'request', 'stress', 'header']); const v = pick(r, HOSTILE_STRINGS); const stages = s.stages as Obj[] | undefined; if (where === 'stage' && stages?.[0]) stages[0].name = v; else if (where === 'request') s.requests = [{ name: v, path: '/' }]; else if (where === 'stress') s.stress = [{ name: v, start: '1ms', duration: '1s', cores: 1 }]; else s.requests = [{ path: '/', headers: { [r.nextBoolean() ? v : 'x-h']: v } }]; } },
  { name: 'oversized', apply: (s, r) => { const n = pick(r, [8 * 1024 + 1, 70_000, 1_100_000]); const big = 'v'.repeat(n); const where = pick(r, ['header', 'body', 'path', 'description', 'name']); if (where === 'header') s.requests = [{ path: '/', headers: { 'x-big': big } }]; else if (where === 'body') s.requests = [{ path: '/', body: big }]; else if (where === 'path') s.requests = [{ path: `/${big}` }]; else s[where] = big; } },
  { name: 'long-run', apply: (s, r) => { s.stages = Array.from({ length: r.nextInt(1, 30) }, () => ({ duration: pick(r, ['1h', '23h', '24h', '8760h', '1441m', '86400s']), rate: pick(r, [1, 1e6, 1e6 + 1, 1e9]) })); } },
  { name: 'many-headers', apply: (s) => { s.requests = [{ path: '/', headers: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`x-h${i}`, 'v'])) }]; } },
];

/** Mutations of the text: what a YAML tree cannot express. */
const TEXT_MUTATIONS: { name: string; apply: (t: string, r: Rand) => string }[] = [
  { name: 'truncated', apply: (t, r) => t.slice(0, r.nextInt(0, t.length)) },
  { name: 'inserted-junk', apply: (t, r) => { const at = r.nextInt(0, t.length); return t.slice(0, at) + pick(r, [':', '[', '{', '}', ']', '\t', '- ', '&a ', '*a', '!!binary ', '%YAML 1.1\n', '? ', '|', '>', '"', "'", '#', '\n---\n', '\u0000', '\r', '\\', ': :', '!!js/function "x"', '!!set', '<<: *a\n', '@', '`']) + t.slice(at); } },
  { name: 'deleted-line', apply: (t, r) => { const lines = t.split('\n'); lines.splice(r.nextInt(0, lines.length - 1), 1); return lines.join('\n'); } },
  { name: 'reindented-line', apply: (t, r) => { const lines = t.split('\n'); const i = r.nextInt(0, lines.length - 1); lines[i] = ' '.repeat(r.nextInt(0, 7)) + lines[i].trimStart(); return lines.join('\n'); } },
  { name: 'duplicate-key', apply: (t, r) => { const lines = t.split('\n'); const keyed = lines.map((l, i) => [l, i] as const).filter(([l]) => /^\s*[\w$-]+:/.test(l)); if (!keyed.length) return `${t}\nname: again\n`; const [l, i] = pick(r, keyed); lines.splice(i + 1, 0, l.replace(/^(\s*)-\s/, '$1  ')); return lines.join('\n'); } },
  { name: 'duplicate-top-key', apply: (t, r) => `${t}\n${pick(r, ['name: twice', 'stages: []', 'engine: lean', 'probes: off'])}\n` },
  { name: 'deep-nesting', apply: (t, r) => { const n = pick(r, [33, 100, 1000, 5000, 20_000]); return r.nextBoolean() ? `${t}\ndescription: ${'['.repeat(n)}${']'.repeat(n)}\n` : `${t}\ndescription: ${'{a: '.repeat(n)}1${'}'.repeat(n)}\n`; } },
  { name: 'deep-block', apply: (t, r) => { const n = pick(r, [40, 300]); return `${t}\nthresholds:\n${Array.from({ length: n }, (_, i) => `${'  '.repeat(i + 1)}k${i}:`).join('\n')} 1\n`; } },
  { name: 'alias-bomb', apply: (t) => `${['a: &a [x,x,x,x,x,x,x,x,x,x]', ...'bcdefgh'.split('').map((c, i) => `${c}: &${c} [${Array(10).fill(`*${'abcdefgh'[i]}`).join(',')}]`)].join('\n')}\n${t}` },
  { name: 'alias-ok', apply: (t) => t.replace(/^name: (.*)$/m, 'name: &n $1').replace(/^description: .*$/m, 'description: *n') },
  { name: 'yaml-tags', apply: (t, r) => `${t}\ndescription: ${pick(r, ['!!binary aGVsbG8=', '!!set { a, b }', '!!omap [ a: 1 ]', '!!timestamp 2001-12-14', '!!float 1', '!!int x', '!custom value', '!!map []', '!!str 10', '!!null'])}\n` },
  { name: 'bom-crlf-tabs', apply: (t, r) => pick(r, [`\uFEFF${t}`, t.replace(/\n/g, '\r\n'), t.replace(/^ {2}/gm, '\t'), t.replace(/\n/g, '\r')]) },
  { name: 'multi-document', apply: (t) => `${t}\n---\n${t}` },
  { name: 'not-a-mapping', apply: (_t, r) => pick(r, ['', '   \n', '# only a comment\n', '- a\n- b\n', 'just text', '42', 'null', '~', '[]', '{}', '"str"', '!!binary aGk=', '---\n...\n']) },
  { name: 'complex-key', apply: (t, r) => `${t}\n${pick(r, ['? [a, b]\n: 1', '? { a: 1 }\n: 2', '[x]: 1', '{a: 1}: 2', '? |\n  block\n: 3', '*undefined: 1'])}\n` },
  { name: 'random-bytes', apply: (t, r) => { const at = r.nextInt(0, t.length); const junk = Array.from({ length: r.nextInt(1, 20) }, () => String.fromCharCode(r.nextInt(0, 0xffff))).join(''); return t.slice(0, at) + junk + t.slice(at); } },
];

/** One fuzz case: the file's text and how it was made. */
export interface FuzzCase {
  text: string;
  /** "valid", or the mutations applied (object ones first). */
  how: string;
}

const emit = (s: Obj, flow: boolean): string =>
  stringify(s, { lineWidth: 0, ...(flow ? { collectionStyle: 'flow' as const } : {}), aliasDuplicateObjects: false });

/** Cases: a third valid scenarios, the rest one to three mutations of one (of the tree, of the text, or both). */
export const fuzzCaseArb: fc.Arbitrary<FuzzCase> = fc
  .tuple(validScenarioArb, fc.integer({ min: 0, max: 8 }), fc.boolean(), fc.noShrink(fc.integer()))
  .map(([shared, shape, flow, salt]) => {
    const s = structuredClone(shared); // constants (fc.constant) are shared between cases
    const r = new Rand(salt);
    const text0 = () => emit(s, flow && r.nextInt(0, 3) === 0);
    if (shape <= 2) return { text: text0(), how: 'valid' };
    const how: string[] = [];
    const objMuts = shape <= 5 ? r.nextInt(1, 2) : shape === 8 ? 1 : 0;
    for (let i = 0; i < objMuts; i++) {
      const m = pick(r, OBJECT_MUTATIONS);
      m.apply(s, r);
      how.push(m.name);
    }
    let text = text0();
    const textMuts = shape >= 6 ? r.nextInt(1, 2) : 0;
    for (let i = 0; i < textMuts; i++) {
      const m = pick(r, TEXT_MUTATIONS);
      text = m.apply(text, r);
      how.push(m.name);
    }
    return { text, how: how.join('+') };
  });

/** The mutations' own random source, seeded by the case (xorshift32): the case stays a function of fast-check's seed. */
class Rand {
  private s: number;
  constructor(seed: number) {
    this.s = seed | 0 || 0x9e3779b9;
  }
  private next(): number {
    this.s ^= this.s << 13;
    this.s ^= this.s >>> 17;
    this.s ^= this.s << 5;
    return (this.s >>> 0) / 2 ** 32;
  }
  nextInt(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  nextBoolean(): boolean {
    return this.next() < 0.5;
  }
}

// ---- the oracle -----------------------------------------------------------------------------------------

/** How one case ended. `failure` is set when the case broke a rule. */
export interface Verdict {
  outcome: 'valid' | 'invalid' | 'crash';
  ms: number;
  problems?: number;
  failure?: string;
}

/**
 * Feeds `text` (saved as `file`) to the validator and judges the outcome: a valid scenario within LIMITS,
 * or SCENARIO_INVALID whose every problem names `file`, a line and column inside the text, a one-line
 * message without a stack, and a hint. `expectValid`: the case came unmutated from the grammar.
 */
export function judge(text: string, file: string, expectValid: boolean): Verdict {
  const t0 = performance.now();
  let spec: Obj | undefined;
  let err: unknown;
  try {
    spec = parseScenario(text, file).spec as unknown as Obj;
  } catch (e) {
    err = e;
  }
  const ms = performance.now() - t0;
  if (spec) {
    const bad = planProblem(spec);
    if (bad) return { outcome: 'valid', ms, failure: `accepted but ${bad}` };
    return { outcome: 'valid', ms };
  }
  if (!(err instanceof LoadscopeError)) return { outcome: 'crash', ms, failure: `threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}` };
  if (err.code !== 'SCENARIO_INVALID') return { outcome: 'crash', ms, failure: `LoadscopeError ${err.code} (not SCENARIO_INVALID): ${err.message}` };
  const lines = text.split(/\r\n|\r|\n/).length;
  if (err.problems.length === 0) return { outcome: 'invalid', ms, failure: 'SCENARIO_INVALID without a located problem' };
  for (const p of err.problems) {
    const where = `${p.line}:${p.col} ${JSON.stringify(p.message).slice(0, 200)}`;
    if (p.file !== file) return { outcome: 'invalid', ms, failure: `problem names ${p.file}, not the file` };
    if (!Number.isInteger(p.line) || !Number.isInteger(p.col) || p.line < 1 || p.col < 1 || p.line > lines + 1) return { outcome: 'invalid', ms, failure: `position outside the file (${lines} lines): ${where}` };
    if (!p.message || /\n|\r|\s+at \S+ \(|\[object Object\]/.test(p.message)) return { outcome: 'invalid', ms, failure: `message is not one clean line: ${where}` };
    if (/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.test(p.message)) return { outcome: 'invalid', ms, failure: `message carries control or bidi characters: ${where}` };
    if (p.message.length > 400) return { outcome: 'invalid', ms, failure: `message of ${p.message.length} characters: ${where}` };
    if (!p.hint) return { outcome: 'invalid', ms, failure: `problem without a hint: ${where}` };
  }
  if (expectValid) return { outcome: 'invalid', ms, problems: err.problems.length, failure: `a valid scenario was refused: ${err.problems.map((p) => `${p.line}:${p.col} ${p.message}`).join('; ').slice(0, 400)}` };
  return { outcome: 'invalid', ms, problems: err.problems.length };
}

/** What an accepted scenario must be: finite numbers, every value within LIMITS, names without hostile characters. */
function planProblem(spec: Obj): string | undefined {
  const finite = paths(spec).find((p) => {
    const { parent, key } = parentOf(spec, p);
    const v = (parent as Obj)[key as string];
    return typeof v === 'number' && !Number.isFinite(v);
  });
  if (finite) return `holds a non-finite number at ${finite.join('.')}`;
  const stages = spec.stages as { duration: number; rate?: number | { from: number; to: number }; name?: string }[];
  const total = stages.reduce((a, s) => a + s.duration, 0);
  if (!(total > 0 && total <= LIMITS.totalDurationMs)) return `lasts ${total} ms`;
  for (const s of stages) {
    const rates = s.rate === undefined ? [] : typeof s.rate === 'number' ? [s.rate] : [s.rate.from, s.rate.to];
    if (rates.some((x) => x < 0 || x > LIMITS.rate)) return `has a rate of ${rates.join('..')}`;
  }
  const names = [...stages.map((s) => s.name), ...(spec.stress as { name?: string }[]).map((s) => s.name), ...(spec.requests as { name?: string }[]).map((s) => s.name)];
  for (const n of names) if (n !== undefined && (hostileChar(n) || n.length > LIMITS.nameChars || n.length === 0)) return `has the name ${JSON.stringify(n)}`;
  for (const r of spec.requests as { path: string; headers: Record<string, string>; body?: string }[]) {
    for (const [k, v] of Object.entries(r.headers)) {
      if (Buffer.byteLength(v) > LIMITS.headerValueBytes || /[\r\n\u0000]/.test(v) || /[^!#$%&'*+.^_`|~0-9A-Za-z-]/.test(k)) return `has the header ${JSON.stringify(k).slice(0, 40)}`;
    }
    if (/[\s\u0000-\u001f]/.test(r.path) || Buffer.byteLength(r.path) > LIMITS.pathBytes) return `has the path ${JSON.stringify(r.path).slice(0, 40)}`;
    if (r.body !== undefined && Buffer.byteLength(r.body) > LIMITS.bodyBytes) return 'has an oversized body';
  }
  if (typeof spec.description === 'string' && (spec.description.length > LIMITS.descriptionChars || hostileChar(spec.description, true))) return 'has a hostile description';
  if (!((spec.requestTimeout as number) > 0 && (spec.requestTimeout as number) <= LIMITS.requestTimeoutMs)) return `has requestTimeout ${String(spec.requestTimeout)}`;
  return undefined;
}


// ---- the runner -----------------------------------------------------------------------------------------

export interface FuzzOptions {
  cases: number;
  seed: number;
  /** Also run every n-th case through the real CLI (`loadscope validate`); 0: never. */
  cliEvery: number;
  /** A case that takes longer than this fails as slow (ms). */
  slowMs?: number;
  /** A case that answers not within this is a hang: its worker is killed and the case fails (ms). */
  hangMs?: number;
  /** Where failing cases are saved (one .yaml that reproduces it and a .txt saying why). */
  outDir: string;
  log?: (line: string) => void;
}

export interface FuzzFailure {
  index: number;
  how: string;
  failure: string;
  file: string;
}

export interface FuzzReport {
  cases: number;
  valid: number;
  invalid: number;
  cli: number;
  maxMs: number;
  failures: FuzzFailure[];
}

type Job = { text: string; file: string; expectValid: boolean };

/** Judges cases in a worker thread, so a case that never returns is killed after `hangMs` and reported. */
class Judge {
  private worker: Worker | undefined;
  constructor(private readonly hangMs: number) {}

  async run(job: Job): Promise<Verdict> {
    // The thread registers tsx first, as bin/loadscope.js does (a worker inherits no loader hooks on Node 20).
    const code = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(new URL('./scenario-fuzz-worker.ts', import.meta.url).href)}); })`;
    this.worker ??= new Worker(code, { eval: true });
    const w = this.worker;
    return new Promise<Verdict>((resolve) => {
      const done = (v: Verdict) => {
        clearTimeout(timer);
        w.off('message', onMessage);
        w.off('error', onError);
        resolve(v);
      };
      const onMessage = (v: Verdict) => done(v);
      const onError = (e: Error) => {
        this.worker = undefined;
        void w.terminate();
        done({ outcome: 'crash', ms: 0, failure: `the validator's thread died: ${e.message}` });
      };
      const timer = setTimeout(() => {
        this.worker = undefined;
        void w.terminate();
        done({ outcome: 'crash', ms: this.hangMs, failure: `hang: no answer in ${this.hangMs} ms` });
      }, this.hangMs);
      w.on('message', onMessage);
      w.on('error', onError);
      w.postMessage(job);
    });
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
  }
}

/** Runs `loadscope validate` on `file` and returns why its outcome breaks the rules, or undefined. */
export async function cliProblem(file: string, expect: 'valid' | 'invalid'): Promise<string | undefined> {
  const { startCli } = await import('./cli.ts');
  const { child, done } = startCli(['validate', file]);
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const r = await done;
  clearTimeout(timer);
  if (r.signal) return `CLI killed by ${r.signal} (hang)`;
  const want = expect === 'valid' ? 0 : 2;
  if (r.code !== want) return `CLI exit ${r.code}, expected ${want}: ${r.stderr.slice(0, 300)}`;
  if (/\n\s+at .+:\d+:\d+\)?\n|internal error|Warning:/.test(`\n${r.stderr}\n`)) return `CLI printed a stack, an internal error or a warning: ${r.stderr.slice(0, 300)}`;
  if (want === 0) return /: ok \(/.test(r.stdout) && r.stderr === '' ? undefined : `CLI exit 0 without "ok": ${r.stdout.slice(0, 200)} ${r.stderr.slice(0, 200)}`;
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  const located = lines.filter((l) => l.startsWith(`${file}:`) && /^:\d+:\d+: /.test(l.slice(file.length)));
  const summary = lines.filter((l) => new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: \\d+ problems?( \\(the first \\d+ shown\\))?$`).test(l));
  if (located.length === 0 || located.length + summary.length !== lines.length) return `CLI exit 2 but not every line is file:line:col: ${r.stderr.slice(0, 300)}`;
  return undefined;
}

/** Generates `cases` cases from `seed`, judges each (and every `cliEvery`-th through the CLI), saves the failing ones. */
export async function runFuzz(o: FuzzOptions): Promise<FuzzReport> {
  const { mkdirSync, writeFileSync, mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const log = o.log ?? (() => {});
  const slowMs = o.slowMs ?? 5000;
  const judgeThread = new Judge(o.hangMs ?? 20_000);
  const scratch = mkdtempSync(join(tmpdir(), 'ls-fuzz-'));
  const report: FuzzReport = { cases: 0, valid: 0, invalid: 0, cli: 0, maxMs: 0, failures: [] };
  const fail = (index: number, c: FuzzCase, failure: string) => {
    mkdirSync(o.outDir, { recursive: true });
    const file = join(o.outDir, `seed-${o.seed}-case-${index}.yaml`);
    writeFileSync(file, c.text);
    writeFileSync(file.replace(/\.yaml$/, '.txt'), `seed ${o.seed}, case ${index} (${c.how})\n${failure}\nreplay: npm run fuzz -- --file ${file}\n     or: node bin/loadscope.js validate ${file}\n`);
    report.failures.push({ index, how: c.how, failure, file });
    log(`case ${index} (${c.how}): ${failure}\n  saved: ${file}`);
  };
  try {
    const batch = 250;
    for (let from = 0; from < o.cases; from += batch) {
      const n = Math.min(batch, o.cases - from);
      // fc.sample's values are a function of (seed, position); batches use seed + batch number.
      const cases = fc.sample(fuzzCaseArb, { seed: o.seed + from / batch, numRuns: n });
      for (let k = 0; k < n; k++) {
        const index = from + k;
        const c = cases[k];
        const name = `case-${index}.yaml`;
        const v = await judgeThread.run({ text: c.text, file: name, expectValid: c.how === 'valid' });
        report.cases++;
        report.maxMs = Math.max(report.maxMs, v.ms);
        if (v.outcome === 'valid') report.valid++;
        if (v.outcome === 'invalid') report.invalid++;
        if (v.failure) {
          fail(index, c, v.failure);
          continue;
        }
        if (v.ms > slowMs) {
          fail(index, c, `slow: ${Math.round(v.ms)} ms (limit ${slowMs} ms)`);
          continue;
        }
        if (o.cliEvery > 0 && index % o.cliEvery === 0) {
          const file = join(scratch, name);
          writeFileSync(file, c.text);
          const why = await cliProblem(file, v.outcome === 'valid' ? 'valid' : 'invalid');
          report.cli++;
          if (why) fail(index, c, why);
        }
      }
    }
  } finally {
    await judgeThread.close();
    rmSync(scratch, { recursive: true, force: true });
  }
  return report;
}
