// The arithmetic of `npm run soak` (scripts/soak.ts): the least-squares slope and each check's pass and
// fail on hand-made results. The soak itself is long and not part of `npm test`.
import test from 'ava';
import type { RunResult } from '../../src/core/result.ts';
import { parseScenario } from '../../src/scenario/load.ts';
import { RSS_SLOPE_MAX_MIB_PER_MIN, slope, warmupMinutes, soakChecks, soakScenarioText, type RssPoint } from '../../scripts/soak.ts';

test('slope: exact on a line, least squares on noise, NaN without two distinct x', (t) => {
  t.is(slope([{ x: 0, y: 1 }, { x: 1, y: 3 }, { x: 2, y: 5 }]), 2);
  // y = 10 - 0.5x with -1, +1, -1, … added: the alternating noise tilts the fit by cov(x, e)/var(x) = 3/17.5
  const noisy = [0, 1, 2, 3, 4, 5].map((x) => ({ x, y: 10 - 0.5 * x + (x % 2 ? 1 : -1) }));
  t.true(Math.abs(slope(noisy) - -0.5 + -6 / 35) < 1e-9, `${slope(noisy)}`);
  t.true(Number.isNaN(slope([{ x: 1, y: 1 }])));
  t.true(Number.isNaN(slope([{ x: 1, y: 1 }, { x: 1, y: 2 }])));
});

/** A finished run as the checks read it: windows, services, probes, http. */
function result(o: { windows: number[]; served: number; backend?: number; cut?: number; timeouts?: number; lost?: number; probesOn?: boolean }): RunResult {
  return {
    windows: o.windows.map((rps, t) => ({ t, rps })),
    services: {
      frontend: { role: 'frontend', requestsServed: o.served, requestsAborted: 0, cpuSeconds: 0, rssBytes: 0 },
      backend: { role: 'backend', requestsServed: o.backend ?? o.served, requestsAborted: 0, cpuSeconds: 0, rssBytes: 0, pods: { 'backend-1': {}, 'backend-2': {} } },
    },
    http: { inFlightAtCutoff: o.cut ?? 0, errorsByKind: o.timeouts ? { timeout: o.timeouts } : {} },
    probes: { status: o.probesOn === false ? { enabled: false, reason: 'not root' } : { enabled: true }, lostEvents: { total: o.lost ?? 0, byProbe: {} } },
  } as unknown as RunResult;
}

const flat: RssPoint[] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((m) => ({ min: m, mib: 200 + (m % 2) * 0.5 }));
const verdicts = (checks: ReturnType<typeof soakChecks>) => Object.fromEntries(checks.map((c) => [c.name, c.ok]));

test('warm-up: a fifth of the run, at least a minute, at most half', (t) => {
  t.is(warmupMinutes(30), 6);
  t.is(warmupMinutes(3), 1);
  t.is(warmupMinutes(1), 0.5);
});

test('soak checks: all pass on equal counts, no loss and flat memory', (t) => {
  const checks = soakChecks(result({ windows: [100, 200, 300], served: 600 }), 600, flat, 10);
  t.true(checks.every((c) => c.ok), JSON.stringify(checks, null, 1));
  t.regex(checks.find((c) => c.name === 'harness RSS flat')!.detail, /over 9 samples after 2\.0 min/);
});

test('soak checks: each failure is caught and named', (t) => {
  t.false(verdicts(soakChecks(result({ windows: [100, 200, 300], served: 600 }), 599, flat, 10))['client count = sum of windows']);
  // served beyond the client's count is allowed only up to what was unanswered
  t.true(verdicts(soakChecks(result({ windows: [300], served: 305, cut: 3, timeouts: 2 }), 300, flat, 10))['served = client count']);
  t.false(verdicts(soakChecks(result({ windows: [300], served: 306, cut: 3, timeouts: 2 }), 300, flat, 10))['served = client count']);
  t.false(verdicts(soakChecks(result({ windows: [300], served: 299 }), 300, flat, 10))['served = client count'], 'served fewer than answered');
  t.false(verdicts(soakChecks(result({ windows: [300], served: 300, backend: 298 }), 300, flat, 10))['backend served = frontend served']);
  t.false(verdicts(soakChecks(result({ windows: [300], served: 300, lost: 1 }), 300, flat, 10))['probe events lost = 0']);
  t.false(verdicts(soakChecks(result({ windows: [300], served: 300 }), 300, flat, 10, 4))['probe events lost = 0'], 'loss from the loaders\' end reports');
  t.false(verdicts(soakChecks(result({ windows: [300], served: 300, probesOn: false }), 300, flat, 10))['probe events lost = 0'], 'probes off is not "nothing lost"');
  // growth just above the bound after warm-up fails; a big warm-up step before it does not count
  const growing = flat.map((p) => ({ min: p.min, mib: 200 + p.min * (RSS_SLOPE_MAX_MIB_PER_MIN + 0.1) }));
  t.false(verdicts(soakChecks(result({ windows: [300], served: 300 }), 300, growing, 10))['harness RSS flat']);
  const warmStep = flat.map((p) => ({ min: p.min, mib: p.min < 2 ? 100 : p.mib }));
  t.true(verdicts(soakChecks(result({ windows: [300], served: 300 }), 300, warmStep, 10))['harness RSS flat']);
  t.false(verdicts(soakChecks(result({ windows: [300], served: 300 }), 300, [], 10))['harness RSS flat'], 'no samples is a failure');
});

test('the soak scenario is valid: one steady open stage of N minutes, probes required, the local HPA', (t) => {
  const s = parseScenario(soakScenarioText(3, 200), '/tmp/soak.yaml');
  t.is(s.spec.stages.length, 1);
  t.is(s.spec.stages[0].duration, 180_000);
  t.deepEqual(s.spec.stages[0].rate, 200);
  t.is(typeof s.spec.probes === 'string' ? s.spec.probes : s.spec.probes.mode, 'required');
  t.truthy(s.spec.autoscaler);
});
