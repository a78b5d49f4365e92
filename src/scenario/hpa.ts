// The autoscaling/v2 HorizontalPodAutoscaler spec as a scenario writes it (the `autoscaler:` section): its
// types, the API server's defaults (SetDefaults_HorizontalPodAutoscaler) and its validation
// (pkg/apis/autoscaling/validation). The computation that acts on it lives in src/autoscale/hpa/.

import { cpuMillicores, memoryBytes, milliValue, parseQuantity, type Quantity } from '../core/quantity.ts';

/** Names the object a metric describes or the HPA scales (autoscaling/v2 CrossVersionObjectReference). */
export interface CrossVersionObjectReference {
  apiVersion?: string;
  kind: string;
  name: string;
}

/** The resources a Resource metric can target. */
export type ResourceName = 'cpu' | 'memory';

/** Target kinds of autoscaling/v2 MetricTarget. */
export type MetricTargetType = 'Utilization' | 'Value' | 'AverageValue';

/**
 * autoscaling/v2 MetricTarget as written in YAML: `type` names the kind; only the field of that kind is read
 * (averageUtilization is a percentage of the pods' requests, an integer > 0).
 */
export interface MetricTarget {
  type: MetricTargetType;
  value?: Quantity;
  averageValue?: Quantity;
  averageUtilization?: number;
}

/** A Kubernetes label selector (metav1.LabelSelector). */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/**
 * Names a custom or external metric. Only External metrics read `selector` (it picks the series); Pods and
 * Object metrics are read by name, the observation already holds the selected series.
 */
export interface MetricIdentifier {
  name: string;
  selector?: LabelSelector;
}

/** A Resource metric: cpu or memory of the target's pods, as Utilization (of requests) or AverageValue. */
export interface ResourceMetricSpec {
  type: 'Resource';
  resource: { name: ResourceName; target: MetricTarget };
}

/** A Pods metric: a custom per-pod metric averaged over the pods, target AverageValue. */
export interface PodsMetricSpec {
  type: 'Pods';
  pods: { metric: MetricIdentifier; target: MetricTarget };
}

/** An Object metric: one value describing another object (an Ingress, a queue), target Value or AverageValue. */
export interface ObjectMetricSpec {
  type: 'Object';
  object: { describedObject: CrossVersionObjectReference; metric: MetricIdentifier; target: MetricTarget };
}

/** A ContainerResource metric: cpu or memory of one named container of each pod, Utilization or AverageValue. */
export interface ContainerResourceMetricSpec {
  type: 'ContainerResource';
  containerResource: { name: ResourceName; container: string; target: MetricTarget };
}

/** An External metric: a metric not tied to any Kubernetes object, summed over its series; Value or AverageValue. */
export interface ExternalMetricSpec {
  type: 'External';
  external: { metric: MetricIdentifier; target: MetricTarget };
}

/** One entry of `spec.metrics`. */
export type MetricSpec = ResourceMetricSpec | PodsMetricSpec | ObjectMetricSpec | ContainerResourceMetricSpec | ExternalMetricSpec;

/** How a scaling policy limits change: by a number of pods or by a percentage of the replicas. */
export type HpaScalingPolicyType = 'Pods' | 'Percent';

/** Which policy wins when several apply: the one allowing the largest change (Max), the smallest, or none. */
export type ScalingPolicySelect = 'Max' | 'Min' | 'Disabled';

/** At most `value` pods (or percent) of change within any `periodSeconds` long window. */
export interface HpaScalingPolicy {
  type: HpaScalingPolicyType;
  value: number;
  periodSeconds: number;
}

/**
 * autoscaling/v2 HPAScalingRules for one direction. Unset fields take the upstream defaults (see
 * DEFAULT_SCALE_UP_RULES / DEFAULT_SCALE_DOWN_RULES below). `tolerance` is the per-HPA tolerance of
 * Kubernetes 1.33+ (a ratio, e.g. 0.05); unset means the controller's tolerance.
 */
export interface HpaScalingRules {
  stabilizationWindowSeconds?: number;
  selectPolicy?: ScalingPolicySelect;
  policies?: HpaScalingPolicy[];
  tolerance?: Quantity;
}

/** `spec.behavior`: per-direction scaling rules. Present (even empty) switches to the behavior algorithm. */
export interface HpaBehavior {
  scaleUp?: HpaScalingRules;
  scaleDown?: HpaScalingRules;
}

/**
 * autoscaling/v2 HorizontalPodAutoscaler spec as a user writes it. minReplicas defaults to 1, metrics to
 * cpu Utilization 80%. Without `behavior` the legacy algorithm applies (scale-up capped at
 * max(2 × current, 4), downscale stabilization from the controller's window).
 */
export interface HpaSpec {
  scaleTargetRef: CrossVersionObjectReference;
  minReplicas?: number;
  maxReplicas: number;
  metrics?: MetricSpec[];
  behavior?: HpaBehavior;
}

/** autoscaling/v2 default scale-up rules: no stabilization, max of 4 pods or 100% per 15 s. */
export const DEFAULT_SCALE_UP_RULES: Readonly<HpaScalingRules> = {
  stabilizationWindowSeconds: 0,
  selectPolicy: 'Max',
  policies: [
    { type: 'Pods', value: 4, periodSeconds: 15 },
    { type: 'Percent', value: 100, periodSeconds: 15 },
  ],
};

/** autoscaling/v2 default scale-down rules: 100% per 15 s; the window comes from the controller (300 s). */
export const DEFAULT_SCALE_DOWN_RULES: Readonly<HpaScalingRules> = {
  selectPolicy: 'Max',
  policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
};

/** The minReplicas of an HPA that sets none. */
const DEFAULT_MIN_REPLICAS = 1;

/** The metric an HPA without metrics gets: cpu at 80% of requests. */
export const DEFAULT_METRICS: readonly MetricSpec[] = [
  { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } },
];

/** A behavior's tolerance as a ratio: numbers are taken as they are, strings parsed as quantities ("0.05", "50m"). */
export function toleranceValue(q: Quantity): number {
  return typeof q === 'number' ? q : parseQuantity(q);
}

/** The spec with minReplicas and metrics defaulted, as the API server stores it. */
export function defaultHpaSpec(spec: HpaSpec): HpaSpec & { minReplicas: number; metrics: MetricSpec[] } {
  return {
    ...spec,
    minReplicas: spec.minReplicas ?? DEFAULT_MIN_REPLICAS,
    metrics: spec.metrics && spec.metrics.length > 0 ? spec.metrics : DEFAULT_METRICS.map((m) => structuredClone(m)),
  };
}

/**
 * API-server style checks of a spec (pkg/apis/autoscaling/validation), every problem at once as
 * "path: message". minReplicas 0 is accepted only with an Object or External metric (upstream's HPAScaleToZero
 * rule).
 */
export function validateHpaSpec(spec: HpaSpec): string[] {
  const problems: string[] = [];
  const bad = (path: string, message: string) => problems.push(`${path}: ${message}`);
  const positiveQuantity = (path: string, q: Quantity | undefined, parse: (q: Quantity) => number | bigint) => {
    if (q === undefined) return bad(path, 'must be set');
    try {
      if (!(parse(q) > 0)) bad(path, 'must be positive');
    } catch (err) {
      bad(path, (err as Error).message);
    }
  };
  if (!spec.scaleTargetRef?.kind) bad('scaleTargetRef.kind', 'must be set');
  if (!spec.scaleTargetRef?.name) bad('scaleTargetRef.name', 'must be set');
  const metrics = spec.metrics ?? [];
  const min = spec.minReplicas ?? DEFAULT_MIN_REPLICAS;
  const hasObject = metrics.some((m) => m.type === 'Object' || m.type === 'External');
  if (!Number.isInteger(min) || min < (hasObject ? 0 : 1)) bad('minReplicas', `must be an integer >= ${hasObject ? 0 : 1}`);
  if (!Number.isInteger(spec.maxReplicas) || spec.maxReplicas < 1) bad('maxReplicas', 'must be an integer >= 1');
  else if (spec.maxReplicas < min) bad('maxReplicas', 'must be greater than or equal to minReplicas');
  metrics.forEach((m, i) => {
    const path = `metrics[${i}]`;
    if (m.type === 'Resource' || m.type === 'ContainerResource') {
      const key = m.type === 'Resource' ? 'resource' : 'containerResource';
      const src = m.type === 'Resource' ? m.resource : m.containerResource;
      if (!src) return bad(`${path}.${key}`, 'must populate information for the given metric source');
      const { name, target } = src;
      if (name !== 'cpu' && name !== 'memory') bad(`${path}.${key}.name`, 'must be cpu or memory');
      if (m.type === 'ContainerResource' && !m.containerResource.container) bad(`${path}.${key}.container`, 'must populate container name');
      if (target?.type === 'Utilization') {
        const u = target.averageUtilization;
        if (u === undefined || !Number.isInteger(u) || u <= 0) bad(`${path}.${key}.target.averageUtilization`, 'must be an integer > 0');
      } else if (target?.type === 'AverageValue') {
        positiveQuantity(`${path}.${key}.target.averageValue`, target.averageValue, (q) => (name === 'memory' ? memoryBytes(q) : cpuMillicores(q)));
      } else bad(`${path}.${key}.target.type`, 'must be Utilization or AverageValue');
    } else if (m.type === 'External') {
      if (!m.external) return bad(`${path}.external`, 'must populate information for the given metric source');
      if (!m.external.metric?.name) bad(`${path}.external.metric.name`, 'must specify a metric name');
      const target = m.external.target;
      if (target?.type === 'Value') positiveQuantity(`${path}.external.target.value`, target.value, milliValue);
      else if (target?.type === 'AverageValue') positiveQuantity(`${path}.external.target.averageValue`, target.averageValue, milliValue);
      else bad(`${path}.external.target.type`, 'must be Value or AverageValue');
    } else if (m.type === 'Pods') {
      if (!m.pods?.metric?.name) bad(`${path}.pods.metric.name`, 'must be set');
      if (m.pods?.target?.type !== 'AverageValue') bad(`${path}.pods.target.type`, 'must be AverageValue');
      else positiveQuantity(`${path}.pods.target.averageValue`, m.pods.target.averageValue, milliValue);
    } else if (m.type === 'Object') {
      if (!m.object?.metric?.name) bad(`${path}.object.metric.name`, 'must be set');
      if (!m.object?.describedObject?.kind || !m.object.describedObject.name) bad(`${path}.object.describedObject`, 'kind and name must be set');
      const target = m.object?.target;
      if (target?.type === 'Value') positiveQuantity(`${path}.object.target.value`, target.value, milliValue);
      else if (target?.type === 'AverageValue') positiveQuantity(`${path}.object.target.averageValue`, target.averageValue, milliValue);
      else bad(`${path}.object.target.type`, 'must be Value or AverageValue');
    } else bad(`${path}.type`, `unknown metric source type ${JSON.stringify((m as { type: unknown }).type)}`);
  });
  for (const dir of ['scaleUp', 'scaleDown'] as const) {
    const rules = spec.behavior?.[dir];
    if (!rules) continue;
    const path = `behavior.${dir}`;
    const w = rules.stabilizationWindowSeconds;
    if (w !== undefined && (!Number.isInteger(w) || w < 0 || w > 3600)) bad(`${path}.stabilizationWindowSeconds`, 'must be an integer in 0..3600');
    if (rules.selectPolicy !== undefined && !['Max', 'Min', 'Disabled'].includes(rules.selectPolicy)) {
      bad(`${path}.selectPolicy`, 'must be Max, Min or Disabled');
    }
    if (rules.policies !== undefined && rules.policies.length === 0) bad(`${path}.policies`, 'must specify at least one Policy');
    (rules.policies ?? []).forEach((p, j) => {
      if (p.type !== 'Pods' && p.type !== 'Percent') bad(`${path}.policies[${j}].type`, 'must be Pods or Percent');
      if (!Number.isInteger(p.value) || p.value <= 0) bad(`${path}.policies[${j}].value`, 'must be an integer > 0');
      if (!Number.isInteger(p.periodSeconds) || p.periodSeconds <= 0 || p.periodSeconds > 1800) {
        bad(`${path}.policies[${j}].periodSeconds`, 'must be an integer in 1..1800');
      }
    });
    if (rules.tolerance !== undefined) {
      try {
        if (toleranceValue(rules.tolerance) < 0) bad(`${path}.tolerance`, 'must be >= 0');
      } catch (err) {
        bad(`${path}.tolerance`, (err as Error).message);
      }
    }
  }
  return problems;
}
