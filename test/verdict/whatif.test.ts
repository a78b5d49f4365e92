// `loadscope whatif`: a real run with the local HPA controller (a load step that makes it scale) is replayed
// through the HPA port — with its own spec it must give the recorded replicas at (nearly) every sync; with a
// lower target it must scale as the algorithm says; with a target never reached it must not scale — and
// the command's answers to bad input (exit 2 with a hint).
import test from 'ava';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localUnavailable } from '../../src/cluster/local/resolve.ts';
import { balancer } from '../../src/kernel/balancer.ts';
import { renderWhatif } from '../../src/render/whatif.ts';
import { runScenario } from '../../src/run/run.ts';
import { parseScenario } from '../../src/scenario/load.ts';
import { whatifDocSchema } from '../../src/verdict/schemas.ts';
import { whatif, type WhatifDoc } from '../../src/verdict/whatif.ts';
import { LoadscopeError } from '../../src/core/errors.ts';
import { runCli } from '../helpers/cli.ts';
import { needs } from '../helpers/needs.ts';
import { syntheticRecords } from '../helpers/synthetic-journal.ts';

const tmp = mkdtempSync(join(tmpdir(), 'loadscope-whatif-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

const behavior = `
  behavior:
    scaleUp: { stabilizationWindowSeconds: 0, policies: [{ type: Pods, value: 2, periodSeconds: 2 }] }
    scaleDown: { stabilizationWindowSeconds: 4, policies: [{ type: Pods, value: 1, periodSeconds: 2 }] }`;
const hpa = (utilization: number) => `scaleTargetRef: { apiVersion: apps/v1, kind: Deployment, name: backend }
minReplicas: 1
maxReplicas: 4
metrics:
  - type: Resource
    resource: { name: cpu, target: { type: Utilization, averageUtilization: ${utilization} } }
${behavior.replace(/\n {2}/g, '\n').trimStart()}
`;

// 4 ms of CPU per request on pods with a 500m request: 40/s is ~32% of a pod, 160/s more than one pod can serve
const scenarioText = `name: whatif-rec
target: { services: bundled }
services:
  backend:
    default: { cpuMs: 4, payloadBytes: 256 }
    resources:
      limits: { cpu: 500m, memory: 256Mi }
requests:
  - { path: /api/work }
stages:
  - { name: low, duration: 4s, rate: 40 }
  - { name: high, duration: 10s, rate: 160 }
  - { name: cool, duration: 5s, rate: 40 }
probes: off
thresholds:
  http_req_duration: ["p(99) < 250"]
autoscaler:
${hpa(70).replace(/^/gm, '  ').trimEnd()}
  syncPeriod: 2s
  metricResolution: 2s
`;

let recorded: string | undefined;
const kernel = needs('the whatif replay of a recorded run (local cluster)', localUnavailable(balancer));

/** Upstream's desired replicas for one cpu Utilization metric with all pods ready: ceil(ready × utilization/target), utilization an integer percent. */
const upstreamDesired = (cpuMillis: number, ready: number, requestMillis: number, target: number) => Math.ceil(((Math.floor((cpuMillis * 100) / (ready * requestMillis)) / target) * ready) - 1e-9);

kernel('a recorded run replayed with its own spec gives the recorded replicas; other targets move them as the HPA algorithm says', async (t) => {
  t.timeout(120_000);
  const scenario = parseScenario(scenarioText, join(tmp, 'whatif-rec.yaml'));
  const run = await runScenario(scenario, { outDir: join(tmp, 'rec') });
  recorded = run.runDir;
  const scaled = run.result.autoscaling?.events.filter((e) => e.reason === 'SuccessfulRescale' && e.to > e.from) ?? [];
  t.true(scaled.length > 0, 'the recorded run scaled up (the test needs a rescale to replay)');

  // own spec: fidelity
  const self = whatif(recorded);
  t.truthy(self.fidelity);
  const f = self.fidelity!;
  t.log(`own spec: ${f.sameDesired} of ${f.syncs} syncs gave the recorded desired replicas, largest difference ${f.maxDifference}`);
  t.true(f.syncs >= 6, `${f.syncs} syncs matched in time`);
  t.true(f.sameDesired / f.syncs >= 0.75, `${f.sameDesired}/${f.syncs}`);
  t.true(f.maxDifference <= 1);
  const recordedMax = Math.max(...self.syncs.filter((s) => s.recorded).map((s) => s.recorded!.desired));
  t.true(recordedMax >= 2);

  // half the target: the first scale-up is upstream's ceil(current × utilization / 35), capped by the policy (+2 pods)
  writeFileSync(join(tmp, 'hpa35.yaml'), hpa(35));
  const low = whatif(recorded, { hpaFile: join(tmp, 'hpa35.yaml') });
  t.is(low.fidelity, null);
  const first = low.syncs.find((s) => s.replayed.desired > s.replayed.current)!;
  t.truthy(first, 'the replay with a 35% target scaled up');
  t.is(first.replayed.current, first.replayed.ready, 'the first scale-up comes with every pod ready');
  t.is(first.replayed.desired, Math.min(4, first.replayed.current + 2, upstreamDesired(first.cpuMillis, first.replayed.ready, 500, 35)));
  const firstRecorded = self.syncs.find((s) => s.replayed.desired > s.replayed.current)!;
  t.true(first.t <= firstRecorded.t, 'a lower target scales no later');
  const max = (d: WhatifDoc) => Math.max(...d.windows.replayedReady);
  t.true(max(low) >= max(self));
  t.regex(low.syncs.find((s) => s === first)!.replayed.reason, /New size: \d; reason: cpu resource utilization/);

  // a target never reached: the replay never scales, and spends at least as long over the SLO (same capacity)
  writeFileSync(join(tmp, 'hpa-high.yaml'), `apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: { name: backend }\nspec:\n${hpa(1000).replace(/^/gm, '  ')}`);
  const high = whatif(recorded, { hpaFile: join(tmp, 'hpa-high.yaml'), capacityPerReplica: self.overSlo.capacityPerReplica!, capacitySource: 'test' });
  t.true(high.syncs.every((s) => s.replayed.desired === 1), 'never above one replica');
  t.true(high.overSlo.estimatedReplayedS >= high.overSlo.estimatedRecordedS);
  t.true(high.overSlo.estimatedReplayedS > 0, 'one replica at 160/s is over the SLO');
  t.log(`over SLO: measured ${self.overSlo.measuredS} s; estimated ${self.overSlo.estimatedRecordedS} s recorded, ${low.overSlo.estimatedReplayedS} s at 35%, ${high.overSlo.estimatedReplayedS} s never scaling (capacity ${self.overSlo.capacityPerReplica}/s per replica)`);
  const html = renderWhatif(low);
  t.true(html.includes('id="chart-replicas"') && html.includes('35%'));
  t.false(html.includes('<script>alert'), 'nothing unescaped');
});

kernel('CLI: whatif on the recorded run prints the table and writes whatif.json and whatif.html', async (t) => {
  if (!recorded) return t.fail('the recorded run of the test before did not happen');
  const out = join(tmp, 'cli-out');
  const r = await runCli(['whatif', recorded, '--hpa', join(tmp, 'hpa35.yaml'), '--capacity', '100', '--out', out]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /recorded {2}replayed/);
  t.regex(r.stdout, /over SLO: {2}measured \d+ s; estimated \d+ s with the recorded replicas, \d+ s with the replayed ones/);
  const doc = JSON.parse(readFileSync(join(out, 'whatif.json'), 'utf8')) as WhatifDoc;
  t.is(doc.overSlo.capacityPerReplica, 100);
  const valid = whatifDocSchema.safeParse(doc);
  t.true(valid.success, `whatif.json against its schema: ${valid.error?.message ?? ''}`);
  t.true(readFileSync(join(out, 'whatif.html'), 'utf8').includes('whatif-rec'));
});

test.serial('CLI: bad input exits 2 with a hint', async (t) => {
  // a run without an autoscaler: a synthetic journal with the HPA's records left out
  const noHpa = join(tmp, 'no-hpa');
  mkdirSync(noHpa, { recursive: true });
  const w = createWriteStream(join(noHpa, 'events.ndjson'));
  for (const r of syntheticRecords({ seconds: 20, packetRecords: 5, events: 5 })) if (!(r.type === 'event' && r.kind.startsWith('hpa.'))) w.write(JSON.stringify(r) + '\n');
  await new Promise<void>((res) => w.end(() => res()));
  writeFileSync(join(tmp, 'bad-hpa.yaml'), 'scaleTargetRef: { kind: Deployment, name: backend }\nminReplicas: 1\nmetrics: []\n');
  writeFileSync(join(tmp, 'not-yaml.yaml'), 'scaleTargetRef: [\n');
  // through the command line: the exit code and the hint
  for (const [args, message] of [[['whatif'], /one run directory/], [['whatif', noHpa], /had no autoscaler/]] as [string[], RegExp][]) {
    const r = await runCli(args);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, message, args.join(' '));
    t.regex(r.stderr, /hint/, args.join(' '));
  }
  // the rest as the command gets them: typed errors with a code that exits 2, a message naming the file/line, a hint
  const cases: [() => unknown, RegExp, LoadscopeError['code']][] = [
    [() => whatif(join(tmp, 'nothing-here')), /holds no events.ndjson/, 'JOURNAL'],
    [() => whatif(noHpa), /had no autoscaler/, 'JOURNAL'],
  ];
  if (recorded) {
    cases.push([() => whatif(recorded!, { hpaFile: join(tmp, 'bad-hpa.yaml') }), /not a valid HPA spec/, 'SCENARIO_INVALID']);
    cases.push([() => whatif(recorded!, { hpaFile: join(tmp, 'not-yaml.yaml') }), /not YAML/, 'SCENARIO_INVALID']);
    cases.push([() => whatif(recorded!, { hpaFile: join(tmp, 'missing.yaml') }), /cannot read HPA spec/, 'FILE_NOT_FOUND']);
  }
  for (const [fn, message, code] of cases) {
    const e = t.throws(fn, { instanceOf: LoadscopeError, message });
    t.is(e?.code, code);
    t.truthy(e?.hint);
  }
  if (recorded) {
    const e = t.throws(() => whatif(recorded!, { hpaFile: join(tmp, 'bad-hpa.yaml') }), { instanceOf: LoadscopeError });
    t.true(e!.problems.some((p) => p.line === 1 && /maxReplicas/.test(p.message)), JSON.stringify(e!.problems));
  }
});
