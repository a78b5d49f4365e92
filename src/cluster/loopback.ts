import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { now } from '../core/clock.ts';
import { LoadscopeError } from '../core/errors.ts';
import type { FaultablePods, FaultPod, Undo } from '../core/faults.ts';
import { ProcessPodFaults } from './faults.ts';
import { startService } from './process.ts';
import { sumMetric } from './prom.ts';
import { Reading } from './reading.ts';
import { ReplicaSets, type Pod, type PodDriver, type RouteUpdate } from './replicaset.ts';
import type { Cluster, ClusterContext, ClusterTarget, ServiceCounters } from './cluster.ts';
import type { PodMetricsSource, PodSnapshot, Scalable } from '../core/workload.ts';
import type { RunningService } from './types.ts';
import type { ScenarioSpec } from '../scenario/schema.ts';

// The no-root fallback of the local cluster: every pod is a process on a 127.0.0.1 port. The backend is a
// replica set (src/cluster/replicaset.ts) of such pods; the one frontend round-robins over the ready ones in
// userland and learns the list through its control endpoint (src/services/control.ts). Nothing probes a pod
// after start.

const SAMPLE_EVERY_MS = 1000;
const SCRAPE_MAX_AGE_MS = 500;
/** The longest a removed backend may keep requests in flight at the frontend before it is stopped anyway. */
const QUIESCE_TIMEOUT_MS = 10_000;

/** Why the loopback cluster is what it is; shown as a notice by the CLI and the report. */
export const LOOPBACK_NOTICE =
  'loopback cluster: pods are processes on 127.0.0.1 ports and the frontend round-robins over the backend replicas in userland ' +
  '(no network namespaces, no VIP load balancing, no cgroup limits; the backend\'s readiness probe runs as in the local cluster; pod CPU and memory are the processes\' own)';

/** Counters a pod reported at its last scrape. */
interface Usage {
  time: number;
  cpuSeconds: number;
  memoryBytes: number;
  requestsServed: number;
  requestsAborted: number;
}

/** A backend replica (or the frontend): a process on a 127.0.0.1 port. */
interface ProcessPod extends Pod {
  usage: Reading<Usage>;
}

/**
 * The loopback pod driver: a backend pod is a process on a 127.0.0.1 port; the backend's routing is the
 * frontend's list, replaced through its control endpoint (the PUT answers once removed backends are idle).
 */
class LoopbackPods implements PodDriver<ProcessPod> {
  /** The backend's router; set once it runs. */
  frontend?: ProcessPod;
  /** Bearer token of the frontend's control endpoint. */
  readonly token = randomBytes(16).toString('hex');
  private generation = 0;

  constructor(
    private readonly spec: ScenarioSpec,
    private readonly ctx: ClusterContext,
  ) {}

  create(pod: Pod): ProcessPod {
    return { ...pod, usage: new Reading<Usage>(SCRAPE_MAX_AGE_MS) };
  }

  async start(pod: ProcessPod, signal: AbortSignal): Promise<RunningService> {
    const b = this.spec.services.backend;
    const svc = await startService(
      { role: 'backend', name: pod.name, config: { routes: b.routes, default: b.default }, rateLimit: b.rateLimit },
      { signal, env: { LOADSCOPE_RUN_ID: this.ctx.runId } },
    );
    this.ctx.ledger.addProcess(svc.pid);
    return svc;
  }

  /** Starts the frontend with the backend's first pods in its list (generation 1). */
  async startFrontend(backends: ProcessPod[], signal: AbortSignal): Promise<ProcessPod> {
    const fe = this.create({ service: 'frontend', name: 'frontend', phase: 'Pending', ready: false, terminating: false, startTime: now() });
    fe.svc = await startService(
      { role: 'frontend', name: 'frontend', backends: backends.map((p) => p.svc!.url), maxSockets: this.spec.services.frontend.maxSockets },
      { signal, env: { LOADSCOPE_RUN_ID: this.ctx.runId, LOADSCOPE_CONTROL_TOKEN: this.token } },
    );
    this.ctx.ledger.addProcess(fe.svc.pid);
    Object.assign(fe, { phase: 'Running', ready: true, readyTransitionTime: now() });
    this.generation = 1;
    this.frontend = fe;
    return fe;
  }

  async route(_service: string, pods: ProcessPod[], drain: boolean): Promise<RouteUpdate> {
    const fe = this.frontend!.svc!;
    const urls = pods.map((p) => p.svc!.url);
    const answer = JSON.parse(await control(fe.url, 'PUT', this.token, JSON.stringify({ backends: urls }), undefined, drain)) as { generation?: number; quiesced?: boolean };
    this.generation = answer.generation ?? this.generation + 1;
    return { attrs: { via: 'frontend', generation: this.generation, urls, quiesced: answer.quiesced !== false }, router: 'frontend', none: 'no backend' };
  }

  /** Out of the frontend's list and idle there: its counters now are its final ones. */
  async draining(pod: ProcessPod): Promise<void> {
    await this.usage(pod, true);
  }

  finish(pod: ProcessPod): ServiceCounters | undefined {
    return pod.usage.last && countersOf(pod, pod.usage.last);
  }

  async counters(pod: ProcessPod): Promise<ServiceCounters | undefined> {
    const u = await this.usage(pod, true);
    return u && countersOf(pod, u);
  }

  async remove(pod: ProcessPod): Promise<void> {
    const pid = pod.svc?.pid;
    if (pid !== undefined) this.ctx.ledger.remove((r) => r.kind === 'process' && r.pid === pid);
  }

  /** The pod's counters, scraped at most every 500 ms (or now when `fresh`); the last ones if it cannot be read. */
  usage(pod: ProcessPod, fresh = false): Promise<Usage | undefined> {
    const svc = pod.svc;
    if (!svc || pod.removed) return Promise.resolve(pod.usage.last);
    return pod.usage.get(async () => {
      const m = await svc.scrape();
      return {
        time: now(),
        cpuSeconds: sumMetric(m, 'process_cpu_seconds_total'),
        memoryBytes: sumMetric(m, 'process_resident_memory_bytes'),
        requestsServed: sumMetric(m, 'loadscope_http_requests_total'),
        requestsAborted: sumMetric(m, 'loadscope_http_requests_aborted_total'),
      };
    }, fresh);
  }
}

/**
 * The bundled services as processes on 127.0.0.1: `replicas` backend pods (services.backend.replicas, default 1)
 * behind one frontend. Scalable: scale('backend', n) starts pods (ready, then added to the frontend's list) or
 * removes them (taken out of the list, in-flight requests finished, then SIGTERM and drain). Emits pod.created,
 * pod.ready, pod.terminating, pod.terminated, pod.failed, service.scaled and routing.update events, and once a
 * second pod.cpu_seconds, pod.memory_bytes, pod.requests_served and frontend.upstream_{requests,connections}
 * samples tagged {service, pod}.
 */
export class LoopbackCluster implements Cluster, Scalable, PodMetricsSource, FaultablePods {
  readonly mode = 'loopback';
  private readonly pods: LoopbackPods;
  private readonly sets: ReplicaSets<ProcessPod>;
  /** Faults reach the backend's pods (the one frontend process is the load's target, not a replica set). */
  private readonly faults: ProcessPodFaults<ProcessPod>;
  private sampler?: NodeJS.Timeout;

  constructor(
    private readonly spec: ScenarioSpec,
    private readonly ctx: ClusterContext,
  ) {
    this.pods = new LoopbackPods(spec, ctx);
    // The backend's readiness probe as in the local cluster: a hung process (pod-pause) leaves the
    // frontend's list after failureThreshold failed probes and rejoins when it answers again.
    const r = spec.services.backend.readinessProbe;
    const readiness = { periodMs: r.periodSeconds * 1000, timeoutMs: r.timeoutSeconds * 1000, failureThreshold: r.failureThreshold, successThreshold: r.successThreshold };
    this.sets = new ReplicaSets(this.pods, ctx.sink, {
      cluster: 'loopback',
      startsAtOnce: 2,
      restartBackoffMs: 1000,
      maxRestartBackoffMs: 1000,
      readiness: (service) => (service === 'backend' ? readiness : undefined),
    });
    // Routing starts with the frontend, which takes the backend's first pods on its command line.
    this.sets.add('backend', spec.services.backend.replicas, false);
    this.faults = new ProcessPodFaults((service) => (service === 'backend' ? this.sets.pods(service) : []), ctx.ledger);
  }

  faultPods(service: string): FaultPod[] {
    return this.faults.faultPods(service);
  }

  killPod(service: string, pod: string): Promise<void> {
    return this.faults.killPod(service, pod);
  }

  pausePod(service: string, pod: string): Promise<Undo> {
    return this.faults.pausePod(service, pod);
  }

  async start(signal: AbortSignal): Promise<ClusterTarget> {
    const initial = this.sets.replicas('backend');
    this.ctx.onStatus(`starting services on loopback: ${initial} backend replica${initial === 1 ? '' : 's'}, frontend (userland round-robin, no namespaces)`);
    // The run's signal may only cancel the start: once up, services stay until stop() has read their counters.
    const cancel = () => this.sets.abort(signal.reason);
    signal.addEventListener('abort', cancel, { once: true });
    let fe: RunningService;
    try {
      fe = (await this.pods.startFrontend(await this.sets.boot('backend'), this.sets.signal)).svc!;
    } catch (err) {
      await this.stop();
      throw err;
    } finally {
      signal.removeEventListener('abort', cancel);
    }
    const pods = this.sets.open('backend');
    this.sets.goLive();
    const names = pods.map((p) => p.name);
    this.ctx.sink.event({
      kind: 'routing.update',
      time: now(),
      source: 'cluster',
      attrs: { service: 'backend', via: 'frontend', generation: 1, pods: names, urls: pods.map((p) => p.svc!.url), reason: 'initial', message: `frontend routes to ${names.join(', ')} (initial list)` },
    });
    this.ctx.sink.event({ kind: 'service.ready', time: now(), source: 'cluster', attrs: { service: 'frontend', role: 'frontend', pod: 'frontend', url: fe.url, pid: fe.pid } });
    this.ctx.onStatus(`services ready: frontend ${fe.url} → backend ${pods.map((p) => `${p.name} ${p.svc!.url}`).join(', ')}`);
    this.sampler = setInterval(() => void this.sample(), SAMPLE_EVERY_MS);
    this.sampler.unref();
    return { url: fe.url, ports: [fe.port, ...pods.map((p) => p.svc!.port)], ifaces: ['lo'], cidrs: ['127.0.0.0/8'] };
  }

  replicas(service: string): number {
    if (service === 'backend') return this.sets.replicas(service);
    if (service === 'frontend') return this.pods.frontend ? 1 : 0;
    throw unknownService(service);
  }

  /**
   * Accepts a new size for the backend and returns; pods converge in the background (like a Deployment's
   * spec.replicas). The frontend cannot be scaled on loopback (its port is the load's target).
   */
  async scale(service: string, replicas: number): Promise<void> {
    if (service === 'frontend') {
      throw new LoadscopeError('ENVIRONMENT', 'the loopback cluster runs one frontend and cannot scale it', { hint: 'autoscale the backend, or run the local cluster (root) to scale the frontend' });
    }
    if (service !== 'backend') throw unknownService(service);
    if (!Number.isInteger(replicas) || replicas < 0) throw new LoadscopeError('INTERNAL', `cannot scale backend to ${replicas} replicas`);
    if (this.sets.stopping) throw new LoadscopeError('INTERNAL', 'the cluster is stopping');
    this.sets.scale(service, replicas);
  }

  /** Resolves when no pod is starting or terminating (every scale so far has converged). */
  settled(): Promise<void> {
    return this.sets.settled();
  }

  async podMetrics(service: string): Promise<PodSnapshot[]> {
    const pods = service === 'frontend' ? (this.pods.frontend ? [this.pods.frontend] : []) : service === 'backend' ? this.sets.pods(service) : undefined;
    if (!pods) throw unknownService(service);
    const requests = this.requestsOf(service);
    return Promise.all(
      pods.map(async (p) => {
        const u = p.phase === 'Running' ? await this.pods.usage(p) : undefined;
        return {
          service,
          pod: p.name,
          phase: p.phase === 'Running' && !u ? 'Pending' : p.phase,
          ready: p.ready,
          terminating: p.terminating,
          startTime: p.startTime,
          ...(p.readyTransitionTime !== undefined ? { readyTransitionTime: p.readyTransitionTime } : {}),
          time: u?.time ?? now(),
          cpuSeconds: u?.cpuSeconds ?? 0,
          memoryBytes: u?.memoryBytes ?? 0,
          requestsServed: u?.requestsServed ?? 0,
          requests,
        };
      }),
    );
  }

  async counters(): Promise<ServiceCounters[]> {
    await this.sets.settled();
    const fe = this.pods.frontend?.svc ? await this.pods.counters(this.pods.frontend) : undefined;
    return [...(fe ? [fe] : []), ...(await this.sets.counters())];
  }

  /** Frontend first, so that nothing forwards to a backend that is already draining. */
  async stop(): Promise<void> {
    if (this.sampler) clearInterval(this.sampler);
    await this.faults.resumeAll();
    await this.sets.halt();
    await this.pods.frontend?.svc?.stop();
    await this.sets.stop(['backend']);
    this.pods.frontend = undefined;
  }

  notices(): string[] {
    const fe = this.spec.services.frontend.replicas;
    return [LOOPBACK_NOTICE, ...(fe !== 1 ? [`services.frontend.replicas ${fe} ignored: the loopback cluster runs one frontend (its port is the load's target)`] : [])];
  }

  private requestsOf(service: string): PodSnapshot['requests'] {
    const r = service === 'backend' ? this.spec.services.backend.resources.requests : this.spec.services.frontend.resources.requests;
    return { ...(r.cpu !== undefined ? { cpuMillis: r.cpu } : {}), ...(r.memory !== undefined ? { memoryBytes: r.memory } : {}) };
  }

  private async sample(): Promise<void> {
    const fe = this.pods.frontend;
    const pods = [...(fe ? [fe] : []), ...this.sets.pods('backend').filter((p) => p.phase === 'Running')];
    await Promise.all(
      pods.map(async (p) => {
        const u = await this.pods.usage(p);
        if (!u) return;
        const tags = { service: p.service, pod: p.name };
        this.ctx.sink.sample({ metric: 'pod.cpu_seconds', time: u.time, value: u.cpuSeconds, tags });
        this.ctx.sink.sample({ metric: 'pod.memory_bytes', time: u.time, value: u.memoryBytes, tags });
        this.ctx.sink.sample({ metric: 'pod.requests_served', time: u.time, value: u.requestsServed, tags });
      }),
    );
    if (!fe?.svc || this.sets.stopping) return;
    try {
      const snap = JSON.parse(await control(fe.svc.url, 'GET', this.pods.token)) as { backends: { url: string; requests: number; connections: number }[] };
      const t = now();
      for (const b of snap.backends) {
        const pod = this.sets.pods('backend').find((p) => p.svc?.url === b.url)?.name ?? b.url;
        this.ctx.sink.sample({ metric: 'frontend.upstream_requests', time: t, value: b.requests, tags: { service: 'backend', pod } });
        this.ctx.sink.sample({ metric: 'frontend.upstream_connections', time: t, value: b.connections, tags: { service: 'backend', pod } });
      }
    } catch {
      // the frontend is busy or stopping: no routing sample this second
    }
  }
}

function countersOf(p: Pod, u: Usage): ServiceCounters {
  return { service: p.service, role: p.service, pod: p.name, requestsServed: u.requestsServed, requestsAborted: u.requestsAborted, cpuSeconds: u.cpuSeconds, rssBytes: u.memoryBytes };
}

function unknownService(service: string): LoadscopeError {
  return new LoadscopeError('INTERNAL', `the loopback cluster has no service "${service}" (backend, frontend)`);
}

/** One request to the frontend's control endpoint (src/services/control.ts); resolves the body of a 200. A PUT without `drain` answers once the list is in place. */
export function control(baseUrl: string, method: 'GET' | 'PUT', token: string, body?: string, timeoutMs = QUIESCE_TIMEOUT_MS + 5000, drain = true): Promise<string> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { authorization: `Bearer ${token}`, connection: 'close' };
    if (body !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    const req = http.request(`${baseUrl}/_loadscope/backends${drain ? '' : '?drain=0'}`, { method, headers, agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode === 200) resolve(text);
        else reject(new Error(`${method} /_loadscope/backends answered ${res.statusCode}: ${text.trim()}`));
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}
