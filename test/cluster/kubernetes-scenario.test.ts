// The scenario grammar of `cluster: { mode: kubernetes }` (src/scenario/cluster.ts): defaults, and each
// problem located at its line and column.
import test from 'ava';
import { LoadscopeError, formatProblem } from '../../src/core/errors.ts';
import { parseScenario } from '../../src/scenario/load.ts';

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
