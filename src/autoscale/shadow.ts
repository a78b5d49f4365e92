// The local HPA port in shadow beside a real HPA controller: at each of the real controller's syncs it is
// given what the real one observed (the same metric values, the same pods, the same current size) and
// computes its own desired size with the port's reconcile, without scaling anything. Each decision is
// journalled (hpa.shadow) with the real one's, so a run on a real cluster cross-checks the port.
import type { Sink } from '../core/types.ts';
import type { HpaSpec } from '../scenario/hpa.ts';
import { newHpaState, reconcile } from './hpa/horizontal.ts';
import type { HpaControllerConfig, HpaObservation, HpaState } from './types.ts';

/** One sync of the real controller, as the shadow is given it. */
export interface ShadowInput {
  /** The sync's time: when the real controller made its first metrics call, epoch ms on the wall clock (Date.now()), as the API's timestamps the observation holds. */
  time: number;
  /** The same moment on the run's time base (core/clock now()), the hpa.shadow event's time; `time` when absent. */
  at?: number;
  observation: HpaObservation;
  /** The real controller's decision at this sync (its status right after: desiredReplicas). */
  realDesired: number;
  /** Why the sync is not compared (the shadow still runs, to keep its state in step), or undefined. */
  incomplete?: string;
}

/** One shadow decision. */
export interface ShadowDecision {
  time: number;
  real: number;
  shadow: number;
  compared: boolean;
}

/** results.json `autoscaling.shadow`. */
export interface ShadowSummary {
  /** Syncs of the real controller the shadow saw. */
  syncs: number;
  /** Syncs where both had every metric of the spec (the ones compared). */
  compared: number;
  agreements: number;
  disagreements: { time: number; real: number; shadow: number; metrics: unknown }[];
}

/**
 * The port's reconcile, carried from sync to sync like the real controller's state. The shadow's state
 * follows the real controller's decisions (a recommendation and scale event are those of the real size),
 * so one disagreement does not make every later sync differ.
 */
export class ShadowHpa {
  private state: HpaState = newHpaState();
  private last?: number;

  constructor(
    private readonly spec: HpaSpec,
    private readonly sink: Sink,
    private readonly name: string,
    private readonly config: Partial<HpaControllerConfig> = {},
  ) {}

  sync(s: ShadowInput): ShadowDecision {
    const result = reconcile(this.spec, this.state, s.observation, s.time, this.config);
    const shadow = result.desiredReplicas;
    // step with the real controller: its rescale (not the shadow's) is what the policies count next
    this.state = shadow === s.realDesired ? result.state : this.alignTo(result.state, s.realDesired, s.observation.currentReplicas, s.time);
    const compared = s.incomplete === undefined;
    const at = s.at ?? s.time;
    this.sink.event({
      kind: 'hpa.shadow',
      time: at,
      source: 'loadscope-shadow-hpa',
      attrs: {
        hpa: this.name,
        currentReplicas: s.observation.currentReplicas,
        real: s.realDesired,
        shadow,
        compared,
        agree: shadow === s.realDesired,
        ...(s.incomplete ? { incomplete: s.incomplete } : {}),
        observation: s.observation,
        metrics: result.metricStatuses,
        message: `shadow HPA ${this.name}: real ${s.observation.currentReplicas}→${s.realDesired}, port ${s.observation.currentReplicas}→${shadow}${compared ? (shadow === s.realDesired ? ' (agree)' : ' (DISAGREE)') : ` (not compared: ${s.incomplete})`}`,
      },
    });
    this.last = s.realDesired;
    return { time: at, real: s.realDesired, shadow, compared };
  }

  /**
   * The state after a sync whose decision was the real controller's `real`: its scale event replaces the
   * shadow's (the recommendations, computed from the same metrics, stay the shadow's own).
   */
  private alignTo(state: HpaState, real: number, current: number, t: number): HpaState {
    const drop = (events: HpaState['scaleUpEvents']) => events.filter((e) => e.timestamp !== t);
    const up = drop(state.scaleUpEvents);
    const down = drop(state.scaleDownEvents);
    if (real > current) up.push({ replicaChange: real - current, timestamp: t, outdated: false });
    if (real < current) down.push({ replicaChange: current - real, timestamp: t, outdated: false });
    const { lastScaleTime: _, ...rest } = state;
    const lastScaleTime = real !== current ? t : this.state.lastScaleTime;
    return { ...rest, scaleUpEvents: up, scaleDownEvents: down, ...(lastScaleTime !== undefined ? { lastScaleTime } : {}) };
  }

  /** The real controller's last decision the shadow saw. */
  get lastReal(): number | undefined {
    return this.last;
  }
}

/** The summary of a run's hpa.shadow events. */
export function summarizeShadow(events: { time: number; attrs: Record<string, unknown> }[], t0: number): ShadowSummary {
  const compared = events.filter((e) => e.attrs.compared === true);
  const dis = compared.filter((e) => e.attrs.agree !== true);
  return {
    syncs: events.length,
    compared: compared.length,
    agreements: compared.length - dis.length,
    disagreements: dis.map((e) => ({
      time: Math.round(e.time - t0) / 1000,
      real: Number(e.attrs.real),
      shadow: Number(e.attrs.shadow),
      metrics: e.attrs.metrics,
    })),
  };
}
