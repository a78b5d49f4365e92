// The published JSON Schemas of capacity.json and whatif.json: schemas/ holds what `loadscope schemas`
// writes, and documents written by the real commands validate against the published files — whatif.json
// from `loadscope whatif` on a recorded run with an HPA (fixtures/verdict/hpa-run.events.ndjson.gz, no
// load), capacity.json from two recorded `loadscope capacity` searches (fixtures/verdict/capacity-*.json:
// a full one, one interrupted by Ctrl-C). A document with a field broken does not validate.
import test from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { z } from 'zod';
import { writeSchemas } from '../../src/cli/schemas.ts';
import { capacityDocSchema, whatifDocSchema } from '../../src/verdict/schemas.ts';
import { repoRoot, runCli } from '../helpers/cli.ts';

const tmp = mkdtempSync(join(tmpdir(), 'loadscope-schemas-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

const published = (name: string) => z.fromJSONSchema(JSON.parse(readFileSync(join(repoRoot, 'schemas', name), 'utf8')));
const fixture = (name: string) => join(repoRoot, 'fixtures', 'verdict', name);

/** Validates `doc` against the published schema file and the zod schema it was written from; fails the test with the problems. */
function valid(t: { true: (v: boolean, m?: string) => void }, doc: unknown, file: string, schema: z.ZodType, what: string): void {
  for (const [how, s] of [[`schemas/${file}`, published(file)], ['the zod schema', schema]] as const) {
    const r = s.safeParse(doc);
    t.true(r.success, `${what} against ${how}: ${r.success ? '' : JSON.stringify(r.error.issues.slice(0, 5))}`);
  }
}

test('schemas/capacity.schema.json and whatif.schema.json are what `loadscope schemas` writes', (t) => {
  const out = join(tmp, 'schemas');
  const written = writeSchemas(out);
  for (const name of ['capacity.schema.json', 'whatif.schema.json']) {
    t.true(written.includes(join(out, name)));
    t.is(readFileSync(join(out, name), 'utf8'), readFileSync(join(repoRoot, 'schemas', name), 'utf8'), `schemas/${name} is stale: run \`node bin/loadscope.js schemas\``);
  }
});

test('whatif.json written by `loadscope whatif` on a recorded run, with its own spec and another, validates', async (t) => {
  const run = join(tmp, 'hpa-run');
  mkdirSync(run);
  writeFileSync(join(run, 'events.ndjson'), gunzipSync(readFileSync(fixture('hpa-run.events.ndjson.gz'))));
  writeFileSync(
    join(tmp, 'hpa35.yaml'),
    'scaleTargetRef: { apiVersion: apps/v1, kind: Deployment, name: backend }\nminReplicas: 1\nmaxReplicas: 6\nmetrics:\n  - type: Resource\n    resource: { name: cpu, target: { type: Utilization, averageUtilization: 35 } }\n',
  );
  for (const [name, extra] of [['own', []], ['other', ['--hpa', join(tmp, 'hpa35.yaml')]]] as const) {
    const out = join(tmp, `whatif-${name}`);
    const r = await runCli(['whatif', run, ...extra, '--out', out]);
    t.is(r.code, 0, r.stderr);
    const doc = JSON.parse(readFileSync(join(out, 'whatif.json'), 'utf8')) as z.infer<typeof whatifDocSchema>;
    t.true(doc.syncs.length > 5 && doc.windows.t.length > 10, `a replay with syncs and windows (${doc.syncs.length}, ${doc.windows.t.length})`);
    valid(t, doc, 'whatif.schema.json', whatifDocSchema, `whatif.json (${name} spec)`);
    if (name === 'own') {
      t.truthy(doc.fidelity, 'the own-spec replay has its fidelity');
      const broken = structuredClone(doc) as { syncs: { replayed: { desired: unknown } }[] };
      broken.syncs[0].replayed.desired = 'two';
      t.false(published('whatif.schema.json').safeParse(broken).success, 'a sync with a string for replicas is refused');
    }
  }
});

test('capacity.json of recorded searches (full, and interrupted) validates; a broken one does not', (t) => {
  for (const name of ['capacity-search.json', 'capacity-interrupted.json']) {
    const doc = JSON.parse(readFileSync(fixture(name), 'utf8')) as z.infer<typeof capacityDocSchema>;
    t.true(doc.steps.length > 0);
    valid(t, doc, 'capacity.schema.json', capacityDocSchema, name);
  }
  const full = JSON.parse(readFileSync(fixture('capacity-search.json'), 'utf8'));
  t.true(full.usl.ok && full.steps.some((s: { phase: string }) => s.phase === 'bisection'), 'the full search has a USL fit and bisection steps');
  const schema = published('capacity.schema.json');
  for (const edit of [(d: any) => delete d.maxRate, (d: any) => (d.stopped = 'maybe'), (d: any) => (d.steps[0].phase = 'guess'), (d: any) => (d.usl = { ok: true })]) {
    const d = structuredClone(full);
    edit(d);
    t.false(schema.safeParse(d).success, `refused: ${edit.toString()}`);
  }
});
