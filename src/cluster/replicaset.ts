import http from 'node:http';
import { now } from '../core/clock.ts';
import { LoadscopeError } from '../core/errors.ts';
import type { Sink } from '../core/types.ts';
import type { PodSnapshot } from '../core/workload.ts';
import type { ServiceCounters } from './cluster.ts';
import type { RunningService, ServiceExit } from './types.ts';

// The replica-set core every cluster shares: per service the desired size and the pod list, each pod's
// state machine (Pending → Running, ready → terminating → Succeeded/Failed), convergence, the order of
// boot (start, ready, join routing), terminate (leave routing, drain, SIGTERM, exit) and restart, and
// the journal's service.scaled, pod.* and routing.* events. A PodDriver does the rest for one kind of pod.

/** One pod as the core tracks it; a driver's pod type extends it with what its kind needs. */
export interface Pod {
  readonly service: string;
  readonly name: string;
  /** The pod's own address, when it has one before it starts (netns pods); journalled with pod.created and pod.ready. */
  readonly ip?: string;
  phase: PodSnapshot['phase'];
  ready: boolean;
  terminating: boolean;
  startTime: number;
  readyTransitionTime?: number;
  terminatingTime?: number;
  /** The pod's process, once it is ready. */
  svc?: RunningService;
  /** The start in progress: settles when the pod is ready and routed, or failed. */
  booting?: Promise<void>;
  error?: unknown;
  /** Set once the driver was told to remove the pod: its resources are gone or going. */
  removed?: boolean;
}

/** What a driver reports of one routing update it applied. */
export interface RouteUpdate {
  /** The routing.update event's own attributes (via, generation, where it routes). */
  attrs: Record<string, unknown>;
  /** Who routes, as the event's message names it ('frontend', 'backend VIP 198.19.3.2:80'). */
  router: string;
  /** An empty table, as the message says it ('no backend', 'no pod'). */
  none: string;
}

/**
 * One kind of pod: how to create, start, route and remove one. The core calls each hook in its order
 * and never twice for one pod: create → start → (route) → draining → finish → remove.
 */
export interface PodDriver<P extends Pod> {
  /** The new pod with the driver's own fields; nothing exists yet. */
  create(pod: Pod): P;
  /** Makes what the pod runs in and starts its process; resolves when it is ready. `signal` cancels the start only. */
  start(pod: P, signal: AbortSignal): Promise<RunningService>;
  /**
   * Points the service's routing at exactly `pods` (ready, not terminating); rejects when the update
   * failed. `drain`: a pod leaves because it terminates, and the router may hold the answer until its
   * requests in flight are done (the loopback frontend does); otherwise (a pod failed, unready, or
   * joining) the update answers as soon as it is in place — nobody waits on a hung pod.
   */
  route(service: string, pods: P[], drain: boolean): Promise<RouteUpdate>;
  /** The pod is out of routing and about to get SIGTERM (the last moment it can be read). */
  draining?(pod: P): Promise<void>;
  /** The pod's final counters, once its process exited. */
  finish(pod: P, exit: ServiceExit): ServiceCounters | undefined;
  /** The pod's counters now (a fresh reading), while it runs. */
  counters(pod: P): Promise<ServiceCounters | undefined>;
  /** Removes what create and start made; `stopping`: the whole cluster goes. */
  remove(pod: P, stopping: boolean): Promise<void>;
  /** Whether the pod died of its memory limit (drivers that enforce limits). */
  oomKilled?(pod: P): boolean;
}

/** A readiness probe as the core runs it: GET /healthz every periodMs, as a kubelet does (docs/cluster.md). */
export interface ReadinessSettings {
  periodMs: number;
  timeoutMs: number;
  /** Consecutive failed probes that take a ready pod out of routing. */
  failureThreshold: number;
  /** Consecutive answered probes that bring an unready pod back. */
  successThreshold: number;
}

/** How the core paces starts and restarts. */
export interface ReplicaSetOptions {
  /** The service's readiness probe; none: a pod is ready from its start until it ends. */
  readiness?: (service: string) => ReadinessSettings | undefined;
  /** Name of the cluster in error messages ('local', 'loopback'). */
  cluster: string;
  /** Pod starts at once; more wait their turn. */
  startsAtOnce: number;
  /** A pod that failed is replaced after this delay, doubling per crash up to maxRestartBackoffMs. */
  restartBackoffMs: number;
  maxRestartBackoffMs: number;
}

interface ReplicaSet<P extends Pod> {
  name: string;
  desired: number;
  ordinal: number;
  pods: P[];
  /** Whether ready pods join routing (false until a router started with the first pods is open). */
  routed: boolean;
  routing: Promise<void>;
  crashes: number;
}

/**
 * The replica sets of one cluster, one per service. Like a Deployment: `scale` accepts a size and
 * pods converge in the background (`settled` waits); a pod joins routing once ready, leaves it before
 * it is signalled, and is replaced when it dies. Pods converge only once `goLive()` was called.
 */
export class ReplicaSets<P extends Pod> {
  private readonly sets = new Map<string, ReplicaSet<P>>();
  private readonly finished: ServiceCounters[] = [];
  private readonly ops = new Set<Promise<void>>();
  private readonly life = new AbortController();
  private startsRunning = 0;
  private startQueue: (() => void)[] = [];
  private started = false;
  private halting = false;

  constructor(
    private readonly driver: PodDriver<P>,
    private readonly sink: Sink,
    private readonly opts: ReplicaSetOptions,
  ) {}

  /** Aborted when the start is cancelled or the sets stop. */
  get signal(): AbortSignal {
    return this.life.signal;
  }

  /** True between goLive() and halt(): scale() may be called. */
  get live(): boolean {
    return this.started && !this.halting;
  }

  /** True once halt() (or stop()) began. */
  get stopping(): boolean {
    return this.halting;
  }

  /** A service of `replicas` pods; `routed` false when its router starts later with the first pods (see open). */
  add(service: string, replicas: number, routed = true): void {
    this.sets.set(service, { name: service, desired: replicas, ordinal: 0, pods: [], routed, routing: Promise.resolve(), crashes: 0 });
  }

  /** Starts the service's initial pods and waits until all are ready; rejects with the first failure. */
  async boot(service: string): Promise<P[]> {
    const set = this.set(service);
    const pods = Array.from({ length: set.desired }, () => this.newPod(set));
    await Promise.all(pods.map((p) => p.booting));
    const failed = pods.find((p) => p.phase === 'Failed');
    if (failed) throw failed.error;
    this.life.signal.throwIfAborted();
    return pods;
  }

  /** Routing goes live for a service whose router was started with its running pods: they turn ready (the caller journals that first table). */
  open(service: string): P[] {
    const set = this.set(service);
    set.routed = true;
    for (const p of set.pods) p.ready = true;
    return [...set.pods];
  }

  /** From now on the sets converge: a scale, a failed start or a dead pod starts or stops pods. */
  goLive(): void {
    this.started = true;
  }

  /** Cancels the pod starts in progress (the run's signal, during the cluster's start). */
  abort(reason: unknown): void {
    this.life.abort(reason);
  }

  replicas(service: string): number {
    return this.set(service).desired;
  }

  /** The service's pods, starting, running or terminating. */
  pods(service: string): P[] {
    return [...this.set(service).pods];
  }

  /** Every pod of every service. */
  all(): P[] {
    return [...this.sets.values()].flatMap((s) => s.pods);
  }

  /** Accepts a size the caller checked, journals service.scaled and converges in the background. */
  scale(service: string, replicas: number): void {
    const set = this.set(service);
    const from = set.desired;
    set.desired = replicas;
    if (from !== replicas) {
      this.sink.event({ kind: 'service.scaled', time: now(), source: 'cluster', attrs: { service, from, to: replicas, message: `Scaled ${service} from ${from} to ${replicas} replicas` } });
    }
    this.converge(set);
  }

  /** Resolves when no pod is starting or terminating (every scale so far has converged). */
  async settled(): Promise<void> {
    while (this.ops.size > 0) await Promise.allSettled([...this.ops]);
  }

  /** Counters of the running pods (read now), then of the pods that are gone. */
  async counters(): Promise<ServiceCounters[]> {
    await this.settled();
    const out: ServiceCounters[] = [];
    for (const p of this.all()) {
      if (!p.svc || p.removed) continue;
      const c = await this.driver.counters(p);
      if (c) out.push(c);
    }
    return [...out, ...this.finished];
  }

  /** No more scaling or restarts; starts in progress are cancelled; resolves when nothing is in flight. */
  async halt(): Promise<void> {
    this.halting = true;
    this.life.abort(new Error('cluster stopping'));
    await this.settled();
  }

  /** halt, then every pod is stopped and removed, service by service in `order` (each service's pods at once). */
  async stop(order: string[]): Promise<void> {
    await this.halt();
    for (const name of order) {
      const set = this.sets.get(name);
      if (!set) continue;
      await Promise.all(set.pods.map(async (p) => this.release(p, p.svc && !p.removed ? await p.svc.stop() : undefined)));
      set.pods = [];
    }
  }

  private set(service: string): ReplicaSet<P> {
    const s = this.sets.get(service);
    if (!s) throw new LoadscopeError('INTERNAL', `the ${this.opts.cluster} cluster has no service "${service}" (${[...this.sets.keys()].join(', ')})`);
    return s;
  }

  /** Starts or stops pods until the live ones (starting or ready, not terminating) match the size. */
  private converge(set: ReplicaSet<P>): void {
    if (!this.live) return;
    const live = set.pods.filter((p) => !p.terminating && p.phase !== 'Failed');
    for (let i = live.length; i < set.desired; i++) this.newPod(set);
    if (live.length > set.desired) {
      // ReplicaSet order: pods not ready first, then the most recently ready.
      const victims = [...live].sort((a, b) => Number(a.ready) - Number(b.ready) || (b.readyTransitionTime ?? b.startTime) - (a.readyTransitionTime ?? a.startTime));
      for (const p of victims.slice(0, live.length - set.desired)) this.track(this.terminate(set, p, 'scale down'));
    }
  }

  private track(op: Promise<void>): void {
    this.ops.add(op);
    void op.finally(() => this.ops.delete(op));
  }

  private newPod(set: ReplicaSet<P>): P {
    const name = `${set.name}-${++set.ordinal}`;
    const pod = this.driver.create({ service: set.name, name, phase: 'Pending', ready: false, terminating: false, startTime: now() });
    set.pods.push(pod);
    const at = pod.ip ? { ip: pod.ip } : {};
    this.sink.event({ kind: 'pod.created', time: pod.startTime, source: 'cluster', attrs: { service: set.name, pod: name, ...at, phase: 'Pending', message: `Created pod ${name}${pod.ip ? ` (${pod.ip})` : ''}` } });
    pod.booting = this.start(set, pod);
    this.track(pod.booting);
    return pod;
  }

  /** The driver starts the pod; once it is ready it joins routing (unless it is already terminating). */
  private async start(set: ReplicaSet<P>, pod: P): Promise<void> {
    try {
      pod.svc = await this.limitStart(() => this.startCancellable(pod));
    } catch (err) {
      pod.phase = 'Failed';
      pod.error = err;
      await this.release(pod);
      set.pods = set.pods.filter((p) => p !== pod);
      if (this.halting) return;
      this.sink.event({ kind: 'pod.failed', time: now(), source: 'cluster', attrs: { service: set.name, pod: pod.name, message: `pod ${pod.name} did not start: ${(err as Error).message.split('\n')[0]}` } });
      if (this.started) this.restartLater(set);
      return;
    }
    const s = pod.svc;
    pod.phase = 'Running';
    pod.readyTransitionTime = now();
    const startupMs = Math.round(pod.readyTransitionTime - pod.startTime);
    this.sink.event({
      kind: 'pod.ready',
      time: pod.readyTransitionTime,
      source: 'cluster',
      attrs: { service: set.name, pod: pod.name, ...(pod.ip ? { ip: pod.ip } : {}), url: s.url, pid: s.pid, startupMs, message: `pod ${pod.name} ready at ${s.url} after ${startupMs} ms` },
    });
    void s.exited.then((e) => this.died(set, pod, e));
    this.probe(set, pod);
    if (pod.terminating || this.halting || !set.routed) return;
    pod.ready = true;
    await this.route(set, `pod ${pod.name} ready`);
  }

  /** The start, cancelled by the sets' signal while it runs; a started pod is stopped by stop() or terminate(), in order. */
  private async startCancellable(pod: P): Promise<RunningService> {
    this.life.signal.throwIfAborted();
    const starting = new AbortController();
    const cancel = () => starting.abort(this.life.signal.reason);
    this.life.signal.addEventListener('abort', cancel, { once: true });
    try {
      return await this.driver.start(pod, starting.signal);
    } finally {
      this.life.signal.removeEventListener('abort', cancel);
    }
  }

  /**
   * The pod's readiness probe until it terminates: failureThreshold failed probes in a row take a ready
   * pod out of routing (pod.unready, reason Unhealthy), successThreshold answered ones bring it back
   * (pod.ready with recovered: true). A pod that exits is handled by died(), not here.
   */
  private probe(set: ReplicaSet<P>, pod: P): void {
    const r = this.opts.readiness?.(set.name);
    if (!r) return;
    let fails = 0;
    let oks = 0;
    const gone = () => pod.terminating || pod.removed || this.halting || !pod.svc;
    const tick = async () => {
      if (gone()) return;
      const t0 = now();
      const ok = await healthy(`${pod.svc!.url}/healthz`, r.timeoutMs);
      if (gone()) return;
      if (ok) [oks, fails] = [oks + 1, 0];
      else [oks, fails] = [0, fails + 1];
      if (set.routed && pod.ready && fails === r.failureThreshold) {
        pod.ready = false;
        this.sink.event({
          kind: 'pod.unready',
          time: now(),
          source: 'cluster',
          attrs: { service: set.name, pod: pod.name, reason: 'Unhealthy', failures: fails, message: `Readiness probe failed ${fails} time(s) in a row: pod ${pod.name} leaves routing` },
        });
        await this.route(set, `pod ${pod.name} not ready`);
      } else if (set.routed && !pod.ready && oks === r.successThreshold) {
        pod.ready = true;
        pod.readyTransitionTime = now();
        this.sink.event({
          kind: 'pod.ready',
          time: pod.readyTransitionTime,
          source: 'cluster',
          attrs: { service: set.name, pod: pod.name, recovered: true, url: pod.svc!.url, pid: pod.svc!.pid, message: `Readiness probe passed again: pod ${pod.name} rejoins routing` },
        });
        await this.route(set, `pod ${pod.name} ready again`);
      }
      if (!gone()) setTimeout(() => void tick(), Math.max(0, t0 + r.periodMs - now())).unref();
    };
    setTimeout(() => void tick(), r.periodMs).unref();
  }

  private restartLater(set: ReplicaSet<P>): void {
    const delay = Math.min(this.opts.maxRestartBackoffMs, this.opts.restartBackoffMs * 2 ** Math.min(set.crashes, 10));
    set.crashes++;
    setTimeout(() => this.converge(set), delay).unref();
  }

  /** A pod that exited on its own: out of routing, its final counters kept, removed, then replaced. */
  private died(set: ReplicaSet<P>, pod: P, e: ServiceExit): void {
    if (pod.terminating || this.halting || pod.removed) return;
    const oom = this.driver.oomKilled?.(pod);
    pod.phase = 'Failed';
    pod.ready = false;
    pod.terminating = true;
    this.sink.event({
      kind: 'pod.failed',
      time: now(),
      source: 'cluster',
      attrs: {
        service: set.name,
        pod: pod.name,
        exitCode: e.exitCode,
        signal: e.signal,
        ...(oom === undefined ? {} : { reason: oom ? 'OOMKilled' : 'Error' }),
        message: `pod ${pod.name} exited on its own (${oom ? 'OOMKilled' : e.signal ?? `exit code ${e.exitCode}`})`,
      },
    });
    const done = (async () => {
      await this.route(set, `pod ${pod.name} failed`);
      await this.release(pod, e);
      set.pods = set.pods.filter((p) => p !== pod);
      this.restartLater(set);
    })();
    this.track(done);
  }

  /** Out of routing first (no new request reaches it), then SIGTERM: it drains and exits. */
  private async terminate(set: ReplicaSet<P>, pod: P, reason: string): Promise<void> {
    pod.terminating = true;
    pod.terminatingTime = now();
    const wasReady = pod.ready;
    pod.ready = false;
    this.sink.event({ kind: 'pod.terminating', time: pod.terminatingTime, source: 'cluster', attrs: { service: set.name, pod: pod.name, reason, message: `Deleted pod ${pod.name} (${reason})` } });
    await pod.booting;
    if (!pod.svc || pod.phase === 'Failed' || pod.removed) return;
    if (wasReady) await this.route(set, `pod ${pod.name} terminating`, true);
    await this.driver.draining?.(pod);
    const t0 = now();
    const exit = await pod.svc.stop();
    pod.phase = exit.exitCode === 0 ? 'Succeeded' : 'Failed';
    const drainMs = Math.round(now() - t0);
    this.sink.event({
      kind: 'pod.terminated',
      time: now(),
      source: 'cluster',
      attrs: { service: set.name, pod: pod.name, exitCode: exit.exitCode, signal: exit.signal, drainMs, message: `pod ${pod.name} terminated (${exit.signal ?? `exit code ${exit.exitCode}`}) after a ${drainMs} ms drain` },
    });
    await this.release(pod, exit);
    set.pods = set.pods.filter((p) => p !== pod);
  }

  /** Final counters (when the process ran and exited), then the driver removes the pod; once per pod. */
  private async release(pod: P, exit?: ServiceExit): Promise<void> {
    if (pod.removed) return;
    const final = exit ? this.driver.finish(pod, exit) : undefined;
    if (final) this.finished.push(final);
    pod.removed = true;
    await this.driver.remove(pod, this.halting);
  }

  /** Sends the routing the service's ready, non-terminating pods; one update at a time, in order. */
  private route(set: ReplicaSet<P>, reason: string, drain = false): Promise<void> {
    const run = async () => {
      if (this.halting || !set.routed) return;
      const pods = set.pods.filter((p) => p.ready && !p.terminating && p.svc);
      const t0 = now();
      let u: RouteUpdate;
      try {
        u = await this.driver.route(set.name, pods, drain);
      } catch (err) {
        this.sink.event({ kind: 'routing.failed', time: now(), source: 'cluster', attrs: { service: set.name, reason, message: `routing update failed: ${(err as Error).message}` } });
        return;
      }
      const names = pods.map((p) => p.name);
      this.sink.event({
        kind: 'routing.update',
        time: now(),
        source: 'cluster',
        attrs: { service: set.name, ...u.attrs, pods: names, reason, tookMs: Math.round((now() - t0) * 1000) / 1000, message: `${u.router} routes to ${names.length ? names.join(', ') : u.none} (${reason})` },
      });
    };
    set.routing = set.routing.then(run, run);
    return set.routing;
  }

  private async limitStart<T>(fn: () => Promise<T>): Promise<T> {
    while (this.startsRunning >= this.opts.startsAtOnce) await new Promise<void>((r) => this.startQueue.push(r));
    this.startsRunning++;
    try {
      return await fn();
    } finally {
      this.startsRunning--;
      this.startQueue.shift()?.();
    }
  }
}

/** One readiness probe: true when GET `url` answers 200..399 within timeoutMs. */
function healthy(url: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400);
    });
    req.on('timeout', () => req.destroy(new Error('probe timeout')));
    req.on('error', () => resolve(false));
  });
}
