// End to end through the CLI: the quickstart, scaled down to ~40 s and forced onto the loopback cluster, scales the
// backend up and back down; results.json, the journal and the CLI summary show it.
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { LOOPBACK_NOTICE } from '../../src/cluster/loopback.ts';
import { readJournal } from '../../src/journal/journal.ts';
import { runResultSchema } from '../../src/core/result.ts';
import { repoRoot, runCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

/** scenarios/quickstart.yaml with every phase shortened and the HPA's timing shrunk to match. */
function scaledQuickstart(): string {
  const q = parse(readFileSync(join(repoRoot, 'scenarios', 'quickstart.yaml'), 'utf8'));
  q.name = 'quickstart-scaled';
  q.cluster = { mode: 'loopback' };
  q.stages = [
    { name: 'low', duration: '6s', rate: 40 },
    { name: 'ramp-up', duration: '4s', rate: { from: 40, to: 200 } },
    { name: 'peak', duration: '10s', rate: 200 },
    { name: 'ramp-down', duration: '3s', rate: { from: 200, to: 30 } },
    { name: 'cool', duration: '15s', rate: 30 },
  ];
  q.stress = [{ name: 'cpu-burn', start: '14s', duration: '4s', cores: 1, utilization: 0.3 }];
  q.thresholds = { http_req_failed: ['rate < 0.01'], http_req_duration: ['p(99) < 1500'] };
  q.autoscaler.syncPeriod = '2s';
  q.autoscaler.metricResolution = '2s';
  q.autoscaler.behavior.scaleUp.policies = [{ type: 'Pods', value: 1, periodSeconds: 2 }];
  q.autoscaler.behavior.scaleDown.stabilizationWindowSeconds = 4;
  return stringify(q);
}

test('a quickstart-like run scales the backend up and down; results, journal and summary show it', async (t) => {
  const dir = tempDir('ls-hpa-run-');
  const file = join(dir, 'quickstart-scaled.yaml');
  writeFileSync(file, scaledQuickstart());
  const r = await runCli(['run', file, '--out', dir]);
  t.is(r.code, 0, r.stderr + r.stdout);
  const res = runResultSchema.parse(JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')));

  const a = res.autoscaling!;
  t.truthy(a);
  t.like(a, { hpa: 'backend', target: 'Deployment/backend', minReplicas: 1, maxReplicas: 4, syncPeriodS: 2 });
  const ups = a.events.filter((e) => e.to > e.from);
  const downs = a.events.filter((e) => e.to < e.from);
  t.true(ups.length >= 1 && downs.length >= 1, JSON.stringify(a.events));
  t.true(a.events.every((e) => e.reason === 'SuccessfulRescale' && /^New size: \d+; reason: .+$/.test(e.message)));
  t.true(downs.every((e) => /reason: All metrics below target$/.test(e.message)));
  t.true(ups[0].t < downs[0].t);
  t.is(a.replicas.length, res.windows.length);
  t.true(Math.max(...a.replicas.map((w) => w.ready ?? 0)) >= 2, 'a second replica turned ready');
  t.is(a.replicas.at(-1)!.desired, 1);
  t.true(a.syncs >= 15, `${a.syncs} syncs`);
  t.deepEqual(a.conditions.map((c) => c.type).sort(), ['AbleToScale', 'ScalingActive', 'ScalingLimited']);

  t.is(res.http.errors, 0, JSON.stringify(res.http.errorsByKind));
  t.true(res.thresholds.every((x) => x.ok));
  const pods = Object.keys(res.services.backend.pods ?? {});
  t.true(pods.length >= 2, pods.join(', '));
  t.is(res.services.backend.requestsServed, res.services.frontend.requestsServed, 'terminated pods\' requests are counted too');
  t.true(res.notices.includes(LOOPBACK_NOTICE));
  t.is(res.routing?.via, 'frontend');
  t.true((res.routing?.updates.length ?? 0) >= 3, 'initial list, a pod joined, a pod left');
  t.true(Object.values(res.routing!.services.backend.pods).filter((p) => p.connections > 0).length >= 2, 'new connections went to the new replica');
  t.true(res.events.some((e) => e.kind === 'hpa.rescale' && /^New size: \d+; reason: /.test(e.text)));

  const kinds = new Set(readJournal(join(dir, 'events.ndjson')).records.flatMap((x) => (x.type === 'event' ? [x.kind] : x.type === 'sample' ? [x.metric] : [])));
  for (const k of ['hpa.start', 'hpa.status', 'hpa.rescale', 'hpa.stop', 'pod.created', 'pod.ready', 'pod.terminating', 'pod.terminated', 'routing.update', 'service.scaled', 'pod.cpu_seconds', 'pod.memory_bytes', 'pod.requests_served', 'hpa.replicas']) {
    t.true(kinds.has(k), k);
  }
  t.regex(r.stdout, /^autoscaling +Deployment\/backend 1\.\.4: 1→2 at \d+s.*; \d+ syncs$/m);
  t.regex(r.stdout, /^notice +loopback cluster: /m);
  t.regex(r.stdout, /^ {2}backend pods +backend-1 \d+, backend-2 \d+/m);
  t.log(a.events.map((e) => `${e.t.toFixed(1)}s ${e.from}→${e.to} ${e.message}`).join('\n'));
});
