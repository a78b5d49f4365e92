import { mkdirSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { now } from '../../core/clock.ts';
import { LoadscopeError } from '../../core/errors.ts';
import type { PodMetricsSource, Scalable } from '../../core/workload.ts';
import type { FaultablePods, FaultPod, Undo } from '../../core/faults.ts';
import type { ScenarioSpec } from '../../scenario/schema.ts';
import type { Cluster, ClusterContext, ClusterTarget, ServiceCounters } from '../cluster.ts';
import { ProcessPodFaults } from '../faults.ts';
import { ReplicaSets } from '../replicaset.ts';
import { CGROUP_DIR, cgroupDirs, createRunCgroups, detectCgroups, PodCgroup, removeCgroupDirs, type CgroupLayout } from './cgroup.ts';
import { Listed } from './listed.ts';
import { createBridge, deleteLink, names } from './net.ts';
import { NetnsPods, SERVICE_IDS, type NetnsPod, type NetnsRun, type NetnsService } from './pods.ts';
import { localUnavailable } from './resolve.ts';
import { claimRun, sweepLocalLeftovers, type RunClaim } from './sweep.ts';
import { balancerJournal } from './records.ts';
import { LOCAL_SETTINGS, type LocalPodSnapshot } from './types.ts';

// The embedded local cluster: every replica ("pod") of the frontend and the backend is a service
// process in its own network namespace and cgroup (the netns pod driver, pods.ts), on a bridge the run
// creates (198.18.x.0/24). Each service has a virtual IP (198.19.x.1 frontend, 198.19.x.2 backend) that
// no interface owns: the eBPF program of bpf/lb (cgroup/connect4 on the cgroup v2 root) rewrites every
// connect() to a VIP to one ready pod, from a routing table the driver keeps in a BPF map, and refuses
// connections to the backend (VIP or pods) from anything but frontend pods. See docs/cluster.md.

const VIP_HOST = { frontend: 1, backend: 2 } as const;

/**
 * LocalCluster: the scenario's services as pods in network namespaces behind eBPF-balanced VIPs.
 * Scalable (scale() accepts the size and returns; pods converge in the background, `settled()`
 * waits for them) and a PodMetricsSource for the autoscaler. Journals pod.* and routing.* events
 * and samples (docs/cluster.md). Needs root; resolveClusterMode() says whether it can run.
 */
export class LocalCluster implements Cluster, Scalable, PodMetricsSource, FaultablePods {
  readonly mode = 'local';
  private readonly opts = LOCAL_SETTINGS;
  private layout?: CgroupLayout;
  private claim?: RunClaim;
  private run?: NetnsRun;
  private lbCgroup?: PodCgroup;
  private tmp?: string;
  private bridge?: string;
  private driver?: NetnsPods;
  private sets?: ReplicaSets<NetnsPod>;
  private sampler?: NodeJS.Timeout;
  private stopping = false;
  private stopped?: Promise<void>;
  private readonly runResources: Listed;
  private readonly noticeLines: string[] = [];
  private faults?: ProcessPodFaults<NetnsPod>;

  constructor(private readonly spec: ScenarioSpec, private readonly ctx: ClusterContext) {
    this.runResources = new Listed(ctx.ledger);
  }

  /** The run's tag, subnet octet, names, processes and BPF links (for tests and diagnostics); undefined before start. */
  info():
    | { tag: string; octet: number; bridge: string; cgroups: string[]; vips: Record<'backend' | 'frontend', string>; loaderPid: number; podPids: number[]; bpfLinks: number[]; netns: string[] }
    | undefined {
    if (!this.run || !this.sets) return undefined;
    const { tag, octet, layout, lb } = this.run;
    const pods = this.sets.all();
    return {
      tag,
      octet,
      bridge: names.bridge(tag),
      cgroups: cgroupDirs(layout, join(CGROUP_DIR, tag)),
      vips: { frontend: `198.19.${octet}.${VIP_HOST.frontend}:${this.opts.vipPort}`, backend: `198.19.${octet}.${VIP_HOST.backend}:${this.opts.vipPort}` },
      loaderPid: lb.pid,
      podPids: pods.flatMap((p) => (p.svc ? [p.svc.pid] : [])),
      bpfLinks: Array.isArray(lb.ready?.links) ? (lb.ready.links as number[]) : [],
      netns: pods.map((p) => p.netns),
    };
  }

  async start(signal: AbortSignal): Promise<ClusterTarget> {
    const why = localUnavailable(this.ctx.balancer);
    if (why) throw new LoadscopeError('ENVIRONMENT', `the local cluster cannot run here: ${why}`, { hint: 'use cluster.mode auto (falls back to loopback) or loopback' });
    const cancel = () => this.sets?.abort(signal.reason);
    signal.throwIfAborted();
    signal.addEventListener('abort', cancel, { once: true });
    try {
      for (const line of await sweepLocalLeftovers()) this.ctx.onStatus(`cleanup: ${line} (left by a dead local cluster)`);
      await this.setUp();
      signal.throwIfAborted();
      const b = this.spec.services.backend;
      const f = this.spec.services.frontend;
      this.ctx.onStatus(`starting the local cluster on 198.18.${this.run!.octet}.0/24: ${b.replicas} backend and ${f.replicas} frontend pod(s), eBPF load balancing and policy`);
      for (const service of ['backend', 'frontend']) await this.sets!.boot(service);
      this.sets!.goLive();
    } catch (err) {
      await this.stop();
      throw err;
    } finally {
      signal.removeEventListener('abort', cancel);
    }
    this.sampler = setInterval(() => void this.sample(), this.opts.sampleIntervalMs);
    this.sampler.unref();
    const o = this.run!.octet;
    const fe = this.driver!.service('frontend');
    const be = this.driver!.service('backend');
    const vip = (svc: NetnsService) => `${svc.vip}:${this.opts.vipPort}`;
    const podsOf = (svc: NetnsService) => this.sets!.pods(svc.name);
    this.ctx.onStatus(`local cluster ready: frontend VIP ${vip(fe)} → ${podsOf(fe).map((p) => p.name).join(', ')}; backend VIP ${vip(be)} → ${podsOf(be).map((p) => p.name).join(', ')}`);
    for (const svc of [be, fe]) {
      const pods = podsOf(svc).map((p) => p.name);
      this.ctx.sink.event({
        kind: 'service.ready',
        time: now(),
        source: 'cluster',
        attrs: { service: svc.name, role: svc.role, vip: vip(svc), pods, message: `service ${svc.name} ready at ${vip(svc)} with ${pods.length} pod(s)` },
      });
    }
    return {
      url: `http://${fe.vip}${this.opts.vipPort === 80 ? '' : `:${this.opts.vipPort}`}`,
      ports: [this.opts.vipPort, this.opts.podPort],
      // the pods of now by name (the probes' fast path), and the pods started later by the pattern
      ifaces: [this.bridge!, ...[...podsOf(be), ...podsOf(fe)].map((p) => p.veth), names.vethPattern(this.run!.tag)],
      cidrs: [`198.18.${o}.0/24`, `198.19.${o}.0/24`],
    };
  }

  replicas(service: string): number {
    return this.replicaSets(service).replicas(service);
  }

  /** Accepts a new size and returns; pods start (ready, then routed) or drain in the background. */
  async scale(service: string, replicas: number): Promise<void> {
    const sets = this.replicaSets(service);
    if (!Number.isInteger(replicas) || replicas < 0 || replicas > 64) throw new LoadscopeError('INTERNAL', `cannot scale ${service} to ${replicas} replicas (0..64)`);
    if (!sets.live) throw new LoadscopeError('INTERNAL', `the local cluster is ${sets.stopping ? 'stopping' : 'not started'}`);
    sets.scale(service, replicas);
  }

  /** Resolves when no pod is starting or terminating (every scale so far has converged). */
  async settled(): Promise<void> {
    await this.sets?.settled();
  }

  async podMetrics(service: string): Promise<LocalPodSnapshot[]> {
    return Promise.all(this.replicaSets(service).pods(service).map((p) => this.snapshot(p)));
  }

  async counters(): Promise<ServiceCounters[]> {
    return this.sets ? this.sets.counters() : [];
  }

  faultPods(service: string): FaultPod[] {
    return this.podFaults(service).faultPods(service);
  }

  killPod(service: string, pod: string): Promise<void> {
    return this.podFaults(service).killPod(service, pod);
  }

  pausePod(service: string, pod: string): Promise<Undo> {
    return this.podFaults(service).pausePod(service, pod);
  }

  private podFaults(service: string): ProcessPodFaults<NetnsPod> {
    const sets = this.replicaSets(service);
    this.faults ??= new ProcessPodFaults((svc) => sets.pods(svc), this.runResources, (p) => ({ veth: p.veth, inside: { dev: 'eth0', netns: p.netns } }));
    return this.faults;
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
    this.runResources.add({ kind: 'file', path: this.tmp });
    mkdirSync(this.tmp, { recursive: true });
    createRunCgroups(layout, tag, (dir) => this.runResources.add({ kind: 'cgroup', path: dir }));
    this.lbCgroup = new PodCgroup(layout, join(CGROUP_DIR, tag, 'lb'));
    this.lbCgroup.create({ requests: {}, limits: {} }, (dir) => this.runResources.add({ kind: 'cgroup', path: dir }));
    this.bridge = names.bridge(tag);
    this.runResources.add({ kind: 'link', name: this.bridge });
    await createBridge(this.bridge, `198.18.${octet}.1/24`, `198.19.${octet}.0/24`);
    const lb = await this.ctx.balancer!.start({
      cgroupRoot: layout.unified,
      sampleEvery: this.opts.decisionSampleEvery,
      procsFiles: this.lbCgroup.procsFiles,
      onRecord: balancerJournal(this.ctx.sink),
      onExit: (code, signal) => {
        if (this.stopping) return;
        this.ctx.sink.event({ kind: 'routing.failed', time: now(), source: 'cluster', attrs: { code, signal, message: `the eBPF load balancer exited (${signal ?? `code ${code}`}): VIPs no longer route` } });
      },
    });
    this.runResources.addProcess(lb.pid);
    const b = this.spec.services.backend;
    const f = this.spec.services.frontend;
    const services = new Map<string, NetnsService>();
    for (const [name, resources] of [['backend', b.resources], ['frontend', f.resources]] as const) {
      services.set(name, { name, role: name, id: SERVICE_IDS[name], vip: `198.19.${octet}.${VIP_HOST[name]}`, resources, generation: 0 });
    }
    this.run = { layout, tag, octet, tmp: this.tmp, bridge: this.bridge, lb, services };
    this.driver = new NetnsPods(this.run, this.spec, this.ctx);
    const probes = { backend: b.readinessProbe, frontend: f.readinessProbe };
    this.sets = new ReplicaSets(this.driver, this.ctx.sink, {
      cluster: 'local',
      startsAtOnce: 4,
      restartBackoffMs: this.opts.restartBackoffMs,
      maxRestartBackoffMs: 30_000,
      readiness: (service) => {
        const r = probes[service as keyof typeof probes];
        return { periodMs: r.periodSeconds * 1000, timeoutMs: r.timeoutSeconds * 1000, failureThreshold: r.failureThreshold, successThreshold: r.successThreshold };
      },
    });
    this.sets.add('backend', b.replicas);
    this.sets.add('frontend', f.replicas);
    for (const svc of services.values()) {
      // Only frontend pods may connect to the backend (policy); the frontend is open.
      await lb.send(`service ${svc.id} ${svc.name} ${svc.vip}:${this.opts.vipPort} ${svc.name === 'backend' ? 'policy' : 'open'}`);
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
    // a stopped pod could not drain: continue it first
    await this.faults?.resumeAll();
    // Frontends first, so that nothing forwards to a backend that is already draining.
    await this.sets?.stop(['frontend', 'backend']);
    const lb = this.run?.lb;
    if (lb) {
      await lb.stop();
      this.runResources.remove((r) => r.kind === 'process' && r.pid === lb.pid);
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
    this.runResources.remove();
    this.claim?.release();
  }

  /** The replica sets, which exist once the run's network and balancer are up. */
  private replicaSets(service: string): ReplicaSets<NetnsPod> {
    if (!this.sets) throw new LoadscopeError('INTERNAL', `the local cluster has no service "${service}" (backend, frontend)`);
    return this.sets;
  }

  // ---- metrics ----

  private async snapshot(p: NetnsPod): Promise<LocalPodSnapshot> {
    const s = p.phase === 'Running' ? await this.driver!.read(p) : p.scrape.last;
    const svc = this.driver!.service(p.service);
    const r = svc.resources;
    return {
      service: p.service,
      pod: p.name,
      role: svc.role,
      ip: p.ip,
      phase: p.phase,
      ready: p.ready,
      terminating: p.terminating,
      startTime: p.startTime,
      ...(p.readyTransitionTime !== undefined ? { readyTransitionTime: p.readyTransitionTime } : {}),
      ...(p.terminatingTime !== undefined ? { terminatingTime: p.terminatingTime } : {}),
      time: now(),
      cpuSeconds: p.removed ? 0 : p.cgroup.cpuSeconds() ?? 0,
      memoryBytes: p.removed ? 0 : p.cgroup.workingSetBytes() ?? 0,
      requestsServed: s?.requestsServed ?? 0,
      requests: { ...(r.requests.cpu !== undefined ? { cpuMillis: r.requests.cpu } : {}), ...(r.requests.memory !== undefined ? { memoryBytes: r.requests.memory } : {}) },
      limits: { ...(r.limits.cpu !== undefined ? { cpuMillis: r.limits.cpu } : {}), ...(r.limits.memory !== undefined ? { memoryBytes: r.limits.memory } : {}) },
    };
  }

  private async sample(): Promise<void> {
    if (this.stopping || !this.sets || !this.driver) return;
    const driver = this.driver;
    const pods = this.sets.all().filter((p) => !p.removed && p.cgroupId !== undefined);
    const t = now();
    for (const p of pods) {
      const tags = { service: p.service, pod: p.name };
      const cpu = p.cgroup.cpuSeconds();
      const mem = p.cgroup.workingSetBytes();
      if (cpu !== undefined) this.ctx.sink.sample({ metric: 'pod.cpu_seconds', time: t, value: cpu, tags });
      if (mem !== undefined) this.ctx.sink.sample({ metric: 'pod.memory_bytes', time: t, value: mem, tags });
    }
    await Promise.all(
      pods
        .filter((p) => p.phase === 'Running')
        .map(async (p) => {
          const s = await driver.read(p);
          if (!s || this.stopping) return;
          this.ctx.sink.sample({ metric: 'pod.requests_served', time: s.time, value: s.requestsServed, tags: { service: p.service, pod: p.name } });
          driver.journalRateLimited(p, s);
        }),
    );
  }
}

