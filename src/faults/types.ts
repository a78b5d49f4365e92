// Interfaces of the faults module: what a fault runner is given and what one applied fault is.
// Implementations: runner.ts (schedule, journal, undo), http.ts (the backend's fault endpoint).

import type { FaultablePods, FaultPlan, FaultPod, MetricsOutageTarget, NetFaults, Undo } from '../core/faults.ts';
import type { Sink } from '../core/types.ts';

/** What the run wires into the fault runner; a fault whose part is missing is journalled as fault.skipped. */
export interface FaultParts {
  sink: Sink;
  pods?: FaultablePods;
  net?: NetFaults;
  metrics?: MetricsOutageTarget;
}

/** One applied fault: what it acts on (journalled with fault.start) and how to undo it. */
export interface Applied {
  pods: FaultPod[];
  attrs: Record<string, unknown>;
  undo: Undo;
}

/** Applies one kind of fault to the pods picked for it; rejects (with a message) when it cannot. */
export type Actuator = (f: FaultPlan, pods: FaultPod[], parts: FaultParts) => Promise<Applied>;
