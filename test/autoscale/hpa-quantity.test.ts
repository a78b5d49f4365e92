// Kubernetes quantity parsing (resource.Quantity semantics: MilliValue rounds away from zero) and spec
// validation. loadscope's own tests.
import test from 'ava';
import { LoadscopeError } from '../../src/core/errors.ts';
import { cpuMillicores, memoryBytes, milliValue, parseMilliQuantity, parseQuantity } from '../../src/core/quantity.ts';
import { defaultHpaSpec, validateHpaSpec, type HpaSpec, type MetricSpec } from '../../src/scenario/hpa.ts';

test('parseQuantity reads the decimal, binary and exponent suffixes', (t) => {
  const cases: [string, number][] = [
    ['500m', 0.5],
    ['1', 1],
    ['1.5', 1.5],
    ['.5', 0.5],
    ['1.5k', 1500],
    ['1G', 1e9],
    ['2M', 2e6],
    ['128Mi', 134217728],
    ['1Ki', 1024],
    ['1.5Gi', 1610612736],
    ['2e3', 2000],
    ['25E-2', 0.25],
    ['100u', 0.0001],
    ['3n', 3e-9],
    ['+7', 7],
    ['-250m', -0.25],
    ['0', 0],
  ];
  for (const [text, value] of cases) t.is(parseQuantity(text), value, text);
});

test('parseMilliQuantity is exact and rounds fractions of a milli up, like Quantity.MilliValue', (t) => {
  t.is(parseMilliQuantity('0.1'), 100);
  t.is(parseMilliQuantity('1.001'), 1001);
  t.is(parseMilliQuantity('2200m'), 2200);
  t.is(parseMilliQuantity('0.0001'), 1);
  t.is(parseMilliQuantity('1500u'), 2);
  t.is(parseMilliQuantity('128Mi'), 134217728000);
  t.is(parseMilliQuantity('-1500u'), -2);
});

test('cpuMillicores and memoryBytes take numbers as-is and parse strings', (t) => {
  t.is(cpuMillicores(250), 250);
  t.is(cpuMillicores('250m'), 250);
  t.is(cpuMillicores('1'), 1000);
  t.is(cpuMillicores('0.1'), 100);
  t.is(memoryBytes(1024), 1024);
  t.is(memoryBytes('128Mi'), 134217728);
  t.is(memoryBytes('1G'), 1_000_000_000);
  t.is(memoryBytes('1m'), 1, 'a fraction of a byte rounds up');
});

test('junk quantities are rejected with a clear, typed error', (t) => {
  for (const junk of ['', ' ', 'abc', '1.2.3', '12Q', '1 m', '1K', 'Mi', 'm', '--1', '1e', '1ee3', '0x10', '1,5', 'NaN', 'Infinity', '.', '1Mib']) {
    const err = t.throws(() => parseQuantity(junk), { instanceOf: LoadscopeError }, JSON.stringify(junk));
    t.is(err?.code, 'SCENARIO_INVALID');
    t.is(err?.message, `invalid quantity ${JSON.stringify(junk)}`);
    t.regex(err?.hint ?? '', /500m/);
  }
});

const valid: HpaSpec = {
  scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'backend' },
  minReplicas: 1,
  maxReplicas: 10,
  metrics: [
    { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 60 } } },
    { type: 'Resource', resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '256Mi' } } },
    { type: 'Pods', pods: { metric: { name: 'rps' }, target: { type: 'AverageValue', averageValue: '100' } } },
    { type: 'Object', object: { describedObject: { kind: 'Service', name: 'frontend' }, metric: { name: 'rps' }, target: { type: 'Value', value: 1000 } } },
  ],
  behavior: { scaleUp: { policies: [{ type: 'Pods', value: 2, periodSeconds: 60 }], selectPolicy: 'Min' }, scaleDown: { stabilizationWindowSeconds: 120, tolerance: '0.05' } },
};

test('validateHpaSpec accepts a well-formed spec', (t) => {
  t.deepEqual(validateHpaSpec(valid), []);
});

test('validateHpaSpec reports every problem with its path', (t) => {
  const spec = {
    scaleTargetRef: { kind: 'Deployment', name: '' },
    minReplicas: 5,
    maxReplicas: 3,
    metrics: [
      { type: 'Resource', resource: { name: 'gpu', target: { type: 'Utilization', averageUtilization: 0 } } },
      { type: 'Pods', pods: { metric: { name: 'rps' }, target: { type: 'AverageValue', averageValue: '12Q' } } },
      { type: 'Object', object: { describedObject: { kind: 'Service', name: 'x' }, metric: { name: 'rps' }, target: { type: 'Utilization' } } },
      { type: 'External' } as unknown as MetricSpec,
    ] as MetricSpec[],
    behavior: { scaleUp: { stabilizationWindowSeconds: 4000, policies: [] }, scaleDown: { policies: [{ type: 'Percent', value: 0, periodSeconds: 3600 }] } },
  } as HpaSpec;
  t.deepEqual(validateHpaSpec(spec), [
    'scaleTargetRef.name: must be set',
    'maxReplicas: must be greater than or equal to minReplicas',
    'metrics[0].resource.name: must be cpu or memory',
    'metrics[0].resource.target.averageUtilization: must be an integer > 0',
    'metrics[1].pods.target.averageValue: invalid quantity "12Q"',
    'metrics[2].object.target.type: must be Value or AverageValue',
    'metrics[3].external: must populate information for the given metric source',
    'behavior.scaleUp.stabilizationWindowSeconds: must be an integer in 0..3600',
    'behavior.scaleUp.policies: must specify at least one Policy',
    'behavior.scaleDown.policies[0].value: must be an integer > 0',
    'behavior.scaleDown.policies[0].periodSeconds: must be an integer in 1..1800',
  ]);
});

test('validateHpaSpec allows minReplicas 0 only with an Object metric (scale to zero)', (t) => {
  t.deepEqual(validateHpaSpec({ ...valid, minReplicas: 0, metrics: valid.metrics!.slice(0, 1) }), ['minReplicas: must be an integer >= 1']);
  t.deepEqual(validateHpaSpec({ ...valid, minReplicas: 0 }), []);
});

test('defaultHpaSpec applies minReplicas 1 and cpu 80% like the API server', (t) => {
  const spec = defaultHpaSpec({ scaleTargetRef: { kind: 'Deployment', name: 'a' }, maxReplicas: 4 });
  t.is(spec.minReplicas, 1);
  t.deepEqual(spec.metrics, [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } }]);
});

test('milliValue is exact past 2^53 and saturates at MaxInt64/MinInt64, as apimachinery\'s MilliValue', (t) => {
  t.is(milliValue('9223372036854775807m'), 9223372036854775807n);
  t.is(milliValue('9223372036854775807'), 9223372036854775807n, '× 1000 overflows int64: saturated');
  t.is(milliValue('-9223372036854775809'), -9223372036854775808n);
  t.is(milliValue('9007199254740993m'), 9007199254740993n, '2^53 + 1: a double would say …992');
  t.is(milliValue('1500u'), 2n);
  t.is(milliValue(0.1), 100n, 'numbers are plain values, float noise forgiven');
});
