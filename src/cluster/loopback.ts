import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { now } from '../core/clock.ts';
import { LoadscopeError } from '../core/errors.ts';
import { startService } from './process.ts';
import { sumMetric } from './prom.ts';
import type { Cluster, ClusterContext, ClusterTarget, ServiceCounters } from './cluster.ts';
import type { PodMetricsSource, PodSnapshot, Scalable } from '../core/workload.ts';
import type { BackendSpec, RunningService } from './types.ts';
import type { ScenarioSpec } from '../scenario/schema.ts';

// The no-root fallback of the local cluster: every pod is a process on a 127.0.0.1 port. The backend is a
// Deployment-like set of replicas; the one frontend round-robins over the ready ones in userland and learns
// the list through its control endpoint (src/services/control.ts). Nothing probes a pod after start.

const SAMPLE_EVERY_MS = 1000;
const SCRAPE_MAX_AGE_MS = 500;
const STARTS_AT_ONCE = 2;
const RESTART_BACKOFF_MS = 1000;
/** The longest a removed backend may keep requests in flight at the frontend before it is stopped anyway. */
const QUIESCE_TIMEOUT_MS = 10_000;

/** Why the loopback cluster is what it is; shown as a notice by the CLI and the report. */
export const LOOPBACK_NOTICE =
  'loopback cluster: pods are processes on 127.0.0.1 ports and the frontend round-robins over the backend replicas in userland ' +
  '(no network namespaces, no VIP load balancing, no cgroup limits, no readiness probes after start; pod CPU and memory are the processes\' own)';

/** Counters a pod reported at its last scrape. */
interface Usage {
  time: number;
  cpuSeconds: number;
  memoryBytes: number;
  requestsServed: number;
  requestsAborted: number;
}

/** A backend replica (or the frontend) as the loopback cluster tracks it. */
interface Pod {
  service: string;
  name: string;
  phase: PodSnapshot['phase'];
  ready: boolean;
  terminating: boolean;
  startTime: number;
  readyTransitionTime?: number;
  svc?: RunningService;
  usage?: Usage;
  scraping?: Promise<Usage | undefined>;
  /** The start in progress (settles when the pod is ready and routed, or failed). */
  booting?: Promise<void>;
  error?: unknown;
}

/**
 * The bundled services as processes on 127.0.0.1: `replicas` backend pods (services.backend.replicas, default 1)
 * behind one frontend. Scalable: scale('backend', n) starts pods (ready, then added to the frontend's list) or
 * removes them (taken out of the list, in-flight requests finished, then SIGTERM and drain). Emits pod.created,
 * pod.ready, pod.terminating, pod.terminated, pod.failed, service.scaled and routing.update events, and once a
 * second pod.cpu_seconds, pod.memory_bytes, pod.requests_served and frontend.upstream_{requests,connections}
 * samples tagged {service, pod}.
 */
export class LoopbackCluster implements Cluster, Scalable, PodMetricsSource {
  readonly mode = 'loopback';
  private frontend?: Pod;
  private pods: Pod[] = [];
  private finished: ServiceCounters[] = [];
  private desired = 1;
  private ordinal = 0;
  private ops = new Set<Promise<void>>();
  private routing: Promise<void> = Promise.resolve();
  private generation = 0;
  private startsRunning = 0;
  private startQueue: (() => void)[] = [];
  private sampler?: NodeJS.Timeout;
  private stopping = false;
  private readonly life = new AbortController();
  private readonly token = randomBytes(16).toString('hex');

  constructor(private readonly spec: ScenarioSpec, private readonly ctx: ClusterContext) {}

  async start(signal: AbortSignal): Promise<ClusterTarget> {
    const initial = this.spec.services.backend.replicas ?? 1;
    this.desired = initial;
    this.ctx.onStatus(`starting services on loopback: ${initial} backend replica${initial === 1 ? '' : 's'}, frontend (userland round-robin, no namespaces)`);
    // The run's signal may only cancel the start: once up, services stay until stop() has read their counters.
    const cancel = () => this.life.abort(signal.reason);
    signal.addEventListener('abort', cancel, { once: true });
    try {
      const pods = Array.from({ length: initial }, () => this.newPod());
      await Promise.all(pods.map((p) => p.booting));
      const failed = pods.find((p) => p.phase === 'Failed');
      if (failed) throw failed.error;
      const fe: Pod = { service: 'frontend', name: 'frontend', phase: 'Pending', ready: false, terminating: false, startTime: now() };
      fe.svc = await this.limitStart(() =>
        startService(
          { role: 'frontend', name: 'frontend', backends: pods.map((p) => p.svc!.url), maxSockets: this.spec.services.frontend.maxSockets },
          { signal: this.life.signal, env: { LOADSCOPE_RUN_ID: this.ctx.runId, LOADSCOPE_CONTROL_TOKEN: this.token } },
        ),
      );
      this.ctx.ledger.addProcess(fe.svc.pid);
      Object.assign(fe, { phase: 'Running', ready: true, readyTransitionTime: now() });
      this.frontend = fe;
    } catch (err) {
      await this.stop();
      throw err;
    } finally {
      signal.removeEventListener('abort', cancel);
    }
    const fe = this.frontend!.svc!;
    this.generation = 1;
    for (const p of this.pods) p.ready = true;
    this.ctx.sink.event({
      kind: 'routing.update',
      time: now(),
      source: 'cluster',
      attrs: { service: 'backend', via: 'frontend', generation: 1, pods: this.pods.map((p) => p.name), urls: this.pods.map((p) => p.svc!.url), reason: 'initial', message: `frontend routes to ${this.pods.map((p) => p.name).join(', ')} (initial list)` },
    });
    this.ctx.sink.event({ kind: 'service.ready', time: now(), source: 'cluster', attrs: { service: 'frontend', role: 'frontend', pod: 'frontend', url: fe.url, pid: fe.pid } });
    this.ctx.onStatus(`services ready: frontend ${fe.url} → backend ${this.pods.map((p) => `${p.name} ${p.svc!.url}`).join(', ')}`);
    this.sampler = setInterval(() => void this.sample(), SAMPLE_EVERY_MS);
    this.sampler.unref();
    return { url: fe.url, ports: [fe.port, ...this.pods.map((p) => p.svc!.port)], ifaces: ['lo'], cidrs: ['127.0.0.0/8'] };
  }

  replicas(service: string): number {
    if (service === 'backend') return this.desired;
    if (service === 'frontend') return this.frontend ? 1 : 0;
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
    if (this.stopping) throw new LoadscopeError('INTERNAL', 'the cluster is stopping');
    const from = this.desired;
    this.desired = replicas;
    if (from !== replicas) {
      this.ctx.sink.event({ kind: 'service.scaled', time: now(), source: 'cluster', attrs: { service, from, to: replicas, message: `Scaled ${service} from ${from} to ${replicas} replicas` } });
    }
    this.converge();
  }

  /** Resolves when no pod is starting or terminating (every scale so far has converged). */
  async settled(): Promise<void> {
    while (this.ops.size > 0) await Promise.allSettled([...this.ops]);
  }

  async podMetrics(service: string): Promise<PodSnapshot[]> {
    const pods = service === 'frontend' ? (this.frontend ? [this.frontend] : []) : service === 'backend' ? [...this.pods] : undefined;
    if (!pods) throw unknownService(service);
    const requests = this.requestsOf(service);
    return Promise.all(
      pods.map(async (p) => {
        const u = p.phase === 'Running' ? await this.usage(p) : undefined;
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
    await this.settled();
    const out: ServiceCounters[] = [];
    for (const p of [...(this.frontend ? [this.frontend] : []), ...this.pods]) {
      if (!p.svc) continue;
      const u = await this.usage(p, true);
      if (u) out.push(countersOf(p, u));
    }
    return [...out, ...this.finished];
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.sampler) clearInterval(this.sampler);
    this.life.abort(new Error('cluster stopping'));
    await this.settled();
    await this.frontend?.svc?.stop();
    await Promise.all(this.pods.map((p) => p.svc?.stop()));
    this.frontend = undefined;
    this.pods = [];
  }

  notices(): string[] {
    const fe = this.spec.services.frontend.replicas ?? 1;
    return [LOOPBACK_NOTICE, ...(fe !== 1 ? [`services.frontend.replicas ${fe} ignored: the loopback cluster runs one frontend (its port is the load's target)`] : [])];
  }

  private requestsOf(service: string): PodSnapshot['requests'] {
    const r = service === 'backend' ? this.spec.services.backend.resources?.requests : this.spec.services.frontend.resources?.requests;
    return { ...(r?.cpu !== undefined ? { cpuMillis: r.cpu } : {}), ...(r?.memory !== undefined ? { memoryBytes: r.memory } : {}) };
  }

  /** Starts or stops backend pods until the live ones (starting or ready, not terminating) match the size. */
  private converge(): void {
    if (this.stopping || !this.frontend) return;
    const live = this.pods.filter((p) => !p.terminating && p.phase !== 'Failed');
    for (let i = live.length; i < this.desired; i++) this.track(this.newPod().booting!);
    if (live.length > this.desired) {
      // ReplicaSet order: pods not ready first, then the most recently ready.
      const victims = [...live].sort((a, b) => Number(a.ready) - Number(b.ready) || (b.readyTransitionTime ?? b.startTime) - (a.readyTransitionTime ?? a.startTime));
      for (const p of victims.slice(0, live.length - this.desired)) this.track(this.terminate(p, 'scale down'));
    }
  }

  private track(op: Promise<void>): void {
    this.ops.add(op);
    void op.finally(() => this.ops.delete(op));
  }

  private newPod(): Pod {
    const pod: Pod = { service: 'backend', name: `backend-${++this.ordinal}`, phase: 'Pending', ready: false, terminating: false, startTime: now() };
    this.pods.push(pod);
    this.ctx.sink.event({ kind: 'pod.created', time: pod.startTime, source: 'cluster', attrs: { service: 'backend', pod: pod.name, phase: 'Pending', message: `Created pod ${pod.name}` } });
    pod.booting = this.boot(pod);
    return pod;
  }

  /** Starts a pod's process; once it answers /healthz it is ready and (after start()) joins the frontend's list. */
  private async boot(pod: Pod): Promise<void> {
    const b = this.spec.services.backend;
    const spec: BackendSpec = { role: 'backend', name: pod.name, config: { routes: b.routes, default: b.default } };
    if (b.rateLimit) {
      spec.extraArgs = ['--rate-limit-rps', String(b.rateLimit.requestsPerSecond), ...(b.rateLimit.burst !== undefined ? ['--rate-limit-burst', String(b.rateLimit.burst)] : [])];
    }
    try {
      pod.svc = await this.limitStart(() => startService(spec, { signal: this.life.signal, env: { LOADSCOPE_RUN_ID: this.ctx.runId } }));
    } catch (err) {
      pod.phase = 'Failed';
      pod.error = err;
      this.pods = this.pods.filter((p) => p !== pod);
      if (this.stopping) return;
      this.ctx.sink.event({ kind: 'pod.failed', time: now(), source: 'cluster', attrs: { service: 'backend', pod: pod.name, message: `pod ${pod.name} did not start: ${(err as Error).message.split('\n')[0]}` } });
      if (this.frontend && !this.stopping) setTimeout(() => this.converge(), RESTART_BACKOFF_MS).unref();
      return;
    }
    const svc = pod.svc;
    this.ctx.ledger.addProcess(svc.pid);
    pod.phase = 'Running';
    pod.readyTransitionTime = now();
    this.ctx.sink.event({
      kind: 'pod.ready',
      time: pod.readyTransitionTime,
      source: 'cluster',
      attrs: { service: 'backend', pod: pod.name, url: svc.url, pid: svc.pid, startupMs: Math.round(pod.readyTransitionTime - pod.startTime), message: `pod ${pod.name} ready at ${svc.url} after ${Math.round(pod.readyTransitionTime - pod.startTime)} ms` },
    });
    void svc.exited.then((e) => this.exitedOnItsOwn(pod, e));
    if (!this.frontend) return; // initial pods: the frontend starts with them in its list
    if (pod.terminating) return;
    pod.ready = true;
    await this.route(`pod ${pod.name} ready`);
  }

  private exitedOnItsOwn(pod: Pod, e: { exitCode: number | null; signal: NodeJS.Signals | null }): void {
    if (pod.terminating || this.stopping) return;
    pod.phase = 'Failed';
    pod.ready = false;
    this.ctx.sink.event({ kind: 'pod.failed', time: now(), source: 'cluster', attrs: { service: 'backend', pod: pod.name, exitCode: e.exitCode, signal: e.signal, message: `pod ${pod.name} exited on its own (${e.signal ?? `exit code ${e.exitCode}`})` } });
    this.pods = this.pods.filter((p) => p !== pod);
    if (pod.usage) this.finished.push(countersOf(pod, pod.usage));
    this.track(this.route(`pod ${pod.name} failed`));
    setTimeout(() => this.converge(), RESTART_BACKOFF_MS).unref();
  }

  /** Out of the frontend's list (in-flight requests finish), final counters read, then SIGTERM and drain. */
  private async terminate(pod: Pod, reason: string): Promise<void> {
    pod.terminating = true;
    const wasReady = pod.ready;
    pod.ready = false;
    this.ctx.sink.event({ kind: 'pod.terminating', time: now(), source: 'cluster', attrs: { service: 'backend', pod: pod.name, reason, message: `Deleted pod ${pod.name} (${reason})` } });
    await pod.booting;
    if (!pod.svc || pod.phase === 'Failed') return;
    if (wasReady) await this.route(`pod ${pod.name} terminating`);
    const final = await this.usage(pod, true);
    const t0 = now();
    const exit = await pod.svc.stop();
    pod.phase = exit.exitCode === 0 ? 'Succeeded' : 'Failed';
    this.ctx.sink.event({
      kind: 'pod.terminated',
      time: now(),
      source: 'cluster',
      attrs: { service: 'backend', pod: pod.name, exitCode: exit.exitCode, signal: exit.signal, drainMs: Math.round(now() - t0), message: `pod ${pod.name} terminated (${exit.signal ?? `exit code ${exit.exitCode}`}) after a ${Math.round(now() - t0)} ms drain` },
    });
    this.ctx.ledger.remove((r) => r.kind === 'process' && r.pid === pod.svc!.pid);
    this.pods = this.pods.filter((p) => p !== pod);
    if (final) this.finished.push(countersOf(pod, final));
  }

  /** Sends the frontend the ready, non-terminating pods; one update at a time, in order. */
  private route(reason: string): Promise<void> {
    const run = async () => {
      const fe = this.frontend?.svc;
      if (!fe) return;
      const pods = this.pods.filter((p) => p.ready && !p.terminating && p.svc);
      const urls = pods.map((p) => p.svc!.url);
      const t0 = now();
      let answer: { generation?: number; quiesced?: boolean } = {};
      try {
        answer = JSON.parse(await control(fe.url, 'PUT', this.token, JSON.stringify({ backends: urls }))) as typeof answer;
      } catch (err) {
        this.ctx.sink.event({ kind: 'routing.failed', time: now(), source: 'cluster', attrs: { service: 'backend', reason, message: `routing update failed: ${(err as Error).message}` } });
        return;
      }
      this.generation = answer.generation ?? this.generation + 1;
      this.ctx.sink.event({
        kind: 'routing.update',
        time: now(),
        source: 'cluster',
        attrs: {
          service: 'backend',
          via: 'frontend',
          generation: this.generation,
          pods: pods.map((p) => p.name),
          urls,
          reason,
          quiesced: answer.quiesced !== false,
          tookMs: Math.round(now() - t0),
          message: `frontend routes to ${pods.length ? pods.map((p) => p.name).join(', ') : 'no backend'} (${reason})`,
        },
      });
    };
    this.routing = this.routing.then(run, run);
    return this.routing;
  }

  /** The pod's counters, scraped at most every 500 ms (or now when `fresh`); the last ones if it cannot be read. */
  private async usage(pod: Pod, fresh = false): Promise<Usage | undefined> {
    if (!pod.svc) return pod.usage;
    if (!fresh && pod.usage && now() - pod.usage.time < SCRAPE_MAX_AGE_MS) return pod.usage;
    if (pod.scraping) return pod.scraping;
    const svc = pod.svc;
    pod.scraping = (async () => {
      try {
        const m = await svc.scrape();
        pod.usage = {
          time: now(),
          cpuSeconds: sumMetric(m, 'process_cpu_seconds_total'),
          memoryBytes: sumMetric(m, 'process_resident_memory_bytes'),
          requestsServed: sumMetric(m, 'loadscope_http_requests_total'),
          requestsAborted: sumMetric(m, 'loadscope_http_requests_aborted_total'),
        };
      } catch {
        // draining or gone: keep the last reading
      }
      return pod.usage;
    })().finally(() => (pod.scraping = undefined));
    return pod.scraping;
  }

  private async sample(): Promise<void> {
    const pods = [...(this.frontend ? [this.frontend] : []), ...this.pods.filter((p) => p.phase === 'Running')];
    await Promise.all(
      pods.map(async (p) => {
        const u = await this.usage(p);
        if (!u) return;
        const tags = { service: p.service, pod: p.name };
        this.ctx.sink.sample({ metric: 'pod.cpu_seconds', time: u.time, value: u.cpuSeconds, tags });
        this.ctx.sink.sample({ metric: 'pod.memory_bytes', time: u.time, value: u.memoryBytes, tags });
        this.ctx.sink.sample({ metric: 'pod.requests_served', time: u.time, value: u.requestsServed, tags });
      }),
    );
    const fe = this.frontend?.svc;
    if (!fe || this.stopping) return;
    try {
      const snap = JSON.parse(await control(fe.url, 'GET', this.token)) as { backends: { url: string; requests: number; connections: number }[] };
      const t = now();
      for (const b of snap.backends) {
        const pod = this.pods.find((p) => p.svc?.url === b.url)?.name ?? b.url;
        this.ctx.sink.sample({ metric: 'frontend.upstream_requests', time: t, value: b.requests, tags: { service: 'backend', pod } });
        this.ctx.sink.sample({ metric: 'frontend.upstream_connections', time: t, value: b.connections, tags: { service: 'backend', pod } });
      }
    } catch {
      // the frontend is busy or stopping: no routing sample this second
    }
  }

  private async limitStart<T>(fn: () => Promise<T>): Promise<T> {
    while (this.startsRunning >= STARTS_AT_ONCE) await new Promise<void>((r) => this.startQueue.push(r));
    this.startsRunning++;
    try {
      return await fn();
    } finally {
      this.startsRunning--;
      this.startQueue.shift()?.();
    }
  }
}

function countersOf(p: Pod, u: Usage): ServiceCounters {
  return { service: p.service, role: p.service, pod: p.name, requestsServed: u.requestsServed, requestsAborted: u.requestsAborted, cpuSeconds: u.cpuSeconds, rssBytes: u.memoryBytes };
}

function unknownService(service: string): LoadscopeError {
  return new LoadscopeError('INTERNAL', `the loopback cluster has no service "${service}" (backend, frontend)`);
}

/** One request to the frontend's control endpoint (src/services/control.ts); resolves the body of a 200. */
export function control(baseUrl: string, method: 'GET' | 'PUT', token: string, body?: string, timeoutMs = QUIESCE_TIMEOUT_MS + 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { authorization: `Bearer ${token}`, connection: 'close' };
    if (body !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    const req = http.request(`${baseUrl}/_loadscope/backends`, { method, headers, agent: false, timeout: timeoutMs }, (res) => {
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
