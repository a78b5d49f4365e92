// The scenario's `autoscaler:` section: a pasted autoscaling/v2 HPA spec validates; a broken one gives every
// problem at once, each at its file:line:col.
import test from 'ava';
import { LoadscopeError } from '../../src/core/errors.ts';
import { hpaSpecOf } from '../../src/scenario/autoscaler.ts';
import { loadScenario, parseScenario } from '../../src/scenario/load.ts';

// The seed's three-metric HPA (Object http_requests_per_second, Resource cpu, Resource memory), completed with the
// targets and describedObject a real HPA needs.
const SEED = `name: seed-hpa
services:
  backend:
    resources:
      requests: { cpu: 250m, memory: 128Mi }
stages:
  - { duration: 10s, rate: 50 }
autoscaler:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: backend
  minReplicas: 1
  maxReplicas: 5
  metrics:
    - type: Object
      object:
        describedObject:
          apiVersion: v1
          kind: Service
          name: backend
        metric:
          name: http_requests_per_second
        target:
          type: Value
          value: 100
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: 70
    - type: Resource
      resource:
        name: memory
        target:
          type: AverageValue
          averageValue: 500Mi
`;

test('the seed three-metric HPA validates; syncPeriod and metricResolution default to 15s', (t) => {
  const s = parseScenario(SEED, 'seed.yaml');
  const a = s.spec.autoscaler!;
  t.like(a, { syncPeriod: 15_000, metricResolution: 15_000, minReplicas: 1, maxReplicas: 5 });
  const hpa = hpaSpecOf(a);
  t.deepEqual(hpa.metrics!.map((m) => m.type), ['Object', 'Resource', 'Resource']);
  t.false('syncPeriod' in hpa);
  const behavior = parseScenario(`${SEED}  behavior:\n    scaleDown:\n      stabilizationWindowSeconds: 30\n      policies: [{ type: Percent, value: 50, periodSeconds: 15 }]\n    scaleUp:\n      tolerance: 0.05\n  syncPeriod: 5s\n`, 'b.yaml');
  t.like(behavior.spec.autoscaler, { syncPeriod: 5000, behavior: { scaleDown: { stabilizationWindowSeconds: 30 }, scaleUp: { tolerance: '0.05' } } });
  const numeric = parseScenario(SEED.replace('averageValue: 500Mi', 'averageValue: 524288000'), 'n.yaml');
  t.is((numeric.spec.autoscaler!.metrics![2] as { resource: { target: { averageValue: unknown } } }).resource.target.averageValue, '524288000', 'YAML numbers are quantities, as in Kubernetes');
});

test('the quickstart scenario carries a valid autoscaler section', (t) => {
  const s = loadScenario('scenarios/quickstart.yaml');
  t.truthy(s.spec.autoscaler);
  t.is(s.spec.autoscaler!.scaleTargetRef.name, 'backend');
});

test('a broken HPA section: every problem at once, each located', (t) => {
  const text = `name: broken
stages:
  - { duration: 10s, rate: 50 }
autoscaler:
  scaleTargetRef: { kind: StatefulSet, name: backend }
  minReplicas: 3
  maxReplicas: 2
  metrics:
    - type: Resource
      resource:
        name: cpu
        target: { type: Utilization, averageUtilization: 0 }
    - type: Pods
      pods:
        metric: { name: queue_depth }
        target: { type: Value, value: 10 }
    - type: Object
      object:
        describedObject: { kind: Ingress, name: main }
        metric: { name: http_requests_per_second }
        target: { type: Value, value: 1x }
    - type: External
      external: {}
  behavior:
    scaleUp:
      policies: []
      stabilizationWindowSeconds: 4000
    scaleDown:
      selectPolicy: Sometimes
  syncPeriod: soon
`;
  const err = t.throws(() => parseScenario(text, 'broken.yaml'), { instanceOf: LoadscopeError })!;
  t.is(err.code, 'SCENARIO_INVALID');
  const got = err.problems.map((p) => `${p.line}:${p.col} ${p.message}`);
  const expect: [number, RegExp][] = [
    [5, /scaleTargetRef\.kind: loadscope scales the bundled Deployments/],
    [7, /autoscaler\.maxReplicas: must be greater than or equal to minReplicas/],
    [12, /metrics\.0\.resource\.target\.averageUtilization: must be an integer > 0/],
    [12, /metrics\.0\.resource\.target: cpu Utilization is a percentage of the pods' requests: set services\.backend\.resources\.requests\.cpu/],
    [15, /metrics\.1\.pods\.metric\.name: loadscope measures "http_requests_per_second" only, not "queue_depth"/],
    [16, /metrics\.1\.pods\.target\.type: must be AverageValue/],
    [19, /metrics\.2\.object\.describedObject: loadscope measures Object metrics of the Services backend and frontend, not "Ingress"\/"main"/],
    [21, /metrics\.2\.object\.target\.value: invalid quantity "1x"/],
    [23, /metrics\.3\.external\.metric: required key "metric" is missing/],
    [26, /behavior\.scaleUp\.policies: must specify at least one Policy/],
    [27, /behavior\.scaleUp\.stabilizationWindowSeconds: must be an integer in 0\.\.3600/],
    [29, /behavior\.scaleDown\.selectPolicy/],
    [30, /autoscaler\.syncPeriod: "soon" is not a duration/],
  ];
  for (const [line, re] of expect) t.true(err.problems.some((p) => p.line === line && re.test(p.message)), `line ${line} ${re}\n${got.join('\n')}`);
  t.true(err.problems.every((p) => p.file === 'broken.yaml' && p.col > 1), got.join('\n'));
});

test('unknown keys and metric selectors are refused where they are', (t) => {
  const text = SEED.replace('  minReplicas: 1\n', '  minReplicas: 1\n  minReplica: 2\n').replace('          name: http_requests_per_second\n', '          name: http_requests_per_second\n          selector: { matchLabels: { app: web } }\n');
  const err = t.throws(() => parseScenario(text, 's.yaml'), { instanceOf: LoadscopeError })!;
  t.true(err.problems.some((p) => p.line === 14 && /unknown key "minReplica" in autoscaler/.test(p.message)), JSON.stringify(err.problems));
  t.true(err.problems.some((p) => p.line === 25 && /metric selectors are not supported/.test(p.message)), JSON.stringify(err.problems));
});
