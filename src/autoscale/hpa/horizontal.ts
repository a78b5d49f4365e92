// The horizontal controller of the HPA port (pkg/controller/podautoscaler/horizontal.go) as pure functions:
// the controller's flags and the behavior it applies, the max over the metrics' proposals, bounds,
// stabilization, behavior rate limits, status conditions, events, and one reconcile step. Time is always
// passed in (epoch ms); nothing here reads a clock or does I/O. Per-metric proposals: replica-calculator.ts.

import { milliValue } from '../../core/quantity.ts';
import {
  DEFAULT_SCALE_DOWN_RULES,
  DEFAULT_SCALE_UP_RULES,
  defaultHpaSpec,
  toleranceValue,
  type HpaBehavior,
  type HpaScalingRules,
  type HpaSpec,
  type MetricSpec,
  type MetricTarget,
  type ResourceName,
} from '../../scenario/hpa.ts';
import type {
  CalcResult,
  HpaCondition,
  HpaConditionType,
  HpaControllerConfig,
  HpaEvent,
  HpaObservation,
  HpaState,
  MetricStatus,
  ReconcileResult,
  ResolvedScalingRules,
  TimestampedRecommendation,
  TimestampedScaleEvent,
} from '../types.ts';
import { formatSelector, fromMilli, resourceMilli } from './metrics.ts';
import {
  getExternalMetricReplicas,
  getExternalPerPodMetricReplicas,
  getMetricReplicas,
  getObjectMetricReplicas,
  getObjectPerPodMetricReplicas,
  getRawResourceReplicas,
  getResourceReplicas,
  MAX_INT32,
  MIN_INT32,
  type CalcSettings,
  type Tolerances,
} from './replica-calculator.ts';

/** Controller flags at their kube-controller-manager defaults. */
export const DEFAULT_CONTROLLER_CONFIG: HpaControllerConfig = {
  tolerance: 0.1,
  cpuInitializationPeriodMs: 5 * 60_000,
  delayOfInitialReadinessStatusMs: 30_000,
  downscaleStabilizationWindowMs: 5 * 60_000,
  scaleUpLimitFactor: 2,
  scaleUpLimitMinimum: 4,
};

/** Both directions' rules with defaults filled in, as the API server and controller leave them. */
export interface ResolvedBehavior {
  scaleUp: ResolvedScalingRules;
  scaleDown: ResolvedScalingRules;
}

/** Fills unset fields of one direction's rules from `defaults` (GenerateHPAScale{Up,Down}Rules). */
export function resolveScalingRules(
  rules: HpaScalingRules | undefined,
  defaults: Readonly<HpaScalingRules>,
  defaultWindowSeconds: number,
): ResolvedScalingRules {
  const merged = { ...defaults, ...stripUndefined(rules ?? {}) };
  return {
    stabilizationWindowSeconds: merged.stabilizationWindowSeconds ?? defaultWindowSeconds,
    selectPolicy: merged.selectPolicy ?? 'Max',
    policies: (merged.policies ?? []).map((p) => ({ ...p })),
    ...(merged.tolerance !== undefined ? { tolerance: toleranceValue(merged.tolerance) } : {}),
  };
}

/** spec.behavior with every default filled, or undefined when the spec has none (legacy algorithm). */
export function resolveBehavior(
  behavior: HpaBehavior | undefined,
  config: HpaControllerConfig = DEFAULT_CONTROLLER_CONFIG,
): ResolvedBehavior | undefined {
  if (!behavior) return undefined;
  return {
    scaleUp: resolveScalingRules(behavior.scaleUp, DEFAULT_SCALE_UP_RULES, 0),
    scaleDown: resolveScalingRules(behavior.scaleDown, DEFAULT_SCALE_DOWN_RULES, Math.trunc(config.downscaleStabilizationWindowMs / 1000)),
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

// ---------------------------------------------------------------------------------------------------------
// Normalization: stabilization, rate limits, bounds (horizontal.go)

/** A normalization outcome: the replicas and the ScalingLimited (or AbleToScale) reason and message. */
export interface Normalized {
  replicas: number;
  reason: string;
  message: string;
}

/** The inputs of behavior normalization (upstream NormalizationArg, without the key). */
export interface NormalizationArg {
  scaleUpBehavior: ResolvedScalingRules;
  scaleDownBehavior: ResolvedScalingRules;
  minReplicas: number;
  maxReplicas: number;
  currentReplicas: number;
  desiredReplicas: number;
}

/**
 * Legacy downscale stabilization: the highest recommendation within the window (including the new one);
 * the new recommendation replaces the last one older than the window, or is appended.
 */
export function stabilizeRecommendation(
  recommendations: TimestampedRecommendation[],
  prenormalizedDesiredReplicas: number,
  windowMs: number,
  nowMs: number,
): { recommendation: number; recommendations: TimestampedRecommendation[] } {
  let max = prenormalizedDesiredReplicas;
  let oldIndex = -1;
  const cutoff = nowMs - windowMs;
  recommendations.forEach((rec, i) => {
    if (rec.timestamp < cutoff) oldIndex = i;
    else if (rec.recommendation > max) max = rec.recommendation;
  });
  return { recommendation: max, recommendations: storeRecommendation(recommendations, oldIndex, prenormalizedDesiredReplicas, nowMs) };
}

function storeRecommendation(recs: TimestampedRecommendation[], oldIndex: number, recommendation: number, nowMs: number): TimestampedRecommendation[] {
  const next = recs.map((r) => ({ ...r }));
  if (oldIndex >= 0) next[oldIndex] = { recommendation, timestamp: nowMs };
  else next.push({ recommendation, timestamp: nowMs });
  return next;
}

/** The two controller settings of the legacy scale-up cap. */
export type ScaleUpLimitConfig = Pick<HpaControllerConfig, 'scaleUpLimitFactor' | 'scaleUpLimitMinimum'>;

/** max(factor × current, minimum), the legacy scale-up cap. */
export function calculateScaleUpLimit(currentReplicas: number, config: ScaleUpLimitConfig = DEFAULT_CONTROLLER_CONFIG): number {
  return Math.trunc(Math.max(config.scaleUpLimitFactor * currentReplicas, config.scaleUpLimitMinimum));
}

/** Legacy bounds: minReplicas, then the smaller of maxReplicas and the scale-up cap. */
export function convertDesiredReplicasWithRules(
  currentReplicas: number,
  desiredReplicas: number,
  minReplicas: number,
  maxReplicas: number,
  config: ScaleUpLimitConfig = DEFAULT_CONTROLLER_CONFIG,
): Normalized {
  const scaleUpLimit = calculateScaleUpLimit(currentReplicas, config);
  const capped: Normalized =
    maxReplicas > scaleUpLimit
      ? { replicas: scaleUpLimit, reason: 'ScaleUpLimit', message: 'the desired replica count is increasing faster than the maximum scale rate' }
      : { replicas: maxReplicas, reason: 'TooManyReplicas', message: 'the desired replica count is more than the maximum replica count' };
  if (desiredReplicas < minReplicas) {
    return { replicas: minReplicas, reason: 'TooFewReplicas', message: 'the desired replica count is less than the minimum replica count' };
  }
  if (desiredReplicas > capped.replicas) return capped;
  return { replicas: desiredReplicas, reason: 'DesiredWithinRange', message: 'the desired count is within the acceptable range' };
}

/**
 * Behavior stabilization: the recommendation is held between the lowest recommendation within the scale-up
 * window and the highest within the scale-down window (both including the new one), starting from the
 * current size. The new recommendation replaces the last one older than both windows, or is appended.
 */
export function stabilizeRecommendationWithBehaviors(
  args: NormalizationArg,
  recommendations: TimestampedRecommendation[],
  nowMs: number,
): Normalized & { recommendations: TimestampedRecommendation[] } {
  const upCutoff = nowMs - args.scaleUpBehavior.stabilizationWindowSeconds * 1000;
  const downCutoff = nowMs - args.scaleDownBehavior.stabilizationWindowSeconds * 1000;
  let up = args.desiredReplicas;
  let down = args.desiredReplicas;
  let oldIndex = -1;
  recommendations.forEach((rec, i) => {
    if (rec.timestamp > upCutoff) up = Math.min(rec.recommendation, up);
    if (rec.timestamp > downCutoff) down = Math.max(rec.recommendation, down);
    if (rec.timestamp < upCutoff && rec.timestamp < downCutoff) oldIndex = i;
  });
  let recommendation = args.currentReplicas;
  if (recommendation < up) recommendation = up;
  if (recommendation > down) recommendation = down;
  const [reason, message] =
    args.desiredReplicas >= args.currentReplicas
      ? ['ScaleUpStabilized', 'recent recommendations were lower than current one, applying the lowest recent recommendation']
      : ['ScaleDownStabilized', 'recent recommendations were higher than current one, applying the highest recent recommendation'];
  return { replicas: recommendation, reason, message, recommendations: storeRecommendation(recommendations, oldIndex, args.desiredReplicas, nowMs) };
}

/** Sum of replica changes of events strictly newer than `periodSeconds` ago. */
export function getReplicasChangePerPeriod(periodSeconds: number, events: TimestampedScaleEvent[], nowMs: number): number {
  const cutoff = nowMs - periodSeconds * 1000;
  return events.reduce((sum, e) => (e.timestamp > cutoff ? sum + e.replicaChange : sum), 0);
}

function periodStartReplicas(current: number, periodSeconds: number, up: TimestampedScaleEvent[], down: TimestampedScaleEvent[], nowMs: number): number {
  return current - getReplicasChangePerPeriod(periodSeconds, up, nowMs) + getReplicasChangePerPeriod(periodSeconds, down, nowMs);
}

/** The highest replica count the scale-up policies allow now, given the recent scale events. */
export function calculateScaleUpLimitWithScalingRules(
  currentReplicas: number,
  scaleUpEvents: TimestampedScaleEvent[],
  scaleDownEvents: TimestampedScaleEvent[],
  rules: ResolvedScalingRules,
  nowMs: number,
): number {
  if (rules.selectPolicy === 'Disabled') return currentReplicas;
  const pick = rules.selectPolicy === 'Min' ? Math.min : Math.max;
  let result = rules.selectPolicy === 'Min' ? MAX_INT32 : MIN_INT32;
  for (const policy of rules.policies) {
    const start = periodStartReplicas(currentReplicas, policy.periodSeconds, scaleUpEvents, scaleDownEvents, nowMs);
    const proposed = policy.type === 'Pods' ? start + policy.value : Math.ceil(start * (1 + policy.value / 100));
    result = pick(result, proposed);
  }
  return result;
}

/** The lowest replica count the scale-down policies allow now, given the recent scale events. */
export function calculateScaleDownLimitWithBehaviors(
  currentReplicas: number,
  scaleUpEvents: TimestampedScaleEvent[],
  scaleDownEvents: TimestampedScaleEvent[],
  rules: ResolvedScalingRules,
  nowMs: number,
): number {
  if (rules.selectPolicy === 'Disabled') return currentReplicas;
  const pick = rules.selectPolicy === 'Min' ? Math.max : Math.min;
  let result = rules.selectPolicy === 'Min' ? MIN_INT32 : MAX_INT32;
  for (const policy of rules.policies) {
    const start = periodStartReplicas(currentReplicas, policy.periodSeconds, scaleUpEvents, scaleDownEvents, nowMs);
    const proposed = policy.type === 'Pods' ? start - policy.value : Math.trunc(start * (1 - policy.value / 100));
    result = pick(result, proposed);
  }
  return result;
}

/** Applies the behavior's rate limits and min/max bounds (convertDesiredReplicasWithBehaviorRate). */
export function convertDesiredReplicasWithBehaviorRate(
  args: NormalizationArg,
  scaleUpEvents: TimestampedScaleEvent[],
  scaleDownEvents: TimestampedScaleEvent[],
  nowMs: number,
): Normalized {
  if (args.desiredReplicas > args.currentReplicas) {
    const rate = calculateScaleUpLimitWithScalingRules(args.currentReplicas, scaleUpEvents, scaleDownEvents, args.scaleUpBehavior, nowMs);
    const limit = Math.max(rate, args.currentReplicas);
    const capped: Normalized =
      args.maxReplicas > limit
        ? { replicas: limit, reason: 'ScaleUpLimit', message: 'the desired replica count is increasing faster than the maximum scale rate' }
        : { replicas: args.maxReplicas, reason: 'TooManyReplicas', message: 'the desired replica count is more than the maximum replica count' };
    if (args.desiredReplicas > capped.replicas) return capped;
  } else if (args.desiredReplicas < args.currentReplicas) {
    const rate = calculateScaleDownLimitWithBehaviors(args.currentReplicas, scaleUpEvents, scaleDownEvents, args.scaleDownBehavior, nowMs);
    const limit = Math.min(rate, args.currentReplicas);
    const floored: Normalized =
      args.minReplicas < limit
        ? { replicas: limit, reason: 'ScaleDownLimit', message: 'the desired replica count is decreasing faster than the maximum scale rate' }
        : { replicas: args.minReplicas, reason: 'TooFewReplicas', message: 'the desired replica count is less than the minimum replica count' };
    if (args.desiredReplicas < floored.replicas) return floored;
  }
  return { replicas: args.desiredReplicas, reason: 'DesiredWithinRange', message: 'the desired count is within the acceptable range' };
}

/** Marks events older than the longest policy period as reusable (returns a new list). */
export function markScaleEventsOutdated(events: TimestampedScaleEvent[], longestPolicyPeriodSeconds: number, nowMs: number): TimestampedScaleEvent[] {
  const cutoff = nowMs - longestPolicyPeriodSeconds * 1000;
  return events.map((e) => (e.timestamp < cutoff ? { ...e, outdated: true } : { ...e }));
}

/**
 * Records a rescale for the behavior's period windows: the change goes to the scale-up or scale-down list,
 * replacing the last outdated event or appended. Without a behavior nothing is stored, as upstream.
 */
export function storeScaleEvent(
  behavior: ResolvedBehavior | undefined,
  scaleUpEvents: TimestampedScaleEvent[],
  scaleDownEvents: TimestampedScaleEvent[],
  prevReplicas: number,
  newReplicas: number,
  nowMs: number,
): { scaleUpEvents: TimestampedScaleEvent[]; scaleDownEvents: TimestampedScaleEvent[] } {
  if (!behavior) return { scaleUpEvents, scaleDownEvents };
  const up = newReplicas > prevReplicas;
  const rules = up ? behavior.scaleUp : behavior.scaleDown;
  const longest = rules.policies.reduce((m, p) => Math.max(m, p.periodSeconds), 0);
  const events = markScaleEventsOutdated(up ? scaleUpEvents : scaleDownEvents, longest, nowMs);
  const event = { replicaChange: Math.abs(newReplicas - prevReplicas), timestamp: nowMs, outdated: false };
  const oldIndex = events.map((e) => e.outdated).lastIndexOf(true);
  if (oldIndex >= 0) events[oldIndex] = event;
  else events.push(event);
  return up ? { scaleUpEvents: events, scaleDownEvents } : { scaleUpEvents, scaleDownEvents: events };
}

// ---------------------------------------------------------------------------------------------------------
// Conditions, events, reconcile

/** Sets a condition in a new list; lastTransitionTime moves only when the status changes. */
export function setCondition(
  conditions: HpaCondition[],
  type: HpaConditionType,
  status: 'True' | 'False',
  reason: string,
  message: string,
  nowMs: number,
): HpaCondition[] {
  const existing = conditions.find((c) => c.type === type);
  const next: HpaCondition = {
    type,
    status,
    reason,
    message,
    lastTransitionTime: existing && existing.status === status ? existing.lastTransitionTime : nowMs,
  };
  return existing ? conditions.map((c) => (c.type === type ? next : c)) : [...conditions, next];
}

/** The SuccessfulRescale event message, exactly as the controller writes it. */
export function formatRescaleMessage(newSize: number, reason: string): string {
  return `New size: ${newSize}; reason: ${reason}`;
}

/** A state for an HPA that has never been reconciled. */
export function newHpaState(): HpaState {
  return { recommendations: null, scaleUpEvents: [], scaleDownEvents: [], conditions: [] };
}

/** One metric's proposal, or the ScalingActive condition and error explaining why there is none. */
type MetricOutcome =
  | { ok: true; replicas: number; metricName: string; status: MetricStatus }
  | { ok: false; error: string; reason: string; cause: string };

interface MetricContext {
  obs: HpaObservation;
  specReplicas: number;
  statusReplicas: number;
  tolerances: Tolerances;
  settings: CalcSettings;
}

function failed(reason: string, cause: string, wrapped: string): MetricOutcome {
  return { ok: false, reason, cause, error: wrapped };
}

/** The value status of a Resource or ContainerResource metric, or why there is none (computeStatusForResourceMetricGeneric). */
function resourceStatus(
  target: MetricTarget,
  name: ResourceName,
  container: string | undefined,
  ctx: MetricContext,
): CalcResult<{ replicas: number; metricName: string; current: { averageValue: number; averageUtilization?: number } }> {
  const { obs, specReplicas, tolerances, settings } = ctx;
  if (target.averageValue !== undefined) {
    const r = getRawResourceReplicas(obs, specReplicas, resourceMilli(name, target.averageValue), name, tolerances, settings, container);
    if (!r.ok) return { ok: false, error: `failed to get ${name} usage: ${r.error}` };
    return { ok: true, replicas: r.replicas, metricName: `${name} resource`, current: { averageValue: fromMilli(name, r.usage) } };
  }
  if (target.averageUtilization === undefined) {
    return { ok: false, error: 'invalid resource metric source: neither an average utilization target nor an average value (usage) target was set' };
  }
  const r = getResourceReplicas(obs, specReplicas, target.averageUtilization, name, tolerances, settings, container);
  if (!r.ok) return { ok: false, error: `failed to get ${name} utilization: ${r.error}` };
  return {
    ok: true,
    replicas: r.replicas,
    metricName: `${name} ${container === undefined ? '' : 'container '}resource utilization (percentage of request)`,
    current: { averageUtilization: r.utilization, averageValue: fromMilli(name, r.rawUtilization) },
  };
}

function computeReplicasForMetric(spec: MetricSpec, ctx: MetricContext): MetricOutcome {
  const { obs, specReplicas, statusReplicas, tolerances, settings } = ctx;
  switch (spec.type) {
    case 'Resource': {
      const { name, target } = spec.resource;
      const r = resourceStatus(target, name, undefined, ctx);
      if (!r.ok) return failed('FailedGetResourceMetric', r.error, `failed to get ${name} resource metric value: ${r.error}`);
      return { ok: true, replicas: r.replicas, metricName: r.metricName, status: { type: 'Resource', resource: { name, current: r.current } } };
    }
    case 'ContainerResource': {
      const { name, container, target } = spec.containerResource;
      const r = resourceStatus(target, name, container, ctx);
      if (!r.ok) return failed('FailedGetContainerResourceMetric', r.error, `failed to get ${container} container metric value: ${r.error}`);
      return { ok: true, replicas: r.replicas, metricName: r.metricName, status: { type: 'ContainerResource', containerResource: { name, container, current: r.current } } };
    }
    case 'Pods': {
      const { metric, target } = spec.pods;
      const wrap = (err: string) => failed('FailedGetPodsMetric', err, `failed to get pods metric value: ${err}`);
      if (target.averageValue === undefined) return wrap('invalid pods metric source: an average value target was not set');
      const r = getMetricReplicas(obs, specReplicas, milliValue(target.averageValue), metric.name, tolerances, settings);
      if (!r.ok) return wrap(r.error);
      return {
        ok: true,
        replicas: r.replicas,
        metricName: `pods metric ${metric.name}`,
        status: { type: 'Pods', pods: { metric: { name: metric.name }, current: { averageValue: fromMilli(undefined, r.usage) } } },
      };
    }
    case 'Object': {
      const { describedObject, metric, target } = spec.object;
      const wrap = (err: string) => failed('FailedGetObjectMetric', err, `failed to get object metric value: ${err}`);
      if (target.type === 'Value' && target.value !== undefined) {
        const r = getObjectMetricReplicas(obs, specReplicas, milliValue(target.value), metric.name, describedObject, tolerances);
        if (!r.ok) return wrap(r.error);
        return {
          ok: true,
          replicas: r.replicas,
          metricName: `${describedObject.kind} metric ${metric.name}`,
          status: { type: 'Object', object: { describedObject: { ...describedObject }, metric: { name: metric.name }, current: { value: fromMilli(undefined, r.usage) } } },
        };
      }
      if (target.type === 'AverageValue' && target.averageValue !== undefined) {
        const r = getObjectPerPodMetricReplicas(obs, statusReplicas, milliValue(target.averageValue), metric.name, describedObject, tolerances);
        if (!r.ok) {
          return failed('FailedGetObjectMetric', r.error, `failed to get object metric value: failed to get ${metric.name} object metric: ${r.error}`);
        }
        return {
          ok: true,
          replicas: r.replicas,
          metricName: `external metric ${metric.name}(nil)`,
          status: { type: 'Object', object: { metric: { name: metric.name }, current: { averageValue: fromMilli(undefined, r.usage) } } },
        };
      }
      return wrap('invalid object metric source: neither a value target nor an average value target was set');
    }
    case 'External': {
      const { metric, target } = spec.external;
      const id = { name: metric.name, ...(metric.selector ? { selector: metric.selector } : {}) };
      const metricName = `external metric ${metric.name}(${formatSelector(metric.selector)})`;
      const wrap = (cause: string, err: string) => failed('FailedGetExternalMetric', cause, `failed to get ${metric.name} external metric value: ${err}`);
      if (target.averageValue !== undefined) {
        const r = getExternalPerPodMetricReplicas(obs, statusReplicas, milliValue(target.averageValue), metric.name, metric.selector, tolerances);
        if (!r.ok) return wrap(r.error, `failed to get ${metric.name} external metric: ${r.error}`);
        return { ok: true, replicas: r.replicas, metricName, status: { type: 'External', external: { metric: id, current: { averageValue: fromMilli(undefined, r.usage) } } } };
      }
      if (target.value !== undefined) {
        const r = getExternalMetricReplicas(obs, specReplicas, milliValue(target.value), metric.name, metric.selector, tolerances);
        if (!r.ok) return wrap(r.error, `failed to get external metric ${metric.name}: ${r.error}`);
        return { ok: true, replicas: r.replicas, metricName, status: { type: 'External', external: { metric: id, current: { value: fromMilli(undefined, r.usage) } } } };
      }
      const err = 'invalid external metric source: neither a value target nor an average value target was set';
      return wrap(err, err);
    }
    default: {
      const err = `unknown metric source type ${JSON.stringify((spec as { type: unknown }).type)}`;
      return failed('InvalidMetricSourceType', err, err);
    }
  }
}

/** Per-direction tolerances: the behavior's own (Kubernetes 1.33+) or the controller's. */
export function tolerancesFor(behavior: HpaBehavior | undefined, config: HpaControllerConfig = DEFAULT_CONTROLLER_CONFIG): Tolerances {
  const of = (rules: HpaScalingRules | undefined) => (rules?.tolerance !== undefined ? toleranceValue(rules.tolerance) : config.tolerance);
  return { scaleUp: of(behavior?.scaleUp), scaleDown: of(behavior?.scaleDown) };
}

/**
 * One sync of the HPA controller (reconcileAutoscaler) as a pure step: given the spec, the state carried
 * from the previous sync, what is observed now and the time, returns the size to set, the next state, the
 * Kubernetes events and status conditions the controller would write, and the current metric values.
 */
export function reconcile(
  spec: HpaSpec,
  state: HpaState,
  observation: HpaObservation,
  nowMs: number,
  config: Partial<HpaControllerConfig> = {},
): ReconcileResult {
  const cfg: HpaControllerConfig = { ...DEFAULT_CONTROLLER_CONFIG, ...stripUndefined(config) };
  const hpa = defaultHpaSpec(spec);
  const currentReplicas = observation.currentReplicas;
  const minReplicas = hpa.minReplicas;
  const behavior = resolveBehavior(hpa.behavior, cfg);
  const events: HpaEvent[] = [];
  const warn = (reason: string, message: string) => events.push({ type: 'Warning', reason, message, time: nowMs });
  let conditions = setCondition(state.conditions, 'AbleToScale', 'True', 'SucceededGetScale', "the HPA controller was able to get the target's current scale", nowMs);
  let recommendations = state.recommendations ?? [{ recommendation: currentReplicas, timestamp: nowMs }];
  let metricStatuses: (MetricStatus | null)[] = [];
  let desiredReplicas = 0;
  let rescaleReason = '';
  let rescale = true;
  let error: string | undefined;

  if (currentReplicas === 0 && minReplicas !== 0) {
    rescale = false;
    conditions = setCondition(conditions, 'ScalingActive', 'False', 'ScalingDisabled', 'scaling is disabled since the replica count of the target is zero', nowMs);
  } else if (currentReplicas > hpa.maxReplicas) {
    rescaleReason = 'Current number of replicas above Spec.MaxReplicas';
    desiredReplicas = hpa.maxReplicas;
  } else if (currentReplicas < minReplicas) {
    rescaleReason = 'Current number of replicas below Spec.MinReplicas';
    desiredReplicas = minReplicas;
  } else {
    const ctx: MetricContext = {
      obs: observation,
      specReplicas: currentReplicas,
      statusReplicas: observation.statusReplicas ?? currentReplicas,
      tolerances: tolerancesFor(hpa.behavior, cfg),
      settings: { nowMs, cpuInitializationPeriodMs: cfg.cpuInitializationPeriodMs, delayOfInitialReadinessStatusMs: cfg.delayOfInitialReadinessStatusMs },
    };
    let metricDesired = 0;
    let metricName = '';
    let invalidCount = 0;
    let firstInvalid: Extract<MetricOutcome, { ok: false }> | undefined;
    metricStatuses = hpa.metrics.map((m) => {
      const outcome = computeReplicasForMetric(m, ctx);
      if (!outcome.ok) {
        warn(outcome.reason, outcome.cause);
        if (invalidCount++ === 0) firstInvalid = outcome;
        return null;
      }
      if (metricDesired === 0 || outcome.replicas > metricDesired) {
        metricDesired = outcome.replicas;
        metricName = outcome.metricName;
      }
      return outcome.status;
    });
    if (firstInvalid) error = `invalid metrics (${invalidCount} invalid out of ${hpa.metrics.length}), first error is: ${firstInvalid.error}`;
    if (firstInvalid && (invalidCount >= hpa.metrics.length || metricDesired < currentReplicas)) {
      const message = `the HPA was unable to compute the replica count: ${firstInvalid.cause}`;
      conditions = setCondition(conditions, 'ScalingActive', 'False', firstInvalid.reason, message, nowMs);
      warn('FailedComputeMetricsReplicas', error!);
      const ref = `${hpa.scaleTargetRef.kind}/${hpa.scaleTargetRef.name}`;
      return {
        desiredReplicas: currentReplicas,
        rescale: false,
        state: { ...state, recommendations, conditions },
        events,
        conditions,
        metricStatuses,
        error: `failed to compute desired number of replicas based on listed metrics for ${ref}: ${error}`,
      };
    }
    conditions = setCondition(conditions, 'ScalingActive', 'True', 'ValidMetricFound', `the HPA was able to successfully calculate a replica count from ${metricName}`, nowMs);

    let rescaleMetric = '';
    if (metricDesired > desiredReplicas) {
      desiredReplicas = metricDesired;
      rescaleMetric = metricName;
    }
    if (desiredReplicas > currentReplicas) rescaleReason = `${rescaleMetric} above target`;
    if (desiredReplicas < currentReplicas) rescaleReason = 'All metrics below target';

    let stabilized: Normalized;
    let limited: Normalized;
    if (!behavior) {
      const s = stabilizeRecommendation(recommendations, desiredReplicas, cfg.downscaleStabilizationWindowMs, nowMs);
      recommendations = s.recommendations;
      stabilized =
        s.recommendation !== desiredReplicas
          ? { replicas: s.recommendation, reason: 'ScaleDownStabilized', message: 'recent recommendations were higher than current one, applying the highest recent recommendation' }
          : { replicas: s.recommendation, reason: 'ReadyForNewScale', message: 'recommended size matches current size' };
      limited = convertDesiredReplicasWithRules(currentReplicas, s.recommendation, minReplicas, hpa.maxReplicas, cfg);
    } else {
      const args: NormalizationArg = {
        scaleUpBehavior: behavior.scaleUp,
        scaleDownBehavior: behavior.scaleDown,
        minReplicas,
        maxReplicas: hpa.maxReplicas,
        currentReplicas,
        desiredReplicas,
      };
      const s = stabilizeRecommendationWithBehaviors(args, recommendations, nowMs);
      recommendations = s.recommendations;
      stabilized = s.replicas !== desiredReplicas ? s : { replicas: s.replicas, reason: 'ReadyForNewScale', message: 'recommended size matches current size' };
      limited = convertDesiredReplicasWithBehaviorRate({ ...args, desiredReplicas: s.replicas }, state.scaleUpEvents, state.scaleDownEvents, nowMs);
    }
    conditions = setCondition(conditions, 'AbleToScale', 'True', stabilized.reason, stabilized.message, nowMs);
    conditions = setCondition(conditions, 'ScalingLimited', limited.replicas === stabilized.replicas ? 'False' : 'True', limited.reason, limited.message, nowMs);
    desiredReplicas = limited.replicas;
    rescale = desiredReplicas !== currentReplicas;
  }

  let { scaleUpEvents, scaleDownEvents, lastScaleTime } = state;
  if (rescale) {
    conditions = setCondition(conditions, 'AbleToScale', 'True', 'SucceededRescale', `the HPA controller was able to update the target scale to ${desiredReplicas}`, nowMs);
    events.push({ type: 'Normal', reason: 'SuccessfulRescale', message: formatRescaleMessage(desiredReplicas, rescaleReason), time: nowMs });
    ({ scaleUpEvents, scaleDownEvents } = storeScaleEvent(behavior, scaleUpEvents, scaleDownEvents, currentReplicas, desiredReplicas, nowMs));
    lastScaleTime = nowMs;
  } else {
    desiredReplicas = currentReplicas;
  }
  return {
    desiredReplicas,
    rescale,
    state: { recommendations, scaleUpEvents, scaleDownEvents, conditions, ...(lastScaleTime !== undefined ? { lastScaleTime } : {}) },
    events,
    conditions,
    metricStatuses,
    ...(error !== undefined ? { error } : {}),
  };
}
