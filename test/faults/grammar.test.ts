// The scenario's faults: grammar — every problem at its file:line:col with the others, the plan the run
// gets (durations scaled, targets split), and the backend's fault endpoint body.
import test from 'ava';
import { LoadscopeError } from '../../src/core/errors.ts';
import { planFaults } from '../../src/scenario/faults.ts';
import { parseScenario } from '../../src/scenario/load.ts';
import { parseFaultState } from '../../src/services/faults.ts';

const head = `name: f
stages: [{ duration: 40s, connections: 4 }]
`;

function problems(text: string): string[] {
  try {
    parseScenario(text, 'f.yaml');
  } catch (e) {
    if (!(e instanceof LoadscopeError)) throw e;
    return e.problems.map((p) => `${p.file}:${p.line}:${p.col} ${p.message}`);
  }
  return [];
}

test('a valid faults list becomes the run\'s plan, durations scaled like the stages', (t) => {
  const s = parseScenario(
    `${head}services: { backend: { replicas: 3 } }
faults:
  - { name: kill-one, kind: pod-kill, target: backend, at: 20s }
  - { name: loss, kind: packet-loss, target: backend/backend-2, at: 5s, duration: 5s, probability: 0.05 }
  - { name: slow, kind: http-delay, target: backend, at: 21s, duration: 4s, delay: 50ms, jitter: 10ms }
  - { name: cap, kind: bandwidth, target: frontend, at: 1s, duration: 2s, rate: 2mbit }
  - { name: cut, kind: partition, target: frontend, at: 30s, duration: 2s, peer: backend }
  - { name: errs, kind: http-errors, target: backend, at: 26s, duration: 4s, share: 0.2 }
`,
    'f.yaml',
  );
  t.deepEqual(planFaults(s.spec.faults, 0.5), [
    { name: 'kill-one', kind: 'pod-kill', target: { service: 'backend' }, atMs: 10_000 },
    { name: 'loss', kind: 'packet-loss', target: { service: 'backend', pod: 'backend-2' }, atMs: 2500, durationMs: 2500, probability: 0.05 },
    { name: 'slow', kind: 'http-delay', target: { service: 'backend' }, atMs: 10_500, durationMs: 2000, delayMs: 50, jitterMs: 10 },
    { name: 'cap', kind: 'bandwidth', target: { service: 'frontend' }, atMs: 500, durationMs: 1000, rateBitsPerSecond: 2_000_000 },
    { name: 'cut', kind: 'partition', target: { service: 'frontend' }, atMs: 15_000, durationMs: 1000, peer: 'backend' },
    { name: 'errs', kind: 'http-errors', target: { service: 'backend' }, atMs: 13_000, durationMs: 2000, share: 0.2, status: 503 },
  ]);
});

test('unknown kinds and shapes are refused at their line and column', (t) => {
  const p = problems(`${head}faults:
  - { name: a, kind: pod-kil, target: backend, at: 20s }
  - { name: b, kind: packet-loss, target: backend, at: 5s, duration: 5s, probability: 1.5 }
  - { name: c, kind: packet-loss, target: backend, at: 5s, duration: 5s, probability: 0 }
  - { name: d, kind: pod-pause, target: backend, at: 5s }
  - { name: e, kind: pod-kill, target: backend, at: 5s, duration: 3s }
  - { name: f, kind: bandwidth, target: backend, at: 5s, duration: 3s, rate: fast }
  - { name: g, kind: http-errors, target: backend, at: 5s, duration: 3s, share: 0.2, status: 200 }
`);
  t.is(p.length, 7, p.join('\n'));
  t.regex(p[0], /^f\.yaml:4:\d+ faults\.0\.kind: .*pod-kill/);
  t.regex(p[1], /^f\.yaml:5:\d+ faults\.1\.probability: must be in \(0, 1\]/);
  t.regex(p[2], /^f\.yaml:6:\d+ faults\.2\.probability: must be in \(0, 1\]/);
  t.regex(p[3], /^f\.yaml:7:\d+ faults\.3\.duration/);
  t.regex(p[4], /^f\.yaml:8:\d+ .*duration/);
  t.regex(p[5], /^f\.yaml:9:\d+ faults\.5\.rate: "fast" is not a rate/);
  t.regex(p[6], /^f\.yaml:10:\d+ faults\.6\.status/);
});

test('targets, start beyond the end, overlaps, peers, autoscaler and names are checked against the scenario', (t) => {
  const p = problems(`${head}faults:
  - { name: a, kind: pod-kill, target: backnd, at: 2s }
  - { name: b, kind: pod-kill, target: backend/frontend-1, at: 2s }
  - { name: c, kind: pod-kill, target: backend, at: 40s }
  - { name: d, kind: http-errors, target: backend, at: 5s, duration: 10s, share: 0.2 }
  - { name: e, kind: http-delay, target: backend/backend-2, at: 8s, duration: 10s, delay: 50ms }
  - { name: f, kind: partition, target: backend, at: 5s, duration: 1s, peer: backend }
  - { name: g, kind: metrics-outage, target: backend, at: 8s, duration: 10s }
  - { name: g, kind: http-errors, target: frontend, at: 30s, duration: 1s, share: 0.5 }
  - { name: h, kind: packet-loss, target: backend, at: 20s, duration: 5s, probability: 0.1 }
  - { name: i, kind: packet-loss, target: backend/backend-1, at: 24s, duration: 5s, probability: 0.1 }
  - { name: j, kind: packet-loss, target: frontend, at: 24s, duration: 5s, probability: 0.1 }
`);
  const expect = [
    /^f\.yaml:4:\d+ faults\.0\.target: no service is named "backnd"; did you mean|^f\.yaml:4:\d+ faults\.0\.target: no service is named "backnd"/,
    /^f\.yaml:5:\d+ faults\.1\.target: pod "frontend-1" is not a pod of backend/,
    /^f\.yaml:6:\d+ faults\.2\.at: the fault starts at 40s, at or after the end of the run \(40s\)/,
    /^f\.yaml:8:\d+ faults\.4\.at: fault "e" overlaps fault "d" \(http-errors\) on backend/,
    /^f\.yaml:9:\d+ faults\.5\.peer: a partition is between two different services/,
    /^f\.yaml:10:\d+ faults\.6\.kind: metrics-outage needs an autoscaler section/,
    /^f\.yaml:11:\d+ faults\.7\.name: fault name "g" is already used by fault 7/,
    /^f\.yaml:11:\d+ faults\.7\.target: http-errors acts on the backend's responses/,
    /^f\.yaml:13:\d+ faults\.9\.at: fault "i" overlaps fault "h" \(packet-loss\) on backend/,
  ];
  t.is(p.length, expect.length, p.join('\n'));
  for (const re of expect) t.true(p.some((x) => re.test(x)), `${re} in\n${p.join('\n')}`);
});

test('a URL target has no services to fault; metrics-outage must target the autoscaled service', (t) => {
  const url = problems(`name: f
target: { url: "http://127.0.0.1:9" }
stages: [{ duration: 10s, connections: 1 }]
faults: [{ name: a, kind: pod-kill, target: backend, at: 2s }]
`);
  t.deepEqual(url.map((x) => x.replace(/:\d+ /, ' ')), ['f.yaml:4 faults.0.target: faults need the bundled services (this scenario targets a URL)']);
  const hpa = problems(`${head}autoscaler:
  scaleTargetRef: { apiVersion: apps/v1, kind: Deployment, name: backend }
  maxReplicas: 3
  metrics: [{ type: Resource, resource: { name: cpu, target: { type: Utilization, averageUtilization: 50 } } }]
services: { backend: { resources: { requests: { cpu: 100m } } } }
faults: [{ name: a, kind: metrics-outage, target: frontend, at: 2s, duration: 2s }]
`);
  t.is(hpa.length, 1, hpa.join('\n'));
  t.regex(hpa[0], /faults\.0\.target: metrics-outage targets the autoscaled service \(backend\)/);
});

test('the fault endpoint takes errors and delay, and refuses anything else with a reason', (t) => {
  t.deepEqual(parseFaultState('{"errors":{"share":0.25,"status":503}}'), { errors: { share: 0.25, status: 503 } });
  t.deepEqual(parseFaultState('{"delay":{"ms":40}}'), { delay: { ms: 40, jitterMs: 0 } });
  t.deepEqual(parseFaultState('{}'), {});
  t.throws(() => parseFaultState('nope'), { message: /not JSON/ });
  t.throws(() => parseFaultState('{"errors":{"share":1.5,"status":503}}'), { message: /share must be a number in \(0, 1\]/ });
  t.throws(() => parseFaultState('{"errors":{"share":0.5,"status":200}}'), { message: /status must be an integer in 400\.\.599/ });
  t.throws(() => parseFaultState('{"drop":1}'), { message: /unknown key "drop"/ });
  t.throws(() => parseFaultState('{"delay":{"ms":-1}}'), { message: /delay\.ms/ });
});
