import { mkdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { availableParallelism, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { JOIN_CGROUPS, type Balancer, type BalancerProvider, type BalancerRecord } from '../../core/balancer.ts';
import { LoadscopeError } from '../../core/errors.ts';
import { now } from '../../core/clock.ts';
import type { Ledger } from '../../core/ledger.ts';
import type { Sink } from '../../core/types.ts';
import type { HostContainerState, HostPod, HostPodSpec, HostPodState, HostProbe, PodHost } from '../../core/podhost.ts';
import { startService } from '../process.ts';
import type { RunningService, ServiceExit, ServiceSpec } from '../types.ts';
import { CGROUP_DIR, cgroupDirs, createRunCgroups, detectCgroups, PodCgroup, removeCgroupDirs, type CgroupLayout } from './cgroup.ts';
import { Listed } from './listed.ts';
import { createBridge, createPodNet, deleteLink, deletePodNet, names, usedOctets } from './net.ts';
import { localUnavailable } from './resolve.ts';
import { CLAIM_DIR, claimRun, sweepLocalLeftovers, type RunClaim } from './sweep.ts';
import { balancerJournal } from './records.ts';
import { LOCAL_SETTINGS } from './types.ts';

// The virtual node's pods on this machine: each pod is a bundled service in its own network namespace
// (a veth on the host's bridge, an address in the claimed 198.18.<octet>.0/24) and cgroup (its requests
// and limits), as the local cluster's netns pods; the kubelet's part (restart policy, readiness probe)
// is here too. The eBPF balancer the host starts is handed to whoever programs the Services' routing.

/** How the host is set up. */
export interface NetnsPodHostOptions {
  runId: string;
  ledger: Ledger;
  balancer: BalancerProvider;
  /**
   * The pods' range, 198.18.<x>.0/24 (the control plane's pod CIDR, which its node IPAM accepts as the
   * Node's podCIDR): claimed for this host alone, as the local cluster claims its /24.
   */
  podCidr: string;
  /** The cluster's Service range: routed onto the host's bridge so no ClusterIP follows the default route off the machine. */
  serviceCidr: string;
  /** Where the balancer's records (decisions, refusals, totals) are journalled, as the local cluster's. */
  sink: Sink;
  onStatus?: (line: string) => void;
}

const MAX_BACKOFF_MS = 30_000;

/** Pods in network namespaces on one bridge, with the eBPF balancer that routes Services to them. */
export class NetnsPodHost implements PodHost {
  readonly podCidr: string;
  readonly hostIp: string;
  readonly capacity = { cpuMillis: availableParallelism() * 1000, memoryBytes: totalmem(), pods: 110 };
  readonly tag: string;
  readonly bridge: string;
  readonly cgroups: string[];
  private readonly pods = new Set<NetnsHostPod>();
  private readonly ips = new Set<string>();
  private nextHost = 2;
  private seq = 0;
  private stopped?: Promise<void>;

  private constructor(
    private readonly opts: NetnsPodHostOptions,
    readonly layout: CgroupLayout,
    private readonly claim: RunClaim,
    readonly balancer: Balancer,
    private readonly tmp: string,
    private readonly listed: Listed,
  ) {
    this.tag = claim.tag;
    this.podCidr = opts.podCidr;
    this.hostIp = opts.podCidr.replace(/0\/24$/, '1');
    this.bridge = names.bridge(claim.tag);
    this.cgroups = cgroupDirs(layout, join(CGROUP_DIR, claim.tag));
  }

  /** Claims a /24, creates the bridge and the run's cgroups, starts the balancer. */
  static async start(opts: NetnsPodHostOptions): Promise<NetnsPodHost> {
    const why = localUnavailable(opts.balancer);
    if (why) throw new LoadscopeError('ENVIRONMENT', `the virtual node cannot run pods here: ${why}`, { hint: 'run as root on Linux with make -C bpf built' });
    for (const line of await sweepLocalLeftovers()) opts.onStatus?.(`cleanup: ${line} (left by a dead local cluster)`);
    const layout = detectCgroups();
    if (typeof layout === 'string') throw new LoadscopeError('ENVIRONMENT', layout);
    const octet = /^198\.18\.(\d{1,3})\.0\/24$/.exec(opts.podCidr)?.[1];
    if (octet === undefined || Number(octet) > 255) throw new LoadscopeError('USAGE', `the pod range ${opts.podCidr} is not a 198.18.<x>.0/24`, { hint: 'the control plane\'s pod CIDR (198.18.255.0/24)' });
    if ((await usedOctets()).has(Number(octet))) {
      throw new LoadscopeError('ENVIRONMENT', `${opts.podCidr} (or ${opts.serviceCidr}) is in use on this machine: another virtual node, or an address or route of the machine`, { hint: 'stop the other virtual node, or loadscope cleanup' });
    }
    const claim = await claimRun(opts.runId);
    // The pod range, claimed like the local cluster's /24s (a lock file naming the live tag; a dead run's is swept).
    const lock = join(CLAIM_DIR, `octet-${octet}`);
    try {
      writeFileSync(lock, claim.tag, { flag: 'wx' });
    } catch {
      claim.release();
      throw new LoadscopeError('ENVIRONMENT', `${opts.podCidr} is claimed by another run (${lock})`, { hint: 'one virtual node per machine at a time; loadscope cleanup removes a dead run\'s claim' });
    }
    const release = claim.release;
    claim.release = () => {
      rmSync(lock, { force: true });
      release();
    };
    const listed = new Listed(opts.ledger);
    const tmp = join(tmpdir(), `loadscope-node-${claim.tag}`);
    const bridge = names.bridge(claim.tag);
    let lb: Balancer | undefined;
    try {
      listed.add({ kind: 'file', path: tmp });
      mkdirSync(tmp, { recursive: true });
      createRunCgroups(layout, claim.tag, (dir) => listed.add({ kind: 'cgroup', path: dir }));
      const lbCgroup = new PodCgroup(layout, join(CGROUP_DIR, claim.tag, 'lb'));
      lbCgroup.create({ requests: {}, limits: {} }, (dir) => listed.add({ kind: 'cgroup', path: dir }));
      listed.add({ kind: 'link', name: bridge });
      await createBridge(bridge, opts.podCidr.replace(/0\/24$/, '1/24'), opts.serviceCidr);
      lb = await opts.balancer.start({ cgroupRoot: layout.unified, procsFiles: lbCgroup.procsFiles, sampleEvery: LOCAL_SETTINGS.decisionSampleEvery, onRecord: balancerJournal(opts.sink) });
      listed.addProcess(lb.pid);
      return new NetnsPodHost(opts, layout, claim, lb, tmp, listed);
    } catch (err) {
      await lb?.stop().catch(() => undefined);
      await teardown(layout, claim, bridge, tmp, listed);
      throw err;
    }
  }

  start(spec: HostPodSpec, onChange: (state: HostPodState) => void): HostPod {
    if (this.stopped) throw new LoadscopeError('INTERNAL', `the pod host is stopping; ${spec.namespace}/${spec.name} cannot start`);
    const pod = new NetnsHostPod(this, spec, this.allocIp(), ++this.seq, onChange);
    this.pods.add(pod);
    pod.run();
    return pod;
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      await Promise.all([...this.pods].map((p) => p.stop(LOCAL_SETTINGS.drainTimeoutMs)));
      await this.balancer.stop();
      this.listed.remove((r) => r.kind === 'process' && r.pid === this.balancer.pid);
      await teardown(this.layout, this.claim, this.bridge, this.tmp, this.listed);
    })();
    return this.stopped;
  }

  /** The pods' network namespaces (for tests and diagnostics). */
  netns(): string[] {
    return [...this.pods].map((p) => p.netns);
  }

  /** Called by a pod once everything it made is gone. */
  released(pod: NetnsHostPod): void {
    this.pods.delete(pod);
    this.ips.delete(pod.ip);
  }

  get ledger(): Ledger {
    return this.opts.ledger;
  }

  get runId(): string {
    return this.opts.runId;
  }

  get scratch(): string {
    return this.tmp;
  }

  private allocIp(): string {
    for (let i = 0; i < 253; i++) {
      const host = this.nextHost;
      this.nextHost = host >= 254 ? 2 : host + 1;
      const addr = `${this.podCidr.split('.').slice(0, 3).join('.')}.${host}`;
      if (!this.ips.has(addr)) {
        this.ips.add(addr);
        return addr;
      }
    }
    throw new LoadscopeError('INTERNAL', `no free pod address left in ${this.podCidr}`);
  }
}

async function teardown(layout: CgroupLayout, claim: RunClaim, bridge: string, tmp: string, listed: Listed): Promise<void> {
  await deleteLink(bridge);
  await removeCgroupDirs(cgroupDirs(layout, join(CGROUP_DIR, claim.tag)));
  for (const dir of cgroupDirs(layout, CGROUP_DIR)) {
    try {
      rmdirSync(dir);
    } catch {
      // another run's cgroups are in it, or it is gone
    }
  }
  rmSync(tmp, { recursive: true, force: true });
  listed.remove();
  claim.release();
}

/** One pod: its sandbox (namespace, veth, cgroup) for its whole life, its container restarted per policy. */
class NetnsHostPod implements HostPod {
  readonly netns: string;
  readonly veth: string;
  private readonly cgroup: PodCgroup;
  private readonly listed: Listed;
  private readonly life = new AbortController();
  private svc?: RunningService;
  private current: HostPodState = { phase: 'Pending', ready: false, restartCount: 0, container: { state: 'waiting', reason: 'ContainerCreating' } };
  private done?: Promise<void>;
  private stopping?: Promise<void>;
  private oomSeen = 0;

  constructor(
    private readonly host: NetnsPodHost,
    private readonly spec: HostPodSpec,
    readonly ip: string,
    seq: number,
    private readonly onChange: (state: HostPodState) => void,
  ) {
    const id = `${spec.namespace}.${spec.name}`;
    this.netns = names.netns(host.tag, id);
    this.veth = names.veth(host.tag, seq);
    this.cgroup = new PodCgroup(host.layout, join(CGROUP_DIR, host.tag, id));
    this.listed = new Listed(host.ledger);
  }

  get state(): HostPodState {
    return this.current;
  }

  run(): void {
    this.done = this.life_().catch((err: unknown) => {
      if (this.life.signal.aborted) return;
      const message = (err as Error).message;
      this.set({ phase: 'Failed', ready: false, container: { state: 'terminated', exitCode: 128, reason: 'StartError', message, finishedAt: Date.now() } });
    });
  }

  stop(graceMs: number): Promise<void> {
    this.stopping ??= (async () => {
      this.life.abort(new Error('pod stopped'));
      const svc = this.svc;
      if (svc) {
        const killer = setTimeout(() => {
          try {
            process.kill(svc.pid, 'SIGKILL');
          } catch {
            // exited
          }
        }, Math.max(0, graceMs));
        await svc.stop();
        clearTimeout(killer);
      }
      await this.done;
      await this.cgroup.remove();
      await deletePodNet(this.netns, this.veth);
      rmSync(this.metricsFile, { force: true });
      this.listed.remove();
      this.host.released(this);
    })();
    return this.stopping;
  }

  private get metricsFile(): string {
    return join(this.host.scratch, `${this.spec.namespace}.${this.spec.name}.prom`);
  }

  private set(s: Partial<HostPodState>): void {
    this.current = { ...this.current, ...s };
    if (!this.stopping) this.onChange(this.current);
  }

  /** Sandbox, then the container loop: start, probe, wait for the exit, restart per policy. */
  private async life_(): Promise<void> {
    const signal = this.life.signal;
    this.listed.add({ kind: 'netns', name: this.netns });
    this.listed.add({ kind: 'link', name: this.veth });
    await createPodNet(this.netns, this.veth, this.host.bridge, `${this.ip}/24`);
    const r = this.spec.resources;
    this.cgroup.create(
      { requests: { cpu: r.requests.cpuMillis, memory: r.requests.memoryBytes }, limits: { cpu: r.limits.cpuMillis, memory: r.limits.memoryBytes } },
      (dir) => this.listed.add({ kind: 'cgroup', path: dir }),
    );
    await this.host.balancer.send(`client ${this.cgroup.id()} ${`${this.spec.namespace}.${this.spec.name}`.slice(0, 63)} ${this.ip}`);
    const serviceSpec = this.serviceSpec();
    for (let crashes = 0; !signal.aborted; crashes++) {
      const startedAt = Date.now();
      let exit: ServiceExit;
      let message: string | undefined;
      try {
        this.svc = await startService(serviceSpec, {
          signal,
          readyTimeoutMs: LOCAL_SETTINGS.readyTimeoutMs,
          command: ['sh', '-c', JOIN_CGROUPS, 'pod', 'ip', 'netns', 'exec', this.netns],
          env: { ...this.spec.env, LOADSCOPE_RUN_ID: this.host.runId, LS_CGROUP_PROCS: this.cgroup.procsFiles.join(' ') },
        });
        this.listed.addProcess(this.svc.pid);
        this.set({ phase: 'Running', ready: !this.spec.readiness, container: { state: 'running', startedAt } });
        const probing = this.spec.readiness ? this.probe(this.spec.readiness, signal) : undefined;
        exit = await this.svc.exited;
        this.listed.remove((x) => x.kind === 'process' && x.pid === this.svc?.pid);
        this.svc = undefined;
        await probing;
      } catch (err) {
        if (signal.aborted) return;
        exit = { exitCode: 128, signal: null };
        message = (err as Error).message;
      }
      if (signal.aborted) return;
      const ooms = this.cgroup.oomKills();
      const oom = ooms > this.oomSeen;
      this.oomSeen = ooms;
      const code = exit.exitCode ?? 128 + (exit.signal ? signalNumber(exit.signal) : 0);
      const terminated: Extract<HostContainerState, { state: 'terminated' }> = {
        state: 'terminated',
        exitCode: code,
        ...(exit.signal ? { signal: exit.signal } : {}),
        reason: message ? 'StartError' : oom ? 'OOMKilled' : code === 0 ? 'Completed' : 'Error',
        ...(message ? { message } : {}),
        startedAt,
        finishedAt: Date.now(),
      };
      const restart = this.spec.restartPolicy === 'Always' || (this.spec.restartPolicy === 'OnFailure' && code !== 0);
      if (!restart) {
        this.set({ phase: code === 0 ? 'Succeeded' : 'Failed', ready: false, container: terminated });
        return;
      }
      const backoff = Math.min(MAX_BACKOFF_MS, LOCAL_SETTINGS.restartBackoffMs * 2 ** Math.min(crashes, 10));
      this.set({ ready: false, lastTerminated: terminated, container: { state: 'waiting', reason: 'CrashLoopBackOff', message: `back-off ${backoff} ms restarting failed container` } });
      await sleep(backoff, undefined, { signal }).catch(() => undefined);
      if (signal.aborted) return;
      this.set({ restartCount: this.current.restartCount + 1 });
    }
  }

  /**
   * The readiness probe, until the container exits or the pod stops. Probes start on a fixed grid
   * of the period (the kubelet's prober runs on a ticker): a failing probe's timeout does not push
   * the next one back; a probe that outlasts a period skips the ticks it missed.
   */
  private async probe(p: HostProbe, signal: AbortSignal): Promise<void> {
    const svc = this.svc;
    let ok = 0;
    let failed = 0;
    await sleep(p.initialDelayMs, undefined, { signal }).catch(() => undefined);
    let next = now();
    while (!signal.aborted && this.svc === svc && svc) {
      const pass = await probeOnce(p, this.ip);
      if (signal.aborted || this.svc !== svc) return;
      if (pass) {
        failed = 0;
        if (++ok >= p.successThreshold && !this.current.ready) this.set({ ready: true });
      } else {
        ok = 0;
        if (++failed >= p.failureThreshold && this.current.ready) this.set({ ready: false });
      }
      const t = now();
      next += p.periodMs;
      if (next < t) next += Math.ceil((t - next) / p.periodMs) * p.periodMs;
      await Promise.race([sleep(next - t, undefined, { signal }), svc.exited]).catch(() => undefined);
    }
  }

  private serviceSpec(): ServiceSpec {
    const s = this.spec;
    const base = {
      name: s.name,
      host: this.ip,
      port: s.port,
      drainDelayMs: LOCAL_SETTINGS.drainDelayMs,
      drainTimeoutMs: LOCAL_SETTINGS.drainTimeoutMs,
      metricsAtExit: this.metricsFile,
    };
    if (s.role === 'backend') return { ...base, role: 'backend', maxRequestsPerSocket: LOCAL_SETTINGS.maxRequestsPerConnection, extraArgs: s.args };
    const { backend, rest } = takeFlag(s.args, 'backend');
    if (!backend) throw new LoadscopeError('USAGE', `frontend pod ${s.namespace}/${s.name} names no backend (args --backend http://$(BACKEND_SERVICE_HOST):$(BACKEND_SERVICE_PORT))`);
    let host = '';
    try {
      host = new URL(backend).hostname;
    } catch {
      // reported below
    }
    if (!/^198\.(18|19)\.\d{1,3}\.\d{1,3}$/.test(host)) {
      throw new LoadscopeError('UNSAFE_TARGET', `frontend pod ${s.namespace}/${s.name}: backend ${backend} is not an address in 198.18.0.0/15`, { hint: 'point --backend at a Service ClusterIP: http://$(BACKEND_SERVICE_HOST):$(BACKEND_SERVICE_PORT)' });
    }
    return { ...base, role: 'frontend', backend, extraArgs: rest };
  }
}

/** `--name value` or `--name=value` out of `args`: its value and the other args. */
function takeFlag(args: string[], name: string): { backend?: string; rest: string[] } {
  const rest: string[] = [];
  let value: string | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === `--${name}` && i + 1 < args.length) value = args[++i];
    else if (args[i].startsWith(`--${name}=`)) value = args[i].slice(name.length + 3);
    else rest.push(args[i]);
  }
  return { backend: value, rest };
}

function signalNumber(sig: string): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGSEGV: 11, SIGTERM: 15 } as Record<string, number>)[sig] ?? 0;
}

/** One probe from the host's namespace (the bridge reaches every pod): HTTP 200–399, or a TCP connect. */
function probeOnce(p: HostProbe, ip: string): Promise<boolean> {
  return new Promise((resolve) => {
    if ('tcp' in p.action) {
      const s = net.connect({ host: ip, port: p.action.tcp.port, timeout: p.timeoutMs });
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('timeout', () => (s.destroy(), resolve(false)));
      s.once('error', () => resolve(false));
      return;
    }
    const req = http.get({ host: ip, port: p.action.http.port, path: p.action.http.path, agent: false, timeout: p.timeoutMs, headers: { connection: 'close', 'user-agent': 'kube-probe/loadscope' } }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400);
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', () => resolve(false));
  });
}

