// Faults in Kubernetes mode, the parts that need no cluster: the grammar's refusal of a pod target
// (a ReplicaSet names the pods there) and the backend Deployment's --control-from for http faults.
// The end-to-end run on the test control plane is in kubernetes-e2e.test.ts (it shares its control plane).
import test from 'ava';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MANIFESTS, plan, readManifests } from '../../src/cluster/kubernetes/manifests.ts';
import { checkFaults, faultsSchema } from '../../src/scenario/faults.ts';
import type { LoadscopeError } from '../../src/core/errors.ts';
import { loadScenario, parseScenario } from '../../src/scenario/load.ts';

const problems = (faults: unknown[], mode: string) => {
  const out: string[] = [];
  checkFaults(faultsSchema.parse(faults), { services: ['backend', 'frontend'], totalMs: 60_000, autoscaled: 'backend', mode }, (path, message) => out.push(`${path.join('.')}: ${message}`));
  return out;
};

test('Kubernetes mode refuses a pod target and says to target the service; local mode keeps it', (t) => {
  const faults = [
    { name: 'kill', kind: 'pod-kill', target: 'backend/backend-2', at: '5s' },
    { name: 'hang', kind: 'pod-pause', target: 'backend', at: '10s', duration: '5s' },
  ];
  t.deepEqual(problems(faults, 'kubernetes'), ['0.target: in Kubernetes mode a ReplicaSet names the pods (backend-<hash>-<suffix>): target the service "backend" (pod-kill and pod-pause take its first ready pod by name)']);
  t.deepEqual(problems(faults, 'local'), []);
});

test('http faults give the backend Deployment --control-from its node\'s address (Downward API status.hostIP); other faults do not', (t) => {
  const spec = loadScenario(fileURLToPath(new URL('../../scenarios/kubernetes.yaml', import.meta.url))).spec;
  const backend = (s: typeof spec) => {
    const objs = plan(readManifests(DEFAULT_MANIFESTS), s, { runId: 'r1', namespace: 'ns1', bundle: '', cilium: false });
    const d = objs.find((o) => o.kind === 'Deployment' && o.metadata.name === 'backend')!;
    return (d.spec as { template: { spec: { containers: { args: string[]; env?: { name: string; valueFrom?: unknown }[] }[] } } }).template.spec.containers[0];
  };
  const errors = faultsSchema.parse([{ name: 'e', kind: 'http-errors', target: 'backend', at: '5s', duration: '5s', share: 0.5 }]);
  const kill = faultsSchema.parse([{ name: 'k', kind: 'pod-kill', target: 'backend', at: '5s' }]);
  const c = backend({ ...spec, faults: errors });
  t.deepEqual(c.args.slice(-2), ['--control-from', '$(LOADSCOPE_NODE_IP)']);
  t.deepEqual(c.env, [{ name: 'LOADSCOPE_NODE_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } }]);
  const plain = backend({ ...spec, faults: kill });
  t.false(plain.args.includes('--control-from'));
  t.is(plain.env, undefined);
});

test('a pod target in a Kubernetes-mode scenario is a validation error at its line and column', (t) => {
  const text = `name: k8s-pod-target
cluster: { mode: kubernetes }
stages: [{ duration: 30s, rate: 10 }]
faults:
  - { name: kill, kind: pod-kill, target: backend/backend-2, at: 5s }
`;
  const e = t.throws(() => parseScenario(text, 'k8s.yaml')) as LoadscopeError & { problems?: { file: string; line: number; col: number; message: string }[] };
  const located = (e.problems ?? []).map((p) => `${p.file}:${p.line}:${p.col} ${p.message}`);
  t.true(located.some((l) => /^k8s\.yaml:5:\d+ .*a ReplicaSet names the pods/.test(l)), located.join('\n') || e.message);
});
