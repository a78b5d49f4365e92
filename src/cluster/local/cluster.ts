import { mkdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { now } from '../../core/clock.ts';
import { LoadscopeError } from '../../core/errors.ts';
import { processStartTime, type Resource } from '../../core/ledger.ts';
import type { ScenarioSpec } from '../../scenario/schema.ts';
import type { Cluster, ClusterContext, ClusterTarget, ServiceCounters } from '../cluster.ts';
import type { PodMetricsSource, Scalable } from '../../core/workload.ts';
import { startService } from '../process.ts';
import { parseProm, sumMetric } from '../prom.ts';
import type { PromSample, RunningService, ServiceExit, ServiceSpec } from '../types.ts';
import type { ServiceRole } from '../../core/services.ts';
import { CGROUP_DIR, cgroupDirs, createRunCgroups, detectCgroups, PodCgroup, removeCgroupDirs, type CgroupLayout, type PodResources } from './cgroup.ts';
import { JOIN_CGROUPS, type Balancer, type BalancerRecord } from '../../core/balancer.ts';
import { createBridge, createPodNet, deleteLink, deletePodNet, names } from './net.ts';
import { localUnavailable } from './resolve.ts';
import { claimRun, sweepLocalLeftovers, type RunClaim } from './sweep.ts';
import type { LocalClusterOptions, LocalPodSnapshot } from './types.ts';

// The embedded local cluster: every replica ("pod") of the frontend and the backend is a service
// process in its own network namespace and cgroup, on a bridge the run creates (198.18.x.0/24).
// Each service has a virtual IP (198.19.x.1 frontend, 198.19.x.2 backend) that no interface owns: the
// eBPF program of bpf/lb (cgroup/connect4 on the cgroup v2 root) rewrites every connect() to a VIP
// to one ready pod, from a routing table this class keeps in a BPF map, and refuses connections to
// the backend (VIP or pods) from anything but frontend pods. See docs/cluster.md.

const SERVICE_IDS = { backend: 1, frontend: 2 } as const;
const VIP_HOST = { frontend: 1, backend: 2 } as const;
const STARTS_AT_ONCE = 4;
const SCRAPE_MAX_AGE_MS = 500;
const SCRAPE_TIMEOUT_MS = 900;
const MAX_REFUSAL_EVENTS = 200;
const MAX_RESTART_BACKOFF_MS = 30_000;

type ServiceName = keyof typeof SERVICE_IDS;

/** What a pod's /metrics said last. */
interface Scrape {
  time: number;
  requestsServed: number;
  requestsAborted: number;
  rssBytes: number;
  rateLimited: number;
}

interface Pod {
  service: Svc;
  name: string;
  seq: number;
  ip: string;
  netns: string;
  veth: string;
  cgroup: PodCgroup;
  cgroupId?: bigint;
  metricsFile: string;
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  ready: boolean;
  terminating: boolean;
  startTime: number;
  readyTransitionTime?: number;
  terminatingTime?: number;
  svc?: RunningService;
  booting?: Promise<void>;
  ending?: Promise<void>;
  scrape?: Scrape;
  scraping?: Promise<Scrape | undefined>;
  /** Rate-limit refusals already journalled (routing.ratelimited carries deltas). */
  rateLimitedSeen: number;
  error?: unknown;
  /** Resources listed in the ledger for this pod (removed from it once released). */
  ledgered: Resource[];
  tornDown: boolean;
}

interface Svc {
  name: ServiceName;
  role: ServiceRole;
  id: number;
  vip: string;
  policy: boolean;
  desired: number;
  ordinal: number;
  pods: Pod[];
  generation: number;
  routing: Promise<void>;
  resources: PodResources;
  crashes: number;
}

/**
 * LocalCluster: the scenario's services as pods in network namespaces behind eBPF-balanced VIPs.
 * Scalable (scale() accepts the size and returns; pods converge in the background, `settled()`
 * waits for them) and a PodMetricsSource for the autoscaler. Journals pod.* and routing.* events
 * and samples (docs/cluster.md). Needs root; resolveClusterMode() says whether it can run.
 */
export class LocalCluster implements Cluster, Scalable, PodMetricsSource {
  readonly mode = 'local';
  private readonly opts: Required<LocalClusterOptions>;
  private layout?: CgroupLayout;
  private claim?: RunClaim;
  private lb?: Balancer;
  private lbCgroup?: PodCgroup;
  private tmp?: string;
  private bridge?: string;
  private services = new Map<ServiceName, Svc>();
  private finished: ServiceCounters[] = [];
  private ops = new Set<Promise<void>>();
  private sampler?: NodeJS.Timeout;
  private started = false;
  private stopping = false;
  private stopped?: Promise<void>;
  private readonly life = new AbortController();
  private startsRunning = 0;
  private startQueue: (() => void)[] = [];
  private nextHost = 2;
  private refusalEvents = 0;
  private refusalsSuppressed = 0;
  private runResources: Resource[] = [];
  private readonly noticeLines: string[] = [];

  constructor(private readonly spec: ScenarioSpec, private readonly ctx: ClusterContext, options: LocalClusterOptions = {}) {
    this.opts = {
      podPort: options.podPort ?? 8080,
      vipPort: options.vipPort ?? 80,
      drainDelayMs: options.drainDelayMs ?? 1000,
      drainTimeoutMs: options.drainTimeoutMs ?? 10_000,
      maxRequestsPerConnection: options.maxRequestsPerConnection ?? 100,
      decisionSampleEvery: options.decisionSampleEvery ?? 1,
      sampleIntervalMs: options.sampleIntervalMs ?? 1000,
      readyTimeoutMs: options.readyTimeoutMs ?? 30_000,
      restartBackoffMs: options.restartBackoffMs ?? 1000,
    };
  }

  /** The run's tag, subnet octet, names, processes and BPF links (for tests and diagnostics); undefined before start. */
  info():
    | { tag: string; octet: number; bridge: string; cgroups: string[]; vips: Record<ServiceName, string>; loaderPid: number; podPids: number[]; bpfLinks: number[]; netns: string[] }
    | undefined {
    if (!this.claim || !this.layout) return undefined;
    const o = this.claim.octet;
    return {
      tag: this.claim.tag,
      octet: o,
      bridge: names.bridge(this.claim.tag),
      cgroups: cgroupDirs(this.layout, join(CGROUP_DIR, this.claim.tag)),
      vips: { frontend: `198.19.${o}.${VIP_HOST.frontend}:${this.opts.vipPort}`, backend: `198.19.${o}.${VIP_HOST.backend}:${this.opts.vipPort}` },
      loaderPid: this.lb?.pid ?? 0,
      podPids: [...this.services.values()].flatMap((svc) => svc.pods.flatMap((p) => (p.svc ? [p.svc.pid] : []))),
      bpfLinks: Array.isArray(this.lb?.ready?.links) ? (this.lb.ready.links as number[]) : [],
      netns: [...this.services.values()].flatMap((svc) => svc.pods.map((p) => p.netns)),
    };
  }

  async start(signal: AbortSignal): Promise<ClusterTarget> {
    const why = localUnavailable(this.ctx.balancer);
    if (why) throw new LoadscopeError('ENVIRONMENT', `the local cluster cannot run here: ${why}`, { hint: 'use cluster.mode auto (falls back to loopback) or loopback' });
    const cancel = () => this.life.abort(signal.reason);
    signal.throwIfAborted();
    signal.addEventListener('abort', cancel, { once: true });
    try {
      for (const line of await sweepLocalLeftovers()) this.ctx.onStatus(`cleanup: ${line} (left by a dead local cluster)`);
      await this.setUp();
      const b = this.spec.services.backend;
      const f = this.spec.services.frontend;
      this.ctx.onStatus(`starting the local cluster on 198.18.${this.claim!.octet}.0/24: ${b.replicas} backend and ${f.replicas} frontend pod(s), eBPF load balancing and policy`);
      for (const svc of [this.svc('backend'), this.svc('frontend')]) {
        const pods = Array.from({ length: svc.desired }, () => this.newPod(svc));
        await Promise.all(pods.map((p) => p.booting));
        const failed = pods.find((p) => p.phase === 'Failed');
        if (failed) throw failed.error;
        this.life.signal.throwIfAborted();
      }
      this.started = true;
    } catch (err) {
      await this.stop();
      throw err;
    } finally {
      signal.removeEventListener('abort', cancel);
    }
    this.sampler = setInterval(() => void this.sample(), this.opts.sampleIntervalMs);
    this.sampler.unref();
    const o = this.claim!.octet;
    const fe = this.svc('frontend');
    const be = this.svc('backend');
    this.ctx.onStatus(
      `local cluster ready: frontend VIP ${fe.vip}:${this.opts.vipPort} → ${fe.pods.map((p) => p.name).join(', ')}; backend VIP ${be.vip}:${this.opts.vipPort} → ${be.pods.map((p) => p.name).join(', ')}`,
    );
    for (const svc of [be, fe]) {
      this.ctx.sink.event({
        kind: 'service.ready',
        time: now(),
        source: 'cluster',
        attrs: { service: svc.name, role: svc.role, vip: `${svc.vip}:${this.opts.vipPort}`, pods: svc.pods.map((p) => p.name), message: `service ${svc.name} ready at ${svc.vip}:${this.opts.vipPort} with ${svc.pods.length} pod(s)` },
      });
    }
    return {
      url: `http://${fe.vip}${this.opts.vipPort === 80 ? '' : `:${this.opts.vipPort}`}`,
      ports: [this.opts.vipPort, this.opts.podPort],
      ifaces: [this.bridge!, ...[...be.pods, ...fe.pods].map((p) => p.veth)],
      cidrs: [`198.18.${o}.0/24`, `198.19.${o}.0/24`],
    };
  }

  replicas(service: string): number {
    return this.svc(service).desired;
  }

  /** Accepts a new size and returns; pods start (ready, then routed) or drain in the background. */
  async scale(service: string, replicas: number): Promise<void> {
    const svc = this.svc(service);
    if (!Number.isInteger(replicas) || replicas < 0 || replicas > 64) throw new LoadscopeError('INTERNAL', `cannot scale ${service} to ${replicas} replicas (0..64)`);
    if (this.stopping || !this.started) throw new LoadscopeError('INTERNAL', `the local cluster is ${this.stopping ? 'stopping' : 'not started'}`);
    const from = svc.desired;
    svc.desired = replicas;
    if (from !== replicas) {
      this.ctx.sink.event({ kind: 'service.scaled', time: now(), source: 'cluster', attrs: { service, from, to: replicas, message: `Scaled ${service} from ${from} to ${replicas} replicas` } });
    }
    this.converge(svc);
  }

  /** Resolves when no pod is starting or terminating (every scale so far has converged). */
  async settled(): Promise<void> {
    while (this.ops.size > 0) await Promise.allSettled([...this.ops]);
  }

  async podMetrics(service: string): Promise<LocalPodSnapshot[]> {
    const svc = this.svc(service);
    return Promise.all(svc.pods.map((p) => this.snapshot(p)));
  }

  async counters(): Promise<ServiceCounters[]> {
    await this.settled();
    const out: ServiceCounters[] = [];
    for (const svc of this.services.values()) {
      for (const p of svc.pods) {
        if (!p.svc || p.tornDown) continue;
        const s = await this.scrape(p, true);
        out.push(this.countersOf(p, s));
      }
    }
    return [...out, ...this.finished];
  }

  stop(): Promise<void> {
    this.stopped ??= this.teardownAll();
    return this.stopped;
  }

  notices(): string[] {
    return [...this.noticeLines];
  }

  // ---- setup and teardown ----

  private async setUp(): Promise<void> {
    const layout = detectCgroups();
    if (typeof layout === 'string') throw new LoadscopeError('ENVIRONMENT', layout);
    this.layout = layout;
    this.claim = await claimRun(this.ctx.runId);
    const { tag, octet } = this.claim;
    this.tmp = join(tmpdir(), `loadscope-local-${tag}`);
    this.ledgerAdd(this.runResources, { kind: 'file', path: this.tmp });
    mkdirSync(this.tmp, { recursive: true });
    createRunCgroups(layout, tag, (dir) => this.ledgerAdd(this.runResources, { kind: 'cgroup', path: dir }));
    this.lbCgroup = new PodCgroup(layout, join(CGROUP_DIR, tag, 'lb'));
    this.lbCgroup.create({ requests: {}, limits: {} }, (dir) => this.ledgerAdd(this.runResources, { kind: 'cgroup', path: dir }));
    this.bridge = names.bridge(tag);
    this.ledgerAdd(this.runResources, { kind: 'link', name: this.bridge });
    await createBridge(this.bridge, `198.18.${octet}.1/24`, `198.19.${octet}.0/24`);
    this.lb = await this.ctx.balancer!.start({
      cgroupRoot: layout.unified,
      sampleEvery: this.opts.decisionSampleEvery,
      procsFiles: this.lbCgroup.procsFiles,
      onRecord: (r, time) => this.onBalancerRecord(r, time),
      onExit: (code, signal) => {
        if (this.stopping) return;
        this.ctx.sink.event({ kind: 'routing.failed', time: now(), source: 'cluster', attrs: { code, signal, message: `the eBPF load balancer exited (${signal ?? `code ${code}`}): VIPs no longer route` } });
      },
    });
    this.ledgerAdd(this.runResources, this.processResource(this.lb.pid));
    const b = this.spec.services.backend;
    const f = this.spec.services.frontend;
    const mk = (name: ServiceName, replicas: number, resources: PodResources, policy: boolean): Svc => ({
      name,
      role: name,
      id: SERVICE_IDS[name],
      vip: `198.19.${octet}.${VIP_HOST[name]}`,
      policy,
      desired: replicas,
      ordinal: 0,
      pods: [],
      generation: 0,
      routing: Promise.resolve(),
      resources,
      crashes: 0,
    });
    this.services.set('backend', mk('backend', b.replicas, b.resources, true));
    this.services.set('frontend', mk('frontend', f.replicas, f.resources, false));
    for (const svc of this.services.values()) {
      await this.lb.send(`service ${svc.id} ${svc.name} ${svc.vip}:${this.opts.vipPort} ${svc.policy ? 'policy' : 'open'}`);
    }
    this.noticeLines.push(
      `local cluster: pods in network namespaces on bridge ${this.bridge} (198.18.${octet}.0/24), services behind VIPs 198.19.${octet}.1 (frontend) and 198.19.${octet}.2 (backend) ` +
        `balanced per connection by an eBPF cgroup/connect4 program; only frontend pods may connect to the backend (policy); cgroups ${layout.kind === 'v2' ? 'v2' : 'v2 + v1 cpu/memory (hybrid)'}`,
    );
    if (b.rateLimit) this.noticeLines.push(`rate limit: each backend pod allows ${b.rateLimit.requestsPerSecond} requests/s per source (burst ${b.rateLimit.burst ?? Math.ceil(b.rateLimit.requestsPerSecond)}); refusals answer 429`);
  }

  private async teardownAll(): Promise<void> {
    this.stopping = true;
    if (this.sampler) clearInterval(this.sampler);
    this.life.abort(new Error('cluster stopping'));
    await this.settled();
    // Frontends first, so that nothing forwards to a backend that is already draining.
    for (const name of ['frontend', 'backend'] as const) {
      const svc = this.services.get(name);
      if (!svc) continue;
      await Promise.all(
        svc.pods.map(async (p) => {
          if (p.svc && !p.tornDown) {
            const exit = await p.svc.stop();
            this.finish(p, exit);
          }
          await this.teardownPod(p);
        }),
      );
      svc.pods = [];
    }
    if (this.lb) {
      await this.lb.stop();
      this.ledgerRemove(this.runResources, (r) => r.kind === 'process' && r.pid === this.lb!.pid);
    }
    if (this.bridge) await deleteLink(this.bridge);
    if (this.layout && this.claim) {
      await removeCgroupDirs(cgroupDirs(this.layout, join(CGROUP_DIR, this.claim.tag)));
      for (const dir of cgroupDirs(this.layout, CGROUP_DIR)) {
        try {
          rmdirSync(dir);
        } catch {
          // another run's cgroups are in it, or it is gone
        }
      }
    }
    if (this.tmp) rmSync(this.tmp, { recursive: true, force: true });
    this.ledgerRemove(this.runResources, () => true);
    this.claim?.release();
  }

  // ---- pods ----

  private svc(service: string): Svc {
    const s = this.services.get(service as ServiceName);
    if (!s) throw new LoadscopeError('INTERNAL', `the local cluster has no service "${service}" (backend, frontend)`);
    return s;
  }

  private allocIp(): string {
    const used = new Set([...this.services.values()].flatMap((s) => s.pods.map((p) => p.ip)));
    for (let i = 0; i < 253; i++) {
      const host = this.nextHost;
      this.nextHost = host >= 254 ? 2 : host + 1;
      const ip = `198.18.${this.claim!.octet}.${host}`;
      if (!used.has(ip)) return ip;
    }
    throw new LoadscopeError('INTERNAL', 'no free pod address left in the run\'s /24');
  }

  private newPod(svc: Svc): Pod {
    const { tag } = this.claim!;
    const seq = ++svc.ordinal;
    const name = `${svc.name}-${seq}`;
    const podSeq = [...this.services.values()].reduce((a, s) => a + s.ordinal, 0);
    const pod: Pod = {
      service: svc,
      name,
      seq,
      ip: this.allocIp(),
      netns: names.netns(tag, name),
      veth: names.veth(tag, podSeq),
      cgroup: new PodCgroup(this.layout!, join(CGROUP_DIR, tag, name)),
      metricsFile: join(this.tmp!, `${name}.prom`),
      phase: 'Pending',
      ready: false,
      terminating: false,
      startTime: now(),
      rateLimitedSeen: 0,
      ledgered: [],
      tornDown: false,
    };
    svc.pods.push(pod);
    this.ctx.sink.event({ kind: 'pod.created', time: pod.startTime, source: 'cluster', attrs: { service: svc.name, pod: name, ip: pod.ip, phase: 'Pending', message: `Created pod ${name} (${pod.ip})` } });
    pod.booting = this.boot(pod);
    this.track(pod.booting);
    return pod;
  }

  private podSpec(pod: Pod): ServiceSpec {
    const o = this.opts;
    const base = { name: pod.name, host: pod.ip, port: o.podPort, drainDelayMs: o.drainDelayMs, drainTimeoutMs: o.drainTimeoutMs };
    const extra = ['--metrics-at-exit', pod.metricsFile];
    if (pod.service.name === 'backend') {
      const b = this.spec.services.backend;
      if (o.maxRequestsPerConnection > 0) extra.push('--max-requests-per-socket', String(o.maxRequestsPerConnection));
      if (b.rateLimit) {
        extra.push('--rate-limit-rps', String(b.rateLimit.requestsPerSecond));
        if (b.rateLimit.burst !== undefined) extra.push('--rate-limit-burst', String(b.rateLimit.burst));
      }
      return { ...base, role: 'backend', config: { routes: b.routes, default: b.default }, extraArgs: extra };
    }
    const backend = this.svc('backend');
    return {
      ...base,
      role: 'frontend',
      backend: `http://${backend.vip}${o.vipPort === 80 ? '' : `:${o.vipPort}`}`,
      maxSockets: this.spec.services.frontend.maxSockets,
      extraArgs: extra,
    };
  }

  /** Network, cgroup and policy entries, then the process; once it answers /healthz it is ready and joins the routing table. */
  private async boot(pod: Pod): Promise<void> {
    const svc = pod.service;
    const lb = this.lb!;
    try {
      await this.limitStart(async () => {
        this.life.signal.throwIfAborted();
        this.ledgerAdd(pod.ledgered, { kind: 'netns', name: pod.netns });
        this.ledgerAdd(pod.ledgered, { kind: 'link', name: pod.veth });
        await createPodNet(pod.netns, pod.veth, this.bridge!, `${pod.ip}/24`);
        pod.cgroup.create(svc.resources, (dir) => this.ledgerAdd(pod.ledgered, { kind: 'cgroup', path: dir }));
        pod.cgroupId = pod.cgroup.id();
        await lb.send(`client ${pod.cgroupId} ${pod.name} ${pod.ip}`);
        if (svc.name === 'backend') await lb.send(`guard ${svc.id} ${pod.ip}:${this.opts.podPort}`);
        else await lb.send(`allow ${SERVICE_IDS.backend} ${pod.cgroupId}`);
        // The run's abort cancels a start; a started pod is stopped by stop() or terminate(), in order.
        const booting = new AbortController();
        const cancel = () => booting.abort(this.life.signal.reason);
        this.life.signal.addEventListener('abort', cancel, { once: true });
        const svcProcess = await startService(this.podSpec(pod), {
          signal: booting.signal,
          readyTimeoutMs: this.opts.readyTimeoutMs,
          command: ['sh', '-c', JOIN_CGROUPS, 'pod', 'ip', 'netns', 'exec', pod.netns],
          env: { LOADSCOPE_RUN_ID: this.ctx.runId, LS_CGROUP_PROCS: pod.cgroup.procsFiles.join(' ') },
        }).finally(() => this.life.signal.removeEventListener('abort', cancel));
        pod.svc = svcProcess;
        this.ledgerAdd(pod.ledgered, this.processResource(svcProcess.pid));
      });
    } catch (err) {
      pod.phase = 'Failed';
      pod.error = err;
      await this.teardownPod(pod);
      svc.pods = svc.pods.filter((p) => p !== pod);
      if (this.stopping) return;
      this.ctx.sink.event({ kind: 'pod.failed', time: now(), source: 'cluster', attrs: { service: svc.name, pod: pod.name, message: `pod ${pod.name} did not start: ${(err as Error).message.split('\n')[0]}` } });
      if (this.started) this.restartLater(svc);
      return;
    }
    const s = pod.svc!;
    pod.phase = 'Running';
    pod.readyTransitionTime = now();
    const startupMs = Math.round(pod.readyTransitionTime - pod.startTime);
    this.ctx.sink.event({
      kind: 'pod.ready',
      time: pod.readyTransitionTime,
      source: 'cluster',
      attrs: { service: svc.name, pod: pod.name, ip: pod.ip, url: s.url, pid: s.pid, startupMs, message: `pod ${pod.name} ready at ${s.url} after ${startupMs} ms` },
    });
    void s.exited.then((e) => this.exitedOnItsOwn(pod, e));
    if (pod.terminating || this.stopping) return;
    pod.ready = true;
    await this.route(svc, `pod ${pod.name} ready`);
  }

  private restartLater(svc: Svc): void {
    const delay = Math.min(MAX_RESTART_BACKOFF_MS, this.opts.restartBackoffMs * 2 ** Math.min(svc.crashes, 10));
    svc.crashes++;
    setTimeout(() => this.converge(svc), delay).unref();
  }

  private exitedOnItsOwn(pod: Pod, e: ServiceExit): void {
    if (pod.terminating || this.stopping || pod.tornDown) return;
    const svc = pod.service;
    const oom = pod.cgroup.oomKills() > 0;
    pod.phase = 'Failed';
    pod.ready = false;
    pod.terminating = true;
    this.ctx.sink.event({
      kind: 'pod.failed',
      time: now(),
      source: 'cluster',
      attrs: { service: svc.name, pod: pod.name, exitCode: e.exitCode, signal: e.signal, reason: oom ? 'OOMKilled' : 'Error', message: `pod ${pod.name} exited on its own (${oom ? 'OOMKilled' : e.signal ?? `exit code ${e.exitCode}`})` },
    });
    const done = (async () => {
      await this.route(svc, `pod ${pod.name} failed`);
      this.finish(pod, e);
      await this.teardownPod(pod);
      svc.pods = svc.pods.filter((p) => p !== pod);
      this.restartLater(svc);
    })();
    this.track(done);
  }

  /** Starts or stops pods until the live ones (starting or ready, not terminating) match the size. */
  private converge(svc: Svc): void {
    if (this.stopping || !this.started) return;
    const live = svc.pods.filter((p) => !p.terminating && p.phase !== 'Failed');
    for (let i = live.length; i < svc.desired; i++) this.newPod(svc);
    if (live.length > svc.desired) {
      // ReplicaSet order: pods not ready first, then the most recently ready.
      const victims = [...live].sort((a, b) => Number(a.ready) - Number(b.ready) || (b.readyTransitionTime ?? b.startTime) - (a.readyTransitionTime ?? a.startTime));
      for (const p of victims.slice(0, live.length - svc.desired)) this.track(this.terminate(p, 'scale down'));
    }
  }

  private track(op: Promise<void>): void {
    this.ops.add(op);
    void op.finally(() => this.ops.delete(op));
  }

  /** Out of the routing table first (no new connection reaches it), then SIGTERM: it drains and exits. */
  private async terminate(pod: Pod, reason: string): Promise<void> {
    const svc = pod.service;
    pod.terminating = true;
    pod.terminatingTime = now();
    const wasReady = pod.ready;
    pod.ready = false;
    this.ctx.sink.event({ kind: 'pod.terminating', time: pod.terminatingTime, source: 'cluster', attrs: { service: svc.name, pod: pod.name, reason, message: `Deleted pod ${pod.name} (${reason})` } });
    await pod.booting;
    if (!pod.svc || pod.phase === 'Failed' || pod.tornDown) return;
    if (wasReady) await this.route(svc, `pod ${pod.name} terminating`);
    const t0 = now();
    const exit = await pod.svc.stop();
    pod.phase = exit.exitCode === 0 ? 'Succeeded' : 'Failed';
    const drainMs = Math.round(now() - t0);
    this.ctx.sink.event({
      kind: 'pod.terminated',
      time: now(),
      source: 'cluster',
      attrs: { service: svc.name, pod: pod.name, exitCode: exit.exitCode, signal: exit.signal, drainMs, message: `pod ${pod.name} terminated (${exit.signal ?? `exit code ${exit.exitCode}`}) after a ${drainMs} ms drain` },
    });
    this.finish(pod, exit);
    await this.teardownPod(pod);
    svc.pods = svc.pods.filter((p) => p !== pod);
  }

  /** Final counters of an exited pod: its last /metrics (written at exit) and its cgroup's CPU time. */
  private finish(pod: Pod, _exit: ServiceExit): void {
    if (pod.tornDown) return;
    let samples: PromSample[] | undefined;
    try {
      samples = parseProm(readFileSync(pod.metricsFile, 'utf8'));
    } catch {
      // killed before it could write them: the last scrape stands
    }
    const s = samples ? this.fromSamples(samples) : pod.scrape;
    if (s) {
      this.ledgerRateLimited(pod, s);
      pod.scrape = s;
    }
    this.finished.push(this.countersOf(pod, s));
    const cpu = pod.cgroup.cpuSeconds();
    if (cpu !== undefined) this.ctx.sink.sample({ metric: 'pod.cpu_seconds', time: now(), value: cpu, tags: { service: pod.service.name, pod: pod.name } });
  }

  /** Removes the pod's policy entries, cgroup, namespace and veth, and its ledger entries. */
  private async teardownPod(pod: Pod): Promise<void> {
    if (pod.tornDown) return;
    pod.tornDown = true;
    const svc = pod.service;
    if (pod.cgroupId !== undefined && this.lb && !this.stopping) {
      const cmd = svc.name === 'backend' ? `unguard ${pod.ip}:${this.opts.podPort}` : `revoke ${SERVICE_IDS.backend} ${pod.cgroupId}`;
      await this.lb.send(cmd).catch(() => undefined);
    }
    await pod.cgroup.remove();
    await deletePodNet(pod.netns, pod.veth);
    rmSync(pod.metricsFile, { force: true });
    this.ledgerRemove(pod.ledgered, () => true);
  }

  /** Sends the routing table the ready, non-terminating pods of `svc`; one update at a time, in order. */
  private route(svc: Svc, reason: string): Promise<void> {
    const run = async () => {
      if (!this.lb || this.stopping) return;
      const pods = svc.pods.filter((p) => p.ready && !p.terminating && p.svc);
      const generation = ++svc.generation;
      const t0 = now();
      try {
        await this.lb.send(`backends ${svc.id} ${generation} ${pods.map((p) => `${p.name}=${p.ip}:${this.opts.podPort}`).join(' ')}`.trim());
      } catch (err) {
        this.ctx.sink.event({ kind: 'routing.failed', time: now(), source: 'cluster', attrs: { service: svc.name, reason, message: `routing update failed: ${(err as Error).message}` } });
        return;
      }
      this.ctx.sink.event({
        kind: 'routing.update',
        time: now(),
        source: 'cluster',
        attrs: {
          service: svc.name,
          via: 'ebpf',
          vip: `${svc.vip}:${this.opts.vipPort}`,
          generation,
          pods: pods.map((p) => p.name),
          backends: pods.map((p) => `${p.ip}:${this.opts.podPort}`),
          reason,
          tookMs: Math.round((now() - t0) * 1000) / 1000,
          message: `${svc.name} VIP ${svc.vip}:${this.opts.vipPort} routes to ${pods.length ? pods.map((p) => p.name).join(', ') : 'no pod'} (${reason})`,
        },
      });
    };
    svc.routing = svc.routing.then(run, run);
    return svc.routing;
  }

  // ---- metrics ----

  private fromSamples(m: PromSample[]): Scrape {
    return {
      time: now(),
      requestsServed: sumMetric(m, 'loadscope_http_requests_total'),
      requestsAborted: sumMetric(m, 'loadscope_http_requests_aborted_total'),
      rssBytes: sumMetric(m, 'process_resident_memory_bytes'),
      rateLimited: sumMetric(m, 'loadscope_ratelimit_refused_total'),
    };
  }

  /** The pod's /metrics, read at most every 500 ms (or now when `fresh`); the last reading when it cannot be read. */
  private scrape(pod: Pod, fresh = false): Promise<Scrape | undefined> {
    if (!pod.svc || pod.tornDown) return Promise.resolve(pod.scrape);
    if (!fresh && pod.scrape && now() - pod.scrape.time < SCRAPE_MAX_AGE_MS) return Promise.resolve(pod.scrape);
    if (pod.scraping) return pod.scraping;
    const svc = pod.svc;
    pod.scraping = (async () => {
      try {
        const m = await Promise.race([svc.scrape(), new Promise<never>((_, reject) => setTimeout(() => reject(new Error('scrape timeout')), SCRAPE_TIMEOUT_MS).unref())]);
        pod.scrape = this.fromSamples(m);
      } catch {
        // draining, gone or busy: keep the last reading
      }
      return pod.scrape;
    })().finally(() => (pod.scraping = undefined));
    return pod.scraping;
  }

  private async snapshot(p: Pod): Promise<LocalPodSnapshot> {
    const s = p.phase === 'Running' ? await this.scrape(p) : p.scrape;
    const r = p.service.resources;
    return {
      service: p.service.name,
      pod: p.name,
      role: p.service.role,
      ip: p.ip,
      phase: p.phase,
      ready: p.ready,
      terminating: p.terminating,
      startTime: p.startTime,
      ...(p.readyTransitionTime !== undefined ? { readyTransitionTime: p.readyTransitionTime } : {}),
      ...(p.terminatingTime !== undefined ? { terminatingTime: p.terminatingTime } : {}),
      time: now(),
      cpuSeconds: p.tornDown ? 0 : p.cgroup.cpuSeconds() ?? 0,
      memoryBytes: p.tornDown ? 0 : p.cgroup.memoryBytes() ?? 0,
      workingSetBytes: p.tornDown ? 0 : p.cgroup.workingSetBytes() ?? 0,
      requestsServed: s?.requestsServed ?? 0,
      requests: { ...(r.requests.cpu !== undefined ? { cpuMillis: r.requests.cpu } : {}), ...(r.requests.memory !== undefined ? { memoryBytes: r.requests.memory } : {}) },
      limits: { ...(r.limits.cpu !== undefined ? { cpuMillis: r.limits.cpu } : {}), ...(r.limits.memory !== undefined ? { memoryBytes: r.limits.memory } : {}) },
    };
  }

  private countersOf(p: Pod, s: Scrape | undefined): ServiceCounters {
    return {
      service: p.service.name,
      role: p.service.role,
      pod: p.name,
      requestsServed: s?.requestsServed ?? 0,
      requestsAborted: s?.requestsAborted ?? 0,
      cpuSeconds: p.tornDown ? 0 : p.cgroup.cpuSeconds() ?? 0,
      rssBytes: s?.rssBytes ?? 0,
    };
  }

  private ledgerRateLimited(p: Pod, s: Scrape): void {
    const delta = s.rateLimited - p.rateLimitedSeen;
    if (delta <= 0) return;
    p.rateLimitedSeen = s.rateLimited;
    this.ctx.sink.sample({ metric: 'routing.ratelimited', time: s.time, value: delta, tags: { service: p.service.name, pod: p.name } });
  }

  private async sample(): Promise<void> {
    if (this.stopping) return;
    const pods = [...this.services.values()].flatMap((s) => s.pods).filter((p) => !p.tornDown && p.cgroupId !== undefined);
    const t = now();
    for (const p of pods) {
      const tags = { service: p.service.name, pod: p.name };
      const cpu = p.cgroup.cpuSeconds();
      const mem = p.cgroup.memoryBytes();
      if (cpu !== undefined) this.ctx.sink.sample({ metric: 'pod.cpu_seconds', time: t, value: cpu, tags });
      if (mem !== undefined) this.ctx.sink.sample({ metric: 'pod.memory_bytes', time: t, value: mem, tags });
    }
    await Promise.all(
      pods
        .filter((p) => p.phase === 'Running')
        .map(async (p) => {
          const s = await this.scrape(p);
          if (!s || this.stopping) return;
          this.ctx.sink.sample({ metric: 'pod.requests_served', time: s.time, value: s.requestsServed, tags: { service: p.service.name, pod: p.name } });
          this.ledgerRateLimited(p, s);
        }),
    );
  }

  // ---- the loader's records ----

  private onBalancerRecord(r: BalancerRecord, time: number): void {
    const sink = this.ctx.sink;
    const str = (k: string) => (typeof r[k] === 'string' ? (r[k] as string) : '');
    switch (r.t) {
      case 'lb':
        sink.sample({
          metric: 'routing.decision',
          time,
          value: 1,
          tags: { service: str('service'), pod: str('pod') },
          meta: { client: str('client_pod'), clientIp: str('client'), vip: `${str('vip')}:${String(r.vport)}`, backend: `${str('backend')}:${String(r.bport)}`, generation: r.gen },
        });
        return;
      case 'count': {
        const tags = (r.tags ?? {}) as Record<string, string>;
        const metric = r.m === 'lb.connections' ? 'routing.connections' : r.m === 'lb.policy_drops' ? 'routing.policy_drops' : r.m === 'lb.no_backend' ? 'routing.no_backend' : undefined;
        if (!metric || typeof r.v !== 'number') return;
        const t = { service: tags.service ?? '', ...(metric === 'routing.connections' ? { pod: tags.pod ?? '' } : { client: tags.client ?? '' }) };
        sink.sample({ metric, time, value: r.v, tags: t, meta: { windowMs: Number(r.d) / 1e6, ...(tags.backend ? { backend: tags.backend } : {}) } });
        return;
      }
      case 'policy_drop':
      case 'no_backend': {
        if (this.refusalEvents >= MAX_REFUSAL_EVENTS) {
          this.refusalsSuppressed++;
          return;
        }
        this.refusalEvents++;
        const policy = r.t === 'policy_drop';
        sink.event({
          kind: policy ? 'routing.policy_drop' : 'routing.no_backend',
          time,
          source: 'cluster',
          attrs: {
            service: str('service'),
            dst: `${str('dst')}:${String(r.dport)}`,
            client: str('client'),
            pid: r.pid,
            comm: str('comm'),
            message: policy
              ? `policy refused a connection from ${str('client')} (${str('comm')}, pid ${String(r.pid)}) to ${str('service')} at ${str('dst')}:${String(r.dport)}`
              : `no ready ${str('service')} pod for a connection from ${str('client')} to ${str('dst')}:${String(r.dport)}`,
          },
        });
        return;
      }
      case 'lost':
        sink.event({ kind: 'routing.lost', time, source: 'cluster', attrs: { what: r.what, n: r.n, total: r.total, message: `eBPF load balancer lost ${String(r.n)} record(s) (${str('what')})` } });
        return;
      case 'error':
        sink.event({ kind: 'routing.error', time, source: 'cluster', attrs: { message: `eBPF load balancer: ${str('msg')}` } });
        return;
      case 'end':
        sink.event({
          kind: 'routing.stopped',
          time,
          source: 'cluster',
          attrs: { decisions: r.decisions, lost: r.lost, cpuSeconds: r.cpu_s, refusalEventsSuppressed: this.refusalsSuppressed, message: `eBPF load balancer detached after ${String(r.decisions)} routing decision(s)` },
        });
        return;
    }
  }

  // ---- ledger ----

  private processResource(pid: number): Resource {
    return { kind: 'process', pid, startTime: processStartTime(pid) ?? '' };
  }

  private ledgerAdd(list: Resource[], r: Resource): void {
    list.push(r);
    this.ctx.ledger.add(r);
  }

  private ledgerRemove(list: Resource[], match: (r: Resource) => boolean): void {
    const gone = list.filter(match);
    if (gone.length === 0) return;
    this.ctx.ledger.remove((r) => gone.some((g) => JSON.stringify(g) === JSON.stringify(r)));
    for (const g of gone) list.splice(list.indexOf(g), 1);
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
