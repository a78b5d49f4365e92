import { now } from '../core/clock.ts';
import type { FaultKind, FaultPlan, FaultPod } from '../core/faults.ts';
import { clearHttpFault, setHttpFault } from './http.ts';
import type { Actuator, Applied, FaultParts } from './types.ts';

// The fault runner: each planned fault at its offset from the run start, on the pods it names (or one
// pod of the service for pod-kill and pod-pause, every running pod of it otherwise), undone after its
// duration, and every fault still on undone when the run stops. Journal: fault.start {name, kind,
// target, pods, …settings}, fault.end {name, kind, target, reason: duration | run end | instant},
// fault.skipped {name, kind, target, reason} when its part is missing or it could not be applied.

const needs = (what: string) => new Error(`this run has no ${what}`);

const actuators: Record<FaultKind, Actuator> = {
  'pod-kill': async (f, pods, parts) => {
    if (!parts.pods) throw needs('cluster whose pods can be killed');
    await parts.pods.killPod(f.target.service, pods[0].name);
    return { pods, attrs: {}, undo: async () => {} };
  },
  'pod-pause': async (f, pods, parts) => {
    if (!parts.pods) throw needs('cluster whose pods can be paused');
    return { pods, attrs: {}, undo: await parts.pods.pausePod(f.target.service, pods[0].name) };
  },
  'packet-loss': async (f, pods, parts) => {
    if (!parts.net) throw needs('kernel traffic control (eBPF TC)');
    return { pods, attrs: { probability: f.probability }, undo: await parts.net.drop(veths(pods), f.probability!) };
  },
  partition: async (f, pods, parts) => {
    if (!parts.net || !parts.pods) throw needs('kernel traffic control (eBPF TC) on netns pods');
    const peers = parts.pods.faultPods(f.peer!).map((p) => p.ip);
    return { pods, attrs: { peer: f.peer, peerIps: peers }, undo: await parts.net.drop(veths(pods), 1, peers) };
  },
  bandwidth: async (f, pods, parts) => {
    if (!parts.net) throw needs('kernel traffic control (tbf)');
    // both ways: the host end's egress carries what the pod is sent, the pod's own end what it sends
    const links = veths(pods).map((dev) => ({ dev }));
    for (const p of pods) if (p.inside) links.push(p.inside);
    return { pods, attrs: { rateBitsPerSecond: f.rateBitsPerSecond }, undo: await parts.net.bandwidth(links, f.rateBitsPerSecond!) };
  },
  'http-errors': async (f, pods) => {
    reachable(pods);
    await setHttpFault(pods, { errors: { share: f.share!, status: f.status! } });
    return { pods, attrs: { share: f.share, status: f.status }, undo: () => clearHttpFault(pods) };
  },
  'http-delay': async (f, pods) => {
    reachable(pods);
    await setHttpFault(pods, { delay: { ms: f.delayMs!, jitterMs: f.jitterMs ?? 0 } });
    return { pods, attrs: { delayMs: f.delayMs, jitterMs: f.jitterMs ?? 0 }, undo: () => clearHttpFault(pods) };
  },
  'metrics-outage': async (_f, pods, parts) => {
    if (!parts.metrics) throw needs("autoscaler whose metrics loadscope serves (the local controller, or the test control plane's metrics APIs)");
    const m = parts.metrics;
    m.setMetricsOutage(true);
    return { pods, attrs: {}, undo: async () => m.setMetricsOutage(false) };
  },
};

function veths(pods: FaultPod[]): string[] {
  const out = pods.flatMap((p) => (p.veth ? [p.veth] : []));
  if (!out.length) throw new Error('its pods have no interface of their own on this machine (loopback processes, or pods on another machine\'s node): traffic faults need the local cluster or the test control plane');
  return out;
}

/** The fault endpoint is called only on pods the harness may reach (a cluster elsewhere gives no url). */
function reachable(pods: FaultPod[]): void {
  const far = pods.filter((p) => !p.url).map((p) => p.name);
  if (far.length) throw new Error(`the fault endpoint of ${far.join(', ')} is not on this machine: http faults need the local cluster or the test control plane`);
}

/** `service` or `service/pod`, as the scenario writes a target. */
export function targetText(f: FaultPlan): string {
  return f.target.pod ? `${f.target.service}/${f.target.pod}` : f.target.service;
}

/** Schedules the faults of a run. start() once the run's time base is set; stop() undoes what is still on. */
export class FaultRunner {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly active = new Map<FaultPlan, Applied>();
  private readonly pending = new Set<Promise<void>>();
  private stopped = false;

  constructor(private readonly plans: readonly FaultPlan[], private readonly parts: FaultParts) {}

  /** Arms one timer per fault at runStart + atMs. */
  start(runStart: number): void {
    for (const f of this.plans) this.later(runStart + f.atMs, () => this.apply(f));
  }

  /** Faults applied and not yet undone. */
  get activeCount(): number {
    return this.active.size;
  }

  /** No more faults start; every active one is undone (fault.end reason "run end"). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    while (this.pending.size) await Promise.allSettled([...this.pending]);
    await Promise.all([...this.active.keys()].map((f) => this.end(f, 'run end')));
  }

  private later(at: number, fn: () => Promise<void>): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (this.stopped) return;
      const p = fn().finally(() => this.pending.delete(p));
      this.pending.add(p);
    }, Math.max(0, at - now()));
    this.timers.add(t);
  }

  private pick(f: FaultPlan): FaultPod[] {
    if (f.kind === 'metrics-outage') return []; // it acts on the autoscaler, not on pods
    const all = this.parts.pods?.faultPods(f.target.service) ?? [];
    if (f.target.pod) return all.filter((p) => p.name === f.target.pod);
    return f.kind === 'pod-kill' || f.kind === 'pod-pause' ? all.slice(0, 1) : all;
  }

  private async apply(f: FaultPlan): Promise<void> {
    const base = { name: f.name, kind: f.kind, target: targetText(f) };
    const sink = this.parts.sink;
    const pods = this.pick(f);
    const skip = (reason: string) => sink.event({ kind: 'fault.skipped', time: now(), source: 'faults', attrs: { ...base, reason, message: `fault ${f.name} (${f.kind} on ${base.target}) skipped: ${reason}` } });
    if (!pods.length && f.kind !== 'metrics-outage') return skip(f.target.pod ? `pod ${f.target.pod} is not running` : `no running pod of ${f.target.service}`);
    const t = now();
    let applied: Applied;
    try {
      applied = await actuators[f.kind](f, pods, this.parts);
    } catch (err) {
      return skip((err as Error).message);
    }
    const names = applied.pods.map((p) => p.name);
    sink.event({
      kind: 'fault.start',
      time: t,
      source: 'faults',
      attrs: { ...base, pods: names, ...applied.attrs, ...(f.durationMs !== undefined ? { durationMs: f.durationMs } : {}), message: `fault ${f.name}: ${f.kind} on ${names.length ? names.join(', ') : base.target}${describe(f)}` },
    });
    if (f.kind === 'pod-kill') {
      sink.event({ kind: 'fault.end', time: t, source: 'faults', attrs: { ...base, reason: 'instant', message: `fault ${f.name} done (an instant fault)` } });
      return;
    }
    this.active.set(f, applied);
    if (this.stopped) return this.end(f, 'run end');
    this.later(t + f.durationMs!, () => this.end(f, 'duration'));
  }

  private async end(f: FaultPlan, reason: 'duration' | 'run end'): Promise<void> {
    const a = this.active.get(f);
    if (!a) return;
    this.active.delete(f);
    await a.undo().catch(() => undefined);
    this.parts.sink.event({ kind: 'fault.end', time: now(), source: 'faults', attrs: { name: f.name, kind: f.kind, target: targetText(f), reason, message: `fault ${f.name} (${f.kind}) undone (${reason})` } });
  }
}

function describe(f: FaultPlan): string {
  switch (f.kind) {
    case 'packet-loss':
      return `, ${(f.probability! * 100).toFixed(2).replace(/\.?0+$/, '')}% of packets dropped`;
    case 'bandwidth':
      return `, capped at ${f.rateBitsPerSecond} bit/s`;
    case 'partition':
      return `, cut off from ${f.peer}`;
    case 'http-errors':
      return `, ${(f.share! * 100).toFixed(2).replace(/\.?0+$/, '')}% answered ${f.status}`;
    case 'http-delay':
      return `, +${f.delayMs} ms (jitter ${f.jitterMs ?? 0} ms)`;
    default:
      return '';
  }
}
