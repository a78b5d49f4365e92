// Types of the HPA v2 computation (hpa.ts): the spec as written in YAML, what the controller observes each
// sync, the state it carries between syncs, and what one reconcile returns. Pure data, JSON-serialisable.

/**
 * A Kubernetes quantity: a string in Kubernetes syntax ("500m", "1", "128Mi", "1.5k") or a number. A number
 * means millicores for cpu, bytes for memory, and the plain value for Pods and Object metrics.
 */
export type Quantity = number | string;

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

/** Names a custom metric (selectors are not supported: the observation already holds the selected series). */
export interface MetricIdentifier {
  name: string;
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

/** One entry of `spec.metrics`. */
export type MetricSpec = ResourceMetricSpec | PodsMetricSpec | ObjectMetricSpec;

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
 * DEFAULT_SCALE_UP_RULES / DEFAULT_SCALE_DOWN_RULES in hpa.ts). `tolerance` is the per-HPA tolerance of
 * Kubernetes 1.33+ (a ratio, e.g. 0.05); unset means the controller's tolerance.
 */
export interface HpaScalingRules {
  stabilizationWindowSeconds?: number;
  selectPolicy?: ScalingPolicySelect;
  policies?: HpaScalingPolicy[];
  tolerance?: Quantity;
}

/** Scaling rules with every default filled in (what the controller actually applies). */
export interface ResolvedScalingRules {
  stabilizationWindowSeconds: number;
  selectPolicy: ScalingPolicySelect;
  policies: HpaScalingPolicy[];
  tolerance?: number;
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

/** Pod phases as Kubernetes reports them. */
export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

/**
 * One pod selected by the scale target, as the controller sees it. Times are epoch ms.
 * `ready` absent means the pod has no Ready condition yet; `readyTransitionTime` absent means the time is
 * unknown and reads as the epoch (like Kubernetes' zero time). `startTime` absent means not started.
 * `requests` are pod totals: cpu in millicores, memory in bytes; a missing request for a Resource
 * Utilization metric is an error, as upstream.
 */
export interface ObservedPod {
  name: string;
  phase: PodPhase;
  ready?: boolean;
  readyTransitionTime?: number;
  startTime?: number;
  deleted?: boolean;
  requests?: { cpu?: number; memory?: number };
}

/**
 * One pod's usage from the resource metrics API: cpu in millicores, memory in bytes, sampled over
 * `windowMs` ending at `timestamp` (epoch ms). A resource left out is missing for that pod.
 */
export interface PodResourceUsage {
  pod: string;
  cpu?: number;
  memory?: number;
  timestamp: number;
  windowMs: number;
}

/** One pod's value of a custom metric (Pods metrics), at `timestamp` (epoch ms); window defaults to 60 s. */
export interface PodCustomMetric {
  pod: string;
  name: string;
  value: number;
  timestamp: number;
  windowMs?: number;
}

/** The value of a metric describing an object (Object metrics), at `timestamp` (epoch ms). */
export interface ObjectMetricSample {
  describedObject: CrossVersionObjectReference;
  name: string;
  value: number;
  timestamp: number;
}

/**
 * What the controller sees at one sync. `currentReplicas` is the target's scale.spec.replicas;
 * `statusReplicas` its scale.status.replicas (defaults to currentReplicas; Object AverageValue uses it).
 * Metrics for pods not in `pods` are kept and treated as upstream does (ignored where requests are needed).
 */
export interface HpaObservation {
  currentReplicas: number;
  statusReplicas?: number;
  pods: ObservedPod[];
  resourceMetrics?: PodResourceUsage[];
  podMetrics?: PodCustomMetric[];
  objectMetrics?: ObjectMetricSample[];
}

/** Controller flags (kube-controller-manager's --horizontal-pod-autoscaler-*), with upstream defaults. */
export interface HpaControllerConfig {
  /** Ratio around 1.0 inside which no scaling happens (default 0.1). */
  tolerance: number;
  /** cpu samples of pods younger than this are trusted only when fresh (default 5 min). */
  cpuInitializationPeriodMs: number;
  /** An unready pod that turned unready within this of its start is taken as never ready (default 30 s). */
  delayOfInitialReadinessStatusMs: number;
  /** Downscale stabilization window of the legacy path and the default of behavior.scaleDown (default 5 min). */
  downscaleStabilizationWindowMs: number;
  /** Legacy scale-up cap: max(factor × current, minimum) (defaults 2 and 4). */
  scaleUpLimitFactor: number;
  scaleUpLimitMinimum: number;
}

/** A past unstabilized recommendation, kept for stabilization windows. */
export interface TimestampedRecommendation {
  recommendation: number;
  timestamp: number;
}

/** A past rescale (absolute replica change), kept for the policies' period windows. */
export interface TimestampedScaleEvent {
  replicaChange: number;
  timestamp: number;
  outdated: boolean;
}

/** HPA status condition types. */
export type HpaConditionType = 'AbleToScale' | 'ScalingActive' | 'ScalingLimited';

/** An HPA status condition; lastTransitionTime (epoch ms) moves only when `status` changes. */
export interface HpaCondition {
  type: HpaConditionType;
  status: 'True' | 'False';
  reason: string;
  message: string;
  lastTransitionTime: number;
}

/**
 * What the controller remembers between syncs for one HPA. `recommendations` null means never
 * reconciled: the first sync records the current size as a recommendation, as upstream does.
 */
export interface HpaState {
  recommendations: TimestampedRecommendation[] | null;
  scaleUpEvents: TimestampedScaleEvent[];
  scaleDownEvents: TimestampedScaleEvent[];
  conditions: HpaCondition[];
  lastScaleTime?: number;
}

/**
 * A Kubernetes Event the controller emits: SuccessfulRescale ("New size: N; reason: …") or a Warning such
 * as FailedGetResourceMetric / FailedComputeMetricsReplicas. `time` is the reconcile time (epoch ms).
 */
export interface HpaEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  time: number;
}

/**
 * Current value of one metric, as in status.currentMetrics. Values are in the spec's units: cpu millicores,
 * memory bytes, plain values for Pods/Object metrics. averageUtilization is a percentage of requests.
 */
export type MetricStatus =
  | { type: 'Resource'; resource: { name: ResourceName; current: { averageValue: number; averageUtilization?: number } } }
  | { type: 'Pods'; pods: { metric: MetricIdentifier; current: { averageValue: number } } }
  | {
      type: 'Object';
      object: {
        describedObject?: CrossVersionObjectReference;
        metric: MetricIdentifier;
        current: { value?: number; averageValue?: number };
      };
    };

/**
 * The outcome of one sync. `desiredReplicas` is the size to set (equal to currentReplicas when not
 * rescaling); `metricStatuses` lines up with spec.metrics, null where the metric could not be computed;
 * `error` carries the error upstream's reconcile would return (scaling may still have happened).
 */
export interface ReconcileResult {
  desiredReplicas: number;
  rescale: boolean;
  state: HpaState;
  events: HpaEvent[];
  conditions: HpaCondition[];
  metricStatuses: (MetricStatus | null)[];
  error?: string;
}
