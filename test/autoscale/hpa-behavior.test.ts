// Ports of the normalization tests of kubernetes/kubernetes pkg/controller/podautoscaler/horizontal_test.go:
// TestConvertDesiredReplicasWithRules, TestCalculateScale{Up,Down}Limit*, TestNormalizeDesiredReplicas,
// TestScalingWithRules, TestStoreScaleEvents, TestNormalizeDesiredReplicasWithBehavior. Titles name the
// upstream function and case; inputs and expectations are upstream's. `time.Now()` is the fixed NOW.
import test from 'ava';
import { calculateScaleDownLimitWithBehaviors, calculateScaleUpLimit, calculateScaleUpLimitWithScalingRules, convertDesiredReplicasWithBehaviorRate, convertDesiredReplicasWithRules, getReplicasChangePerPeriod, resolveBehavior, resolveScalingRules, stabilizeRecommendation, stabilizeRecommendationWithBehaviors, storeScaleEvent } from '../../src/autoscale/hpa/horizontal.ts';
import type { TimestampedRecommendation, TimestampedScaleEvent } from '../../src/autoscale/types.ts';
import { DEFAULT_SCALE_DOWN_RULES, DEFAULT_SCALE_UP_RULES, type HpaScalingPolicy, type HpaScalingRules } from '../../src/scenario/hpa.ts';

const NOW = 1_700_000_000_000;
const MINUTE = 60_000;
// horizontal_test.go's init() sets scaleUpLimitFactor = 8 "so we don't accidentally run into it".
const TEST_LIMITS = { scaleUpLimitFactor: 8, scaleUpLimitMinimum: 4 };

/** generateScalingRules: a Pods and/or a Percent policy (0 leaves it out), selectPolicy Max. */
function generateScalingRules(pods: number, podsPeriod: number, percent: number, percentPeriod: number, stabilizationWindow: number): HpaScalingRules {
  const policies: HpaScalingPolicy[] = [];
  if (pods !== 0) policies.push({ type: 'Pods', value: pods, periodSeconds: podsPeriod });
  if (percent !== 0) policies.push({ type: 'Percent', value: percent, periodSeconds: percentPeriod });
  return { stabilizationWindowSeconds: stabilizationWindow, selectPolicy: 'Max', ...(policies.length > 0 ? { policies } : {}) };
}

/** generateEventsUniformDistribution: events spread over the last periodSeconds, one per segment centre. */
function generateEventsUniformDistribution(rawEvents: number[], periodSeconds: number): TimestampedScaleEvent[] {
  const segment = periodSeconds / rawEvents.length;
  return rawEvents.map((change, idx) => ({
    replicaChange: change,
    timestamp: NOW - Math.trunc(periodSeconds - segment * (idx + 1) + segment / 2) * 1000,
    outdated: false,
  }));
}

const rec = (recommendation: number, ageMs: number): TimestampedRecommendation => ({ recommendation, timestamp: NOW - ageMs });

// TestConvertDesiredReplicasWithRules
const conversionCases = [
  { current: 5, desired: 7, min: 3, max: 8, expected: 7, condition: 'DesiredWithinRange', annotation: 'prenormalized desired replicas within range' },
  { current: 3, desired: 1, min: 2, max: 8, expected: 2, condition: 'TooFewReplicas', annotation: 'prenormalized desired replicas < minReplicas' },
  { current: 1, desired: 0, min: 0, max: 10, expected: 0, condition: 'DesiredWithinRange', annotation: 'prenormalized desired zeroed replicas within range' },
  { current: 20, desired: 1000, min: 1, max: 10, expected: 10, condition: 'TooManyReplicas', annotation: 'maxReplicas is the limit because maxReplicas < scaleUpLimit' },
  {
    current: 3,
    desired: 1000,
    min: 1,
    max: 2000,
    expected: calculateScaleUpLimit(3, TEST_LIMITS),
    condition: 'ScaleUpLimit',
    annotation: 'scaleUpLimit is the limit because scaleUpLimit < maxReplicas',
  },
];
for (const c of conversionCases) {
  test(`TestConvertDesiredReplicasWithRules / ${c.annotation}`, (t) => {
    const out = convertDesiredReplicasWithRules(c.current, c.desired, c.min, c.max, TEST_LIMITS);
    t.is(out.replicas, c.expected);
    t.is(out.reason, c.condition);
  });
}

test('convertDesiredReplicasWithRules caps scale-up at max(2 × current, 4) with the controller defaults', (t) => {
  t.is(calculateScaleUpLimit(3), 6);
  t.is(calculateScaleUpLimit(1), 4);
  t.deepEqual(convertDesiredReplicasWithRules(3, 1000, 1, 2000), {
    replicas: 6,
    reason: 'ScaleUpLimit',
    message: 'the desired replica count is increasing faster than the maximum scale rate',
  });
});

const minPolicyRules = resolveScalingRules(
  {
    stabilizationWindowSeconds: 300,
    selectPolicy: 'Min',
    policies: [
      { type: 'Pods', value: 2, periodSeconds: 60 },
      { type: 'Percent', value: 50, periodSeconds: 60 },
    ],
  },
  DEFAULT_SCALE_UP_RULES,
  0,
);

test('TestCalculateScaleUpLimitWithScalingRules', (t) => {
  t.is(calculateScaleUpLimitWithScalingRules(1, [], [], minPolicyRules, NOW), 2);
});

test('TestCalculateScaleDownLimitWithBehaviors', (t) => {
  t.is(calculateScaleDownLimitWithBehaviors(5, [], [], minPolicyRules, NOW), 3);
});

// TestNormalizeDesiredReplicas (legacy stabilization, 5 min window)
const normalizeCases: { name: string; recs: TimestampedRecommendation[]; prenormalized: number; expected: number; logLength: number }[] = [
  { name: 'empty log', recs: [], prenormalized: 5, expected: 5, logLength: 1 },
  { name: 'stabilize', recs: [rec(4, 2 * MINUTE), rec(5, MINUTE)], prenormalized: 3, expected: 5, logLength: 3 },
  { name: 'no stabilize', recs: [rec(1, 2 * MINUTE), rec(2, MINUTE)], prenormalized: 3, expected: 3, logLength: 3 },
  { name: 'no stabilize - old recommendations', recs: [rec(10, 10 * MINUTE), rec(9, 9 * MINUTE)], prenormalized: 3, expected: 3, logLength: 2 },
  {
    name: 'stabilize - old recommendations',
    recs: [rec(10, 10 * MINUTE), rec(4, MINUTE), rec(5, 2 * MINUTE), rec(9, 9 * MINUTE)],
    prenormalized: 3,
    expected: 5,
    logLength: 4,
  },
];
for (const c of normalizeCases) {
  test(`TestNormalizeDesiredReplicas / ${c.name}`, (t) => {
    const out = stabilizeRecommendation(c.recs, c.prenormalized, 5 * MINUTE, NOW);
    t.is(out.recommendation, c.expected);
    t.is(out.recommendations.length, c.logLength);
  });
}

// TestScalingWithRules
interface ScalingWithRulesCase {
  name: string;
  scaleUpEvents?: TimestampedScaleEvent[];
  scaleDownEvents?: TimestampedScaleEvent[];
  specMinReplicas: number;
  specMaxReplicas: number;
  scaleUpRules?: HpaScalingRules;
  scaleDownRules?: HpaScalingRules;
  currentReplicas: number;
  prenormalizedDesiredReplicas: number;
  expectedReplicas: number;
  expectedCondition: string;
}
const scalingWithRulesCases: ScalingWithRulesCase[] = [
  { name: 'prenormalized desired replicas within range', currentReplicas: 5, prenormalizedDesiredReplicas: 7, specMinReplicas: 3, specMaxReplicas: 8, expectedReplicas: 7, expectedCondition: 'DesiredWithinRange' },
  { name: 'prenormalized desired replicas < minReplicas', currentReplicas: 3, prenormalizedDesiredReplicas: 1, specMinReplicas: 2, specMaxReplicas: 8, expectedReplicas: 2, expectedCondition: 'TooFewReplicas' },
  { name: 'prenormalized desired replicas within range when minReplicas is 0', currentReplicas: 1, prenormalizedDesiredReplicas: 0, specMinReplicas: 0, specMaxReplicas: 10, expectedReplicas: 0, expectedCondition: 'DesiredWithinRange' },
  { name: 'maxReplicas is the limit because maxReplicas < scaleUpLimit', currentReplicas: 20, prenormalizedDesiredReplicas: 1000, specMinReplicas: 1, specMaxReplicas: 10, expectedReplicas: 10, expectedCondition: 'TooManyReplicas' },
  { name: 'desired replica count is more than the maximum replica count', currentReplicas: 100, prenormalizedDesiredReplicas: 1000, specMinReplicas: 100, specMaxReplicas: 150, expectedReplicas: 150, expectedCondition: 'TooManyReplicas' },
  {
    name: 'scaleUpLimit is the limit because scaleUpLimit < maxReplicas with user policies',
    currentReplicas: 3,
    prenormalizedDesiredReplicas: 1000,
    specMinReplicas: 1,
    specMaxReplicas: 2000,
    scaleUpRules: generateScalingRules(0, 0, 1, 60, 0),
    expectedReplicas: 4,
    expectedCondition: 'ScaleUpLimit',
  },
  {
    // upstream marks this case testThis: true, which makes its loop skip it; it holds here all the same
    name: 'scaleDownLimit is the limit because scaleDownLimit > minReplicas with user defined policies',
    currentReplicas: 1000,
    prenormalizedDesiredReplicas: 3,
    specMinReplicas: 3,
    specMaxReplicas: 2000,
    scaleDownRules: generateScalingRules(20, 60, 0, 0, 0),
    expectedReplicas: 980,
    expectedCondition: 'ScaleDownLimit',
  },
  { name: 'scaleUp with default behavior', specMinReplicas: 1, specMaxReplicas: 1000, currentReplicas: 10, prenormalizedDesiredReplicas: 50, expectedReplicas: 20, expectedCondition: 'ScaleUpLimit' },
  { name: 'scaleUp with pods policy larger than percent policy', specMinReplicas: 1, specMaxReplicas: 1000, scaleUpRules: generateScalingRules(100, 60, 100, 60, 0), currentReplicas: 10, prenormalizedDesiredReplicas: 500, expectedReplicas: 110, expectedCondition: 'ScaleUpLimit' },
  { name: 'scaleUp with percent policy larger than pods policy', specMinReplicas: 1, specMaxReplicas: 1000, scaleUpRules: generateScalingRules(2, 60, 100, 60, 0), currentReplicas: 10, prenormalizedDesiredReplicas: 500, expectedReplicas: 20, expectedCondition: 'ScaleUpLimit' },
  { name: 'scaleUp with spec MaxReplicas limitation with large pod policy', specMinReplicas: 1, specMaxReplicas: 1000, scaleUpRules: generateScalingRules(100, 60, 0, 0, 0), currentReplicas: 10, prenormalizedDesiredReplicas: 50, expectedReplicas: 50, expectedCondition: 'DesiredWithinRange' },
  { name: 'scaleUp with spec MaxReplicas limitation with large percent policy', specMinReplicas: 1, specMaxReplicas: 1000, scaleUpRules: generateScalingRules(10000, 60, 0, 0, 0), currentReplicas: 10, prenormalizedDesiredReplicas: 50, expectedReplicas: 50, expectedCondition: 'DesiredWithinRange' },
  { name: 'scaleUp with pod policy limitation', specMinReplicas: 1, specMaxReplicas: 1000, scaleUpRules: generateScalingRules(30, 60, 0, 0, 0), currentReplicas: 10, prenormalizedDesiredReplicas: 50, expectedReplicas: 40, expectedCondition: 'ScaleUpLimit' },
  { name: 'scaleUp with percent policy limitation', specMinReplicas: 1, specMaxReplicas: 1000, scaleUpRules: generateScalingRules(0, 0, 200, 60, 0), currentReplicas: 10, prenormalizedDesiredReplicas: 50, expectedReplicas: 30, expectedCondition: 'ScaleUpLimit' },
  { name: 'scaleDown with percent policy larger than pod policy', specMinReplicas: 1, specMaxReplicas: 1000, scaleDownRules: generateScalingRules(20, 60, 1, 60, 300), currentReplicas: 100, prenormalizedDesiredReplicas: 2, expectedReplicas: 80, expectedCondition: 'ScaleDownLimit' },
  { name: 'scaleDown with pod policy larger than percent policy', specMinReplicas: 1, specMaxReplicas: 1000, scaleDownRules: generateScalingRules(2, 60, 1, 60, 300), currentReplicas: 100, prenormalizedDesiredReplicas: 2, expectedReplicas: 98, expectedCondition: 'ScaleDownLimit' },
  { name: 'scaleDown with spec MinReplicas=nil limitation with large pod policy', specMinReplicas: 1, specMaxReplicas: 1000, scaleDownRules: generateScalingRules(100, 60, 0, 0, 300), currentReplicas: 10, prenormalizedDesiredReplicas: 0, expectedReplicas: 1, expectedCondition: 'TooFewReplicas' },
  { name: 'scaleDown with spec MinReplicas limitation with large pod policy', specMinReplicas: 1, specMaxReplicas: 1000, scaleDownRules: generateScalingRules(100, 60, 0, 0, 300), currentReplicas: 10, prenormalizedDesiredReplicas: 0, expectedReplicas: 1, expectedCondition: 'TooFewReplicas' },
  { name: 'scaleDown with spec MinReplicas limitation with large percent policy', specMinReplicas: 5, specMaxReplicas: 1000, scaleDownRules: generateScalingRules(0, 0, 100, 60, 300), currentReplicas: 10, prenormalizedDesiredReplicas: 2, expectedReplicas: 5, expectedCondition: 'TooFewReplicas' },
  { name: 'scaleDown with pod policy limitation', specMinReplicas: 1, specMaxReplicas: 1000, scaleDownRules: generateScalingRules(5, 60, 0, 0, 300), currentReplicas: 10, prenormalizedDesiredReplicas: 2, expectedReplicas: 5, expectedCondition: 'ScaleDownLimit' },
  { name: 'scaleDown with percent policy limitation', specMinReplicas: 1, specMaxReplicas: 1000, scaleDownRules: generateScalingRules(0, 0, 50, 60, 300), currentReplicas: 10, prenormalizedDesiredReplicas: 5, expectedReplicas: 5, expectedCondition: 'DesiredWithinRange' },
  {
    name: 'scaleUp with spec MaxReplicas limitation with large pod policy and events',
    scaleUpEvents: generateEventsUniformDistribution([1, 5, 9], 120),
    specMinReplicas: 1,
    specMaxReplicas: 200,
    scaleUpRules: generateScalingRules(300, 60, 0, 0, 0),
    currentReplicas: 100,
    prenormalizedDesiredReplicas: 500,
    expectedReplicas: 200,
    expectedCondition: 'TooManyReplicas',
  },
  {
    name: 'scaleUp with spec MaxReplicas limitation with large percent policy and events',
    scaleUpEvents: generateEventsUniformDistribution([1, 5, 9], 120),
    specMinReplicas: 1,
    specMaxReplicas: 200,
    scaleUpRules: generateScalingRules(0, 0, 10000, 60, 0),
    currentReplicas: 100,
    prenormalizedDesiredReplicas: 500,
    expectedReplicas: 200,
    expectedCondition: 'TooManyReplicas',
  },
  {
    name: 'scaleUp with currentReplicas limitation with rate.PeriodSeconds with a lot of recent scale up events',
    scaleUpEvents: generateEventsUniformDistribution([1, 5, 9], 120),
    specMinReplicas: 1,
    specMaxReplicas: 1000,
    scaleUpRules: generateScalingRules(5, 120, 0, 0, 0),
    currentReplicas: 100,
    prenormalizedDesiredReplicas: 500,
    expectedReplicas: 100,
    expectedCondition: 'ScaleUpLimit',
  },
  {
    name: 'scaleUp with pod policy and previous scale up events',
    scaleUpEvents: generateEventsUniformDistribution([1, 5, 9], 120),
    specMinReplicas: 1,
    specMaxReplicas: 1000,
    scaleUpRules: generateScalingRules(150, 120, 0, 0, 0),
    currentReplicas: 100,
    prenormalizedDesiredReplicas: 500,
    expectedReplicas: 235,
    expectedCondition: 'ScaleUpLimit',
  },
  {
    name: 'scaleUp with percent policy and previous scale up events',
    scaleUpEvents: generateEventsUniformDistribution([1, 5, 9], 120),
    specMinReplicas: 1,
    specMaxReplicas: 1000,
    scaleUpRules: generateScalingRules(0, 0, 200, 120, 0),
    currentReplicas: 100,
    prenormalizedDesiredReplicas: 500,
    expectedReplicas: 255,
    expectedCondition: 'ScaleUpLimit',
  },
  {
    name: 'scaleUp with percent policy and previous scale up and down events',
    scaleUpEvents: generateEventsUniformDistribution([4], 120),
    scaleDownEvents: generateEventsUniformDistribution([2], 120),
    specMinReplicas: 1,
    specMaxReplicas: 1000,
    scaleUpRules: generateScalingRules(0, 0, 300, 300, 0),
    currentReplicas: 6,
    prenormalizedDesiredReplicas: 24,
    expectedReplicas: 16,
    expectedCondition: 'ScaleUpLimit',
  },
  {
    name: 'scaleDown with default policy and previous events',
    scaleDownEvents: generateEventsUniformDistribution([1, 5, 9], 120),
    specMinReplicas: 1,
    specMaxReplicas: 1000,
    currentReplicas: 10,
    prenormalizedDesiredReplicas: 5,
    expectedReplicas: 5,
    expectedCondition: 'DesiredWithinRange',
  },
  {
    name: 'scaleDown with spec MinReplicas=nil limitation with large pod policy and previous events',
    scaleDownEvents: generateEventsUniformDistribution([1, 5, 9], 120),
    specMinReplicas: 1,
    specMaxReplicas: 1000,
    scaleDownRules: generateScalingRules(115, 120, 0, 0, 300),
    currentReplicas: 100,
    prenormalizedDesiredReplicas: 0,
    expectedReplicas: 1,
    expectedCondition: 'TooFewReplicas',
  },
  {
    name: 'scaleDown with spec MinReplicas limitation with large pod policy and previous events',
    scaleDownEvents: generateEventsUniformDistribution([1, 5, 9], 120),
    specMinReplicas: 5,
    specMaxReplicas: 1000,
    scaleDownRules: generateScalingRules(130, 120, 0, 0, 300),
    currentReplicas: 100,
    prenormalizedDesiredReplicas: 0,
    expectedReplicas: 5,
    expectedCondition: 'TooFewReplicas',
  },
  {
    name: 'scaleDown with spec MinReplicas limitation with large percent policy and previous events',
    scaleDownEvents: generateEventsUniformDistribution([1, 5, 9], 120),
    specMinReplicas: 5,
    specMaxReplicas: 1000,
    scaleDownRules: generateScalingRules(0, 0, 100, 120, 300),
    currentReplicas: 100,
    prenormalizedDesiredReplicas: 2,
    expectedReplicas: 5,
    expectedCondition: 'TooFewReplicas',
  },
  {
    name: 'scaleDown with pod policy limitation and previous events',
    scaleDownEvents: generateEventsUniformDistribution([1, 5, 9], 120),
    specMinReplicas: 1,
    specMaxReplicas: 1000,
    scaleDownRules: generateScalingRules(5, 120, 0, 0, 300),
    currentReplicas: 100,
    prenormalizedDesiredReplicas: 2,
    expectedReplicas: 100,
    expectedCondition: 'ScaleDownLimit',
  },
  {
    name: 'scaleDown with percent policy limitation and previous events',
    scaleDownEvents: generateEventsUniformDistribution([2, 4, 6], 120),
    specMinReplicas: 1,
    specMaxReplicas: 1000,
    scaleDownRules: generateScalingRules(0, 0, 50, 120, 300),
    currentReplicas: 100,
    prenormalizedDesiredReplicas: 0,
    expectedReplicas: 56,
    expectedCondition: 'ScaleDownLimit',
  },
  {
    name: 'scaleDown with percent policy and previous scale up and down events',
    scaleUpEvents: generateEventsUniformDistribution([2], 120),
    scaleDownEvents: generateEventsUniformDistribution([4], 120),
    specMinReplicas: 1,
    specMaxReplicas: 1000,
    scaleDownRules: generateScalingRules(0, 0, 50, 180, 0),
    currentReplicas: 10,
    prenormalizedDesiredReplicas: 1,
    expectedReplicas: 6,
    expectedCondition: 'ScaleDownLimit',
  },
  {
    name: 'scaleDown with previous events preventing further scale down',
    scaleDownEvents: generateEventsUniformDistribution([10, 10, 10], 120),
    specMinReplicas: 1,
    specMaxReplicas: 1000,
    scaleDownRules: generateScalingRules(0, 0, 10, 120, 300),
    currentReplicas: 100,
    prenormalizedDesiredReplicas: 0,
    expectedReplicas: 100,
    expectedCondition: 'ScaleDownLimit',
  },
  {
    name: 'scaleDown with with previous events still allowing more scale down',
    scaleDownEvents: generateEventsUniformDistribution([10, 10, 10], 120),
    specMinReplicas: 1,
    specMaxReplicas: 1000,
    scaleDownRules: generateScalingRules(0, 0, 1000, 120, 300),
    currentReplicas: 10,
    prenormalizedDesiredReplicas: 5,
    expectedReplicas: 5,
    expectedCondition: 'DesiredWithinRange',
  },
  {
    name: "check 'outdated' flag for events for one behavior for up",
    scaleUpEvents: generateEventsUniformDistribution([8, 12, 9, 11], 120),
    specMinReplicas: 1,
    specMaxReplicas: 1000,
    scaleUpRules: generateScalingRules(1000, 60, 0, 0, 0),
    currentReplicas: 100,
    prenormalizedDesiredReplicas: 200,
    expectedReplicas: 200,
    expectedCondition: 'DesiredWithinRange',
  },
  {
    name: "check that events were not marked 'outdated' for two different policies in the behavior for up",
    scaleUpEvents: generateEventsUniformDistribution([8, 12, 9, 11], 120),
    specMinReplicas: 1,
    specMaxReplicas: 1000,
    scaleUpRules: generateScalingRules(1000, 120, 100, 60, 0),
    currentReplicas: 100,
    prenormalizedDesiredReplicas: 200,
    expectedReplicas: 200,
    expectedCondition: 'DesiredWithinRange',
  },
  {
    name: "check that events were marked 'outdated' for two different policies in the behavior for up",
    scaleUpEvents: generateEventsUniformDistribution([8, 12, 9, 11], 120),
    specMinReplicas: 1,
    specMaxReplicas: 1000,
    scaleUpRules: generateScalingRules(1000, 30, 100, 60, 0),
    currentReplicas: 100,
    prenormalizedDesiredReplicas: 200,
    expectedReplicas: 200,
    expectedCondition: 'DesiredWithinRange',
  },
  {
    name: "check 'outdated' flag for events for one behavior for down",
    scaleDownEvents: generateEventsUniformDistribution([8, 12, 9, 11], 120),
    specMinReplicas: 1,
    specMaxReplicas: 1000,
    scaleDownRules: generateScalingRules(1000, 60, 0, 0, 300),
    currentReplicas: 100,
    prenormalizedDesiredReplicas: 5,
    expectedReplicas: 5,
    expectedCondition: 'DesiredWithinRange',
  },
  {
    name: "check that events were not marked 'outdated' for two different policies in the behavior for down",
    scaleDownEvents: generateEventsUniformDistribution([8, 12, 9, 11], 120),
    specMinReplicas: 1,
    specMaxReplicas: 1000,
    scaleDownRules: generateScalingRules(1000, 120, 100, 60, 300),
    currentReplicas: 100,
    prenormalizedDesiredReplicas: 5,
    expectedReplicas: 5,
    expectedCondition: 'DesiredWithinRange',
  },
  {
    name: "check that events were marked 'outdated' for two different policies in the behavior for down",
    scaleDownEvents: generateEventsUniformDistribution([8, 12, 9, 11], 120),
    specMinReplicas: 1,
    specMaxReplicas: 1000,
    scaleDownRules: generateScalingRules(1000, 30, 100, 60, 300),
    currentReplicas: 100,
    prenormalizedDesiredReplicas: 5,
    expectedReplicas: 5,
    expectedCondition: 'DesiredWithinRange',
  },
];
for (const c of scalingWithRulesCases) {
  test(`TestScalingWithRules / ${c.name}`, (t) => {
    const out = convertDesiredReplicasWithBehaviorRate(
      {
        scaleUpBehavior: resolveScalingRules(c.scaleUpRules, DEFAULT_SCALE_UP_RULES, 0),
        scaleDownBehavior: resolveScalingRules(c.scaleDownRules, DEFAULT_SCALE_DOWN_RULES, 300),
        minReplicas: c.specMinReplicas,
        maxReplicas: c.specMaxReplicas,
        currentReplicas: c.currentReplicas,
        desiredReplicas: c.prenormalizedDesiredReplicas,
      },
      c.scaleUpEvents ?? [],
      c.scaleDownEvents ?? [],
      NOW,
    );
    t.is(out.replicas, c.expectedReplicas, 'expected replicas do not match with converted replicas');
    t.is(out.reason, c.expectedCondition, 'HPA condition does not match with expected condition');
  });
}

// TestStoreScaleEvents
const ev = (replicaChange: number, ageSeconds: number, outdated = false): TimestampedScaleEvent => ({ replicaChange, timestamp: NOW - ageSeconds * 1000, outdated });
const storeCases: { name: string; prev: TimestampedScaleEvent[]; next: [number, boolean][]; rules?: HpaScalingRules; expectedReplicasChange: number }[] = [
  { name: 'empty entries with default behavior', prev: [], next: [], expectedReplicasChange: 0 },
  { name: 'empty entries with two-policy-behavior', prev: [], next: [[5, false]], rules: generateScalingRules(10, 60, 100, 60, 0), expectedReplicasChange: 0 },
  { name: 'one outdated entry to be kept untouched without behavior', prev: [ev(7, 61)], next: [[7, false]], expectedReplicasChange: 0 },
  { name: 'one outdated entry to be replaced with behavior', prev: [ev(7, 61)], next: [[5, false]], rules: generateScalingRules(10, 60, 100, 60, 0), expectedReplicasChange: 0 },
  { name: 'one actual entry to be not touched with behavior', prev: [ev(7, 58)], next: [[7, false], [5, false]], rules: generateScalingRules(10, 60, 100, 60, 0), expectedReplicasChange: 7 },
  { name: 'two entries, one of them to be replaced', prev: [ev(7, 61), ev(6, 59)], next: [[5, false], [6, false]], rules: generateScalingRules(10, 60, 0, 0, 0), expectedReplicasChange: 6 },
  {
    name: 'replace one entry, use policies with different periods',
    prev: [ev(8, 29), ev(6, 59), ev(7, 61), ev(9, 61)],
    next: [[8, false], [6, false], [7, true], [5, false]],
    rules: generateScalingRules(10, 60, 100, 30, 0),
    expectedReplicasChange: 14,
  },
  { name: 'two entries, both actual', prev: [ev(7, 58), ev(6, 59)], next: [[7, false], [6, false], [5, false]], rules: generateScalingRules(10, 120, 100, 30, 0), expectedReplicasChange: 13 },
];
for (const c of storeCases) {
  test(`TestStoreScaleEvents / ${c.name}`, (t) => {
    const pairs = (events: TimestampedScaleEvent[]) => events.map((e): [number, boolean] => [e.replicaChange, e.outdated]);
    t.is(getReplicasChangePerPeriod(60, c.prev, NOW), c.expectedReplicasChange);
    const up = storeScaleEvent(c.rules ? resolveBehavior({ scaleUp: c.rules }) : undefined, c.prev, [], 10, 15, NOW);
    t.deepEqual(pairs(up.scaleUpEvents), c.next, 'up');
    t.is(getReplicasChangePerPeriod(60, c.prev, NOW), c.expectedReplicasChange);
    const down = storeScaleEvent(c.rules ? resolveBehavior({ scaleDown: c.rules }) : undefined, [], c.prev, 10, 5, NOW);
    t.deepEqual(pairs(down.scaleDownEvents), c.next, 'down');
  });
}

// TestNormalizeDesiredReplicasWithBehavior (stabilizeRecommendationWithBehaviors); windows default to 0 as in
// the upstream struct.
const behaviorCases: {
  name: string;
  recs: TimestampedRecommendation[];
  current: number;
  prenormalized: number;
  expected: number;
  expectedRecommendations?: number[];
  up?: number;
  down?: number;
}[] = [
  { name: 'empty recommendations for scaling down', recs: [], current: 100, prenormalized: 5, expected: 5, expectedRecommendations: [5] },
  { name: 'simple scale down stabilization', recs: [rec(4, 2 * MINUTE), rec(5, MINUTE)], current: 100, prenormalized: 3, expected: 5, expectedRecommendations: [4, 5, 3], down: 180 },
  { name: 'simple scale up stabilization', recs: [rec(4, 2 * MINUTE), rec(5, MINUTE)], current: 1, prenormalized: 7, expected: 4, expectedRecommendations: [4, 5, 7], up: 300 },
  { name: 'no scale down stabilization', recs: [rec(1, 2 * MINUTE), rec(2, MINUTE)], current: 100, prenormalized: 3, expected: 3, expectedRecommendations: [1, 2, 3], up: 300 },
  { name: 'no scale up stabilization', recs: [rec(4, 2 * MINUTE), rec(5, MINUTE)], current: 1, prenormalized: 3, expected: 3, expectedRecommendations: [4, 5, 3], down: 300 },
  { name: 'no scale down stabilization, reuse recommendation element', recs: [rec(10, 10 * MINUTE), rec(9, 9 * MINUTE)], current: 100, prenormalized: 3, expected: 3, expectedRecommendations: [10, 3] },
  { name: 'no scale up stabilization, reuse recommendation element', recs: [rec(10, 10 * MINUTE), rec(9, 9 * MINUTE)], current: 1, prenormalized: 100, expected: 100, expectedRecommendations: [10, 100] },
  {
    name: 'scale down stabilization, reuse one of obsolete recommendation element',
    recs: [rec(10, 10 * MINUTE), rec(4, MINUTE), rec(5, 2 * MINUTE), rec(9, 9 * MINUTE)],
    current: 100,
    prenormalized: 3,
    expected: 5,
    expectedRecommendations: [10, 4, 5, 3],
    down: 180,
  },
  {
    name: 'scale up stabilization, reuse one of obsolete recommendation element',
    recs: [rec(10, 100 * MINUTE), rec(6, MINUTE), rec(5, 2 * MINUTE), rec(9, 3 * MINUTE)],
    current: 1,
    prenormalized: 100,
    expected: 5,
    expectedRecommendations: [100, 6, 5, 9],
    up: 300,
  },
  { name: 'scale up and down stabilization, do not scale up when prenormalized rec goes down', recs: [rec(2, 100 * MINUTE), rec(3, 3 * MINUTE)], current: 2, prenormalized: 1, expected: 2, up: 300, down: 300 },
  { name: 'scale up and down stabilization, do not scale down when prenormalized rec goes up', recs: [rec(2, 100 * MINUTE), rec(1, 3 * MINUTE)], current: 2, prenormalized: 3, expected: 2, up: 300, down: 300 },
];
for (const c of behaviorCases) {
  test(`TestNormalizeDesiredReplicasWithBehavior / ${c.name}`, (t) => {
    const rules = (window: number) => resolveScalingRules({ stabilizationWindowSeconds: window }, DEFAULT_SCALE_UP_RULES, 0);
    const out = stabilizeRecommendationWithBehaviors(
      { scaleUpBehavior: rules(c.up ?? 0), scaleDownBehavior: rules(c.down ?? 0), minReplicas: 1, maxReplicas: 1000, currentReplicas: c.current, desiredReplicas: c.prenormalized },
      c.recs,
      NOW,
    );
    t.is(out.replicas, c.expected, 'expected replicas do not match');
    if (c.expectedRecommendations) t.deepEqual(out.recommendations.map((r) => r.recommendation), c.expectedRecommendations);
  });
}

test('stabilizeRecommendationWithBehaviors names the direction it held back (upstream reason and message)', (t) => {
  const rules = resolveScalingRules({ stabilizationWindowSeconds: 300 }, DEFAULT_SCALE_UP_RULES, 0);
  const args = { scaleUpBehavior: rules, scaleDownBehavior: rules, minReplicas: 1, maxReplicas: 10 };
  const up = stabilizeRecommendationWithBehaviors({ ...args, currentReplicas: 5, desiredReplicas: 10 }, [rec(7, MINUTE)], NOW);
  t.like(up, { replicas: 7, reason: 'ScaleUpStabilized', message: 'recent recommendations were lower than current one, applying the lowest recent recommendation' });
  const down = stabilizeRecommendationWithBehaviors({ ...args, currentReplicas: 8, desiredReplicas: 3 }, [rec(5, MINUTE)], NOW);
  t.like(down, { replicas: 5, reason: 'ScaleDownStabilized', message: 'recent recommendations were higher than current one, applying the highest recent recommendation' });
});

test('resolveBehavior fills the autoscaling/v2 defaults and the controller downscale window', (t) => {
  t.deepEqual(resolveBehavior({}), {
    scaleUp: {
      stabilizationWindowSeconds: 0,
      selectPolicy: 'Max',
      policies: [
        { type: 'Pods', value: 4, periodSeconds: 15 },
        { type: 'Percent', value: 100, periodSeconds: 15 },
      ],
    },
    scaleDown: { stabilizationWindowSeconds: 300, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] },
  });
  t.is(resolveBehavior(undefined), undefined);
  const custom = resolveBehavior({ scaleDown: { selectPolicy: 'Disabled', tolerance: '0.05' } }, { ...resolveDefaults(), downscaleStabilizationWindowMs: 60_000 });
  t.deepEqual(custom?.scaleDown, { stabilizationWindowSeconds: 60, selectPolicy: 'Disabled', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }], tolerance: 0.05 });
});

function resolveDefaults() {
  return { tolerance: 0.1, cpuInitializationPeriodMs: 300_000, delayOfInitialReadinessStatusMs: 30_000, downscaleStabilizationWindowMs: 300_000, scaleUpLimitFactor: 2, scaleUpLimitMinimum: 4 };
}

test('selectPolicy Disabled forbids any change in that direction', (t) => {
  const disabled = resolveScalingRules({ selectPolicy: 'Disabled' }, DEFAULT_SCALE_DOWN_RULES, 300);
  const up = resolveScalingRules(undefined, DEFAULT_SCALE_UP_RULES, 0);
  const out = convertDesiredReplicasWithBehaviorRate({ scaleUpBehavior: up, scaleDownBehavior: disabled, minReplicas: 1, maxReplicas: 10, currentReplicas: 6, desiredReplicas: 2 }, [], [], NOW);
  t.deepEqual(out, { replicas: 6, reason: 'ScaleDownLimit', message: 'the desired replica count is decreasing faster than the maximum scale rate' });
});
