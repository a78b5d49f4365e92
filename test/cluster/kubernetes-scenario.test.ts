// The scenario grammar of `cluster: { mode: kubernetes }` (src/scenario/cluster.ts): defaults, and each
// problem located at its line and column.
import test from 'ava';
import { LoadscopeError, formatProblem } from '../../src/core/errors.ts';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MANIFESTS, plan, readManifests, RUN_LABEL, runLabel } from '../../src/cluster/kubernetes/manifests.ts';
import { loadScenario, parseScenario } from '../../src/scenario/load.ts';

const base = 'name: k\nstages:\n  - { duration: 5s, rate: 10 }\n';

function problems(text: string): string[] {
  try {
    parseScenario(text, 's.yaml');
  } catch (e) {
    if (e instanceof LoadscopeError) return e.problems.map(formatProblem);
    throw e;
  }
  return [];
}

test('mode: kubernetes defaults to deploy: true and leaves the rest unset', (t) => {
  const s = parseScenario(`${base}cluster: { mode: kubernetes }\n`, 's.yaml');
  t.deepEqual(s.spec.cluster, { mode: 'kubernetes', deploy: true });
  const full = parseScenario(`${base}cluster:\n  mode: kubernetes\n  kubeconfig: /k/config\n  context: test\n  namespace: perf-1\n  manifests: m/\n`, 's.yaml');
  t.deepEqual(full.spec.cluster, { mode: 'kubernetes', deploy: true, kubeconfig: '/k/config', context: 'test', namespace: 'perf-1', manifests: 'm/' });
  t.deepEqual(parseScenario(base, 's.yaml').spec.cluster, { mode: 'auto' });
  t.deepEqual(parseScenario(`${base}cluster: { mode: local }\n`, 's.yaml').spec.cluster, { mode: 'local' });
});

test('kubernetes-only keys under another mode are rejected where they are written', (t) => {
  const p = problems(`${base}cluster:\n  mode: local\n  namespace: x\n  deploy: true\n`);
  t.deepEqual(p, [
    's.yaml:6:14: cluster.namespace: "namespace" applies to mode: kubernetes only (this cluster is mode: local) (hint: see the scenario reference in README.md)',
    's.yaml:7:11: cluster.deploy: "deploy" applies to mode: kubernetes only (this cluster is mode: local) (hint: see the scenario reference in README.md)',
  ]);
});

test('deploy: false needs a namespace; a bad namespace and a typo are located', (t) => {
  t.deepEqual(problems(`${base}cluster:\n  mode: kubernetes\n  deploy: false\n`), [
    's.yaml:6:11: cluster.deploy: deploy: false watches services that already run: name their namespace (cluster.namespace) (hint: see the scenario reference in README.md)',
  ]);
  const bad = problems(`${base}cluster:\n  mode: kubernetes\n  namespace: Perf_1\n  kubconfig: x\n`);
  t.is(bad.length, 2);
  t.regex(bad[0], /^s\.yaml:6:14: cluster\.namespace: a namespace is a DNS label/);
  t.regex(bad[1], /^s\.yaml:7:3: unknown key "kubconfig" in cluster \(hint: did you mean "kubeconfig"\?\)/);
});

test('scenarios/kubernetes.yaml: mode kubernetes on the test control plane\'s kubeconfig, the seed\'s three metrics', (t) => {
  const s = loadScenario(fileURLToPath(new URL('../../scenarios/kubernetes.yaml', import.meta.url)));
  t.deepEqual(s.spec.cluster, { mode: 'kubernetes', deploy: true, kubeconfig: '.tools/controlplane/kubeconfig' });
  t.deepEqual(s.spec.autoscaler?.metrics?.map((m) => m.type), ['Object', 'Resource', 'Resource']);
  t.deepEqual(s.spec.stages.map((st) => st.name), ['ramp-up', 'hold', 'ramp-down', 'low']);
});

test('fixtures/k8s: every object namespaced into the run and labelled; one network policy; the scenario\'s HPA, replicas and resources', (t) => {
  const spec = loadScenario(fileURLToPath(new URL('../../scenarios/kubernetes.yaml', import.meta.url))).spec;
  const manifests = readManifests(DEFAULT_MANIFESTS);
  const runId = '20261206T190000Z-kubernetes-0a1b2c';
  const objs = plan(manifests, spec, { runId, namespace: 'ns1', bundle: '// bundle', cilium: false });
  t.deepEqual(objs.map((o) => `${o.kind}/${o.metadata.name}`), ['ConfigMap/loadscope-services', 'Deployment/backend', 'Service/backend', 'Deployment/frontend', 'Service/frontend', 'NetworkPolicy/backend-access', 'HorizontalPodAutoscaler/backend']);
  for (const o of objs) {
    t.is(o.metadata.namespace, 'ns1');
    t.is(o.metadata.labels?.[RUN_LABEL], runLabel(runId));
  }
  const withCilium = plan(manifests, spec, { runId, namespace: 'ns1', bundle: '', cilium: true }).map((o) => o.kind);
  t.true(withCilium.includes('CiliumNetworkPolicy'));
  t.false(withCilium.includes('NetworkPolicy'));
  const hpa = objs.at(-1)!.spec as { behavior?: { scaleDown?: { stabilizationWindowSeconds?: number } }; syncPeriod?: unknown };
  t.is(hpa.behavior?.scaleDown?.stabilizationWindowSeconds, 15);
  t.false('syncPeriod' in hpa, 'the loadscope-only keys stay out of the cluster');
  const args = (objs[1].spec as { template: { spec: { containers: { args: string[] }[] } } }).template.spec.containers[0].args;
  t.is(args[0], '--config');
  t.deepEqual(JSON.parse(args[1]).routes['/api/items'], { cpuMs: 0.5, payloadBytes: 2048, delayMs: 0, delayJitterMs: 0, status: 200 });
  t.deepEqual(Object.keys((objs[0] as unknown as { data: Record<string, string> }).data), ['main.mjs']);
  const label = runLabel('x'.repeat(80));
  t.true(label.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(label), 'a long run id still makes a label');
});
