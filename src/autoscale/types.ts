// Types of the HPA v2 computation (hpa/): what the controller observes each sync, the state it carries
// between syncs, and what one reconcile returns. Pure data, JSON-serialisable. The spec is scenario/hpa.ts.

import type { Quantity } from '../core/quantity.ts';
import type { CrossVersionObjectReference, HpaScalingPolicy, LabelSelector, MetricIdentifier, ResourceName, ScalingPolicySelect } from '../scenario/hpa.ts';

/** Scaling rules with every default filled in (what the controller actually applies). */
export interface ResolvedScalingRules {
  stabilizationWindowSeconds: number;
  selectPolicy: ScalingPolicySelect;
  policies: HpaScalingPolicy[];
  tolerance?: number;
}

/** A computation that may fail with a message (upstream returns Go errors; here they are values). */
export type CalcResult<T> = ({ ok: true } & T) | { ok: false; error: string };

/** Pod phases as Kubernetes reports them. */
export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

/**
 * One pod selected by the scale target, as the controller sees it. Times are epoch ms.
 * `ready` absent means the pod has no Ready condition yet; `readyTransitionTime` absent means the time is
 * unknown and reads as the epoch (like Kubernetes' zero time). `startTime` absent means not started.
 * `requests` are pod totals: cpu in millicores, memory in bytes; a missing request for a Resource
 * Utilization metric is an error, as upstream. `containers` (ContainerResource metrics) names the pod's
 * containers with their own requests.
 */
export interface ObservedPod {
  name: string;
  phase: PodPhase;
  ready?: boolean;
  readyTransitionTime?: number;
  startTime?: number;
  deleted?: boolean;
  requests?: { cpu?: number; memory?: number };
  containers?: { name: string; requests?: { cpu?: number; memory?: number } }[];
}

/**
 * One pod's usage from the resource metrics API: cpu in millicores, memory in bytes, sampled over
 * `windowMs` ending at `timestamp` (epoch ms). A resource left out is missing for that pod; `containers`
 * holds the per-container usage a ContainerResource metric reads (a container left out is missing).
 */
export interface PodResourceUsage {
  pod: string;
  cpu?: number;
  memory?: number;
  containers?: { name: string; cpu?: number; memory?: number }[];
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

/** The value of a metric describing an object (Object metrics), at `timestamp` (epoch ms); a quantity, exact. */
export interface ObjectMetricSample {
  describedObject: CrossVersionObjectReference;
  name: string;
  value: Quantity;
  timestamp: number;
}

/**
 * One series of an external metric (External metrics), at `timestamp` (epoch ms). A metric spec reads every
 * series of its name whose selector equals its own (absent and empty are equal); values are summed.
 */
export interface ExternalMetricSample {
  name: string;
  selector?: LabelSelector;
  value: Quantity;
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
  externalMetrics?: ExternalMetricSample[];
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
    }
  | { type: 'ContainerResource'; containerResource: { name: ResourceName; container: string; current: { averageValue: number; averageUtilization?: number } } }
  | { type: 'External'; external: { metric: MetricIdentifier; current: { value?: number; averageValue?: number } } };

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
