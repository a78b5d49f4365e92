import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { now } from '../../core/clock.ts';
import { LoadscopeError } from '../../core/errors.ts';
import { JOIN_CGROUPS, type Balancer } from '../../core/balancer.ts';
import type { ServiceRole } from '../../core/services.ts';
import type { ScenarioSpec } from '../../scenario/schema.ts';
import type { ClusterContext, ServiceCounters } from '../cluster.ts';
import { startService } from '../process.ts';
import { parseProm, sumMetric } from '../prom.ts';
import { Reading } from '../reading.ts';
import type { Pod, PodDriver, RouteUpdate } from '../replicaset.ts';
import type { PromSample, RunningService, ServiceSpec } from '../types.ts';
import { CGROUP_DIR, PodCgroup, type CgroupLayout, type PodResources } from './cgroup.ts';
import { Listed } from './listed.ts';
import { createPodNet, deletePodNet, names } from './net.ts';
import { LOCAL_SETTINGS } from './types.ts';

// The netns pod driver of the local cluster: a pod is a service process in its own network namespace
// (a veth on the run's bridge, an address in 198.18.<octet>.0/24) and cgroup, known to the eBPF
// balancer as a client (its cgroup id), guarded (backend) or allowed to the backend (frontend); a
// service's routing is the balancer's table for its VIP.

const SCRAPE_MAX_AGE_MS = 500;
const SCRAPE_TIMEOUT_MS = 900;
/** The balancer's service ids. */
export const SERVICE_IDS = { backend: 1, frontend: 2 } as const;

/** What a pod's /metrics said last. */
interface Scrape {
  time: number;
  requestsServed: number;
  requestsAborted: number;
  rssBytes: number;
  rateLimited: number;
}

/** A service of the local cluster as the balancer knows it. */
export interface NetnsService {
  name: keyof typeof SERVICE_IDS;
  role: ServiceRole;
  id: number;
  vip: string;
  resources: PodResources;
  /** The balancer's table generation for the VIP. */
  generation: number;
}

/** A pod in a network namespace and a cgroup. */
export interface NetnsPod extends Pod {
  readonly ip: string;
  netns: string;
  veth: string;
  cgroup: PodCgroup;
  cgroupId?: bigint;
  metricsFile: string;
  scrape: Reading<Scrape>;
  /** Rate-limit refusals already journalled (routing.ratelimited carries deltas). */
  rateLimitedSeen: number;
  /** What the pod created, in the ledger until it is removed. */
  listed: Listed;
}

/** What the run set up for its pods: cgroups, the run's tag and /24, a scratch directory, the bridge and the balancer. */
export interface NetnsRun {
  layout: CgroupLayout;
  tag: string;
  octet: number;
  tmp: string;
  bridge: string;
  lb: Balancer;
  services: Map<string, NetnsService>;
}

/** Creates, starts, routes (the balancer's VIP table) and removes pods in network namespaces. */
export class NetnsPods implements PodDriver<NetnsPod> {
  private nextHost = 2;
  private created = 0;
  private readonly ips = new Set<string>();
  private readonly opts = LOCAL_SETTINGS;

  constructor(
    private readonly run: NetnsRun,
    private readonly spec: ScenarioSpec,
    private readonly ctx: ClusterContext,
  ) {}

  service(name: string): NetnsService {
    return this.run.services.get(name)!;
  }

  create(pod: Pod): NetnsPod {
    const { tag, layout, tmp } = this.run;
    return {
      ...pod,
      ip: this.allocIp(),
      netns: names.netns(tag, pod.name),
      veth: names.veth(tag, ++this.created),
      cgroup: new PodCgroup(layout, join(CGROUP_DIR, tag, pod.name)),
      metricsFile: join(tmp, `${pod.name}.prom`),
      scrape: new Reading<Scrape>(SCRAPE_MAX_AGE_MS),
      rateLimitedSeen: 0,
      listed: new Listed(this.ctx.ledger),
    };
  }

  /** Network, cgroup and policy entries, then the process, ready once it answers /healthz. */
  async start(pod: NetnsPod, signal: AbortSignal): Promise<RunningService> {
    const svc = this.service(pod.service);
    const lb = this.run.lb;
    pod.listed.add({ kind: 'netns', name: pod.netns });
    pod.listed.add({ kind: 'link', name: pod.veth });
    await createPodNet(pod.netns, pod.veth, this.run.bridge, `${pod.ip}/24`);
    pod.cgroup.create(svc.resources, (dir) => pod.listed.add({ kind: 'cgroup', path: dir }));
    pod.cgroupId = pod.cgroup.id();
    await lb.send(`client ${pod.cgroupId} ${pod.name} ${pod.ip}`);
    if (svc.name === 'backend') await lb.send(`guard ${svc.id} ${pod.ip}:${this.opts.podPort}`);
    else await lb.send(`allow ${SERVICE_IDS.backend} ${pod.cgroupId}`);
    const s = await startService(this.podSpec(pod), {
      signal,
      readyTimeoutMs: this.opts.readyTimeoutMs,
      command: ['sh', '-c', JOIN_CGROUPS, 'pod', 'ip', 'netns', 'exec', pod.netns],
      env: { LOADSCOPE_RUN_ID: this.ctx.runId, LS_CGROUP_PROCS: pod.cgroup.procsFiles.join(' ') },
    });
    pod.listed.addProcess(s.pid);
    return s;
  }

  /** One table update for the service's VIP, acknowledged by the balancer. */
  async route(service: string, pods: NetnsPod[]): Promise<RouteUpdate> {
    const svc = this.service(service);
    const port = this.opts.podPort;
    const generation = ++svc.generation;
    await this.run.lb.send(`backends ${svc.id} ${generation} ${pods.map((p) => `${p.name}=${p.ip}:${port}`).join(' ')}`.trim());
    const vip = `${svc.vip}:${this.opts.vipPort}`;
    return { attrs: { via: 'ebpf', vip, generation, backends: pods.map((p) => `${p.ip}:${port}`) }, router: `${svc.name} VIP ${vip}`, none: 'no pod' };
  }

  /** Final counters of an exited pod: its last /metrics (written at exit) and its cgroup's CPU time. */
  finish(pod: NetnsPod): ServiceCounters {
    let samples: PromSample[] | undefined;
    try {
      samples = parseProm(readFileSync(pod.metricsFile, 'utf8'));
    } catch {
      // killed before it could write them: the last scrape stands
    }
    const s = samples ? fromSamples(samples) : pod.scrape.last;
    if (s) {
      this.journalRateLimited(pod, s);
      pod.scrape.last = s;
    }
    const cpu = pod.cgroup.cpuSeconds();
    if (cpu !== undefined) this.ctx.sink.sample({ metric: 'pod.cpu_seconds', time: now(), value: cpu, tags: { service: pod.service, pod: pod.name } });
    return this.countersOf(pod, s);
  }

  async counters(pod: NetnsPod): Promise<ServiceCounters> {
    return this.countersOf(pod, await this.read(pod, true));
  }

  /** The pod's policy entries (unless the whole run goes), cgroup, namespace and veth, and its ledger entries. */
  async remove(pod: NetnsPod, stopping: boolean): Promise<void> {
    if (pod.cgroupId !== undefined && !stopping) {
      const cmd = pod.service === 'backend' ? `unguard ${pod.ip}:${this.opts.podPort}` : `revoke ${SERVICE_IDS.backend} ${pod.cgroupId}`;
      await this.run.lb.send(cmd).catch(() => undefined);
    }
    await pod.cgroup.remove();
    await deletePodNet(pod.netns, pod.veth);
    rmSync(pod.metricsFile, { force: true });
    pod.listed.remove();
    this.ips.delete(pod.ip);
  }

  oomKilled(pod: NetnsPod): boolean {
    return pod.cgroup.oomKills() > 0;
  }

  /** The pod's /metrics, read at most every 500 ms (or now when `fresh`); the last reading when it cannot be read. */
  read(pod: NetnsPod, fresh = false): Promise<Scrape | undefined> {
    const svc = pod.svc;
    if (!svc || pod.removed) return Promise.resolve(pod.scrape.last);
    const timeout = () => new Promise<never>((_, reject) => setTimeout(() => reject(new Error('scrape timeout')), SCRAPE_TIMEOUT_MS).unref());
    return pod.scrape.get(async () => fromSamples(await Promise.race([svc.scrape(), timeout()])), fresh);
  }

  /** New rate-limit refusals since the last reading, as a routing.ratelimited sample. */
  journalRateLimited(p: NetnsPod, s: Scrape): void {
    const delta = s.rateLimited - p.rateLimitedSeen;
    if (delta <= 0) return;
    p.rateLimitedSeen = s.rateLimited;
    this.ctx.sink.sample({ metric: 'routing.ratelimited', time: s.time, value: delta, tags: { service: p.service, pod: p.name } });
  }

  private countersOf(p: NetnsPod, s: Scrape | undefined): ServiceCounters {
    return {
      service: p.service,
      role: this.service(p.service).role,
      pod: p.name,
      requestsServed: s?.requestsServed ?? 0,
      requestsAborted: s?.requestsAborted ?? 0,
      cpuSeconds: p.removed ? 0 : p.cgroup.cpuSeconds() ?? 0,
      rssBytes: s?.rssBytes ?? 0,
    };
  }

  private allocIp(): string {
    for (let i = 0; i < 253; i++) {
      const host = this.nextHost;
      this.nextHost = host >= 254 ? 2 : host + 1;
      const ip = `198.18.${this.run.octet}.${host}`;
      if (!this.ips.has(ip)) {
        this.ips.add(ip);
        return ip;
      }
    }
    throw new LoadscopeError('INTERNAL', "no free pod address left in the run's /24");
  }

  private podSpec(pod: NetnsPod): ServiceSpec {
    const o = this.opts;
    // the host reaches a pod from its bridge address: the one peer besides loopback its control endpoints answer
    const base = { name: pod.name, host: pod.ip, port: o.podPort, drainDelayMs: o.drainDelayMs, drainTimeoutMs: o.drainTimeoutMs, metricsAtExit: pod.metricsFile, controlFrom: [`198.18.${this.run.octet}.1`] };
    if (pod.service === 'backend') {
      const b = this.spec.services.backend;
      return { ...base, role: 'backend', config: { routes: b.routes, default: b.default }, rateLimit: b.rateLimit, maxRequestsPerSocket: o.maxRequestsPerConnection };
    }
    const backend = this.service('backend');
    return { ...base, role: 'frontend', backend: `http://${backend.vip}${o.vipPort === 80 ? '' : `:${o.vipPort}`}`, maxSockets: this.spec.services.frontend.maxSockets };
  }
}

function fromSamples(m: PromSample[]): Scrape {
  return {
    time: now(),
    requestsServed: sumMetric(m, 'loadscope_http_requests_total'),
    requestsAborted: sumMetric(m, 'loadscope_http_requests_aborted_total'),
    rssBytes: sumMetric(m, 'process_resident_memory_bytes'),
    rateLimited: sumMetric(m, 'loadscope_ratelimit_refused_total'),
  };
}
