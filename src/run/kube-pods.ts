// The virtual node's pods as a run counts them: a PodHost in front of the netns host that remembers
// every pod it was asked to run, so the run can read each pod's counters (its cgroup's CPU and working
// set, the service's own /metrics) for the metrics APIs and for results.json's per-pod figures — also
// of pods that the HPA removed before the run ended (their last counters are read as they stop).
import http from 'node:http';
import { join } from 'node:path';
import type { ServiceCounters } from '../cluster/cluster.ts';
import { CGROUP_DIR, PodCgroup } from '../cluster/local/cgroup.ts';
import type { NetnsPodHost } from '../cluster/local/podhost.ts';
import { parseProm, sumMetric } from '../cluster/prom.ts';
import { now } from '../core/clock.ts';
import type { KubePodCounters } from '../core/kube-metrics.ts';
import type { HostPod, HostPodSpec, HostPodState, PodHost } from '../core/podhost.ts';

const SCRAPE_TIMEOUT_MS = 2000;

/** What a run keeps of one pod the node ran. */
interface CountedPod {
  spec: HostPodSpec;
  pod: HostPod;
  cgroup: PodCgroup;
  startTime: number;
  readySince?: number;
  gone: boolean;
  /** The last counters read from the service (cumulative). */
  last?: { time: number; served: number; aborted: number; rss: number; cpu: number; memory: number };
}

/** A PodHost that delegates to the netns host and keeps every pod's counters. */
export class CountedPodHost implements PodHost {
  private readonly pods = new Map<string, CountedPod>();

  constructor(readonly inner: NetnsPodHost) {}

  get podCidr(): string {
    return this.inner.podCidr;
  }
  get hostIp(): string {
    return this.inner.hostIp;
  }
  get capacity(): { cpuMillis: number; memoryBytes: number; pods: number } {
    return this.inner.capacity;
  }

  start(spec: HostPodSpec, onChange: (state: HostPodState) => void): HostPod {
    const key = `${spec.namespace}/${spec.name}`;
    const cgroup = new PodCgroup(this.inner.layout, join(CGROUP_DIR, this.inner.tag, `${spec.namespace}.${spec.name}`));
    let entry: CountedPod | undefined;
    const pod = this.inner.start(spec, (s) => {
      if (entry) {
        if (s.ready && entry.readySince === undefined) entry.readySince = Date.now();
        if (!s.ready) entry.readySince = undefined;
      }
      onChange(s);
    });
    entry = { spec, pod, cgroup, startTime: Date.now(), gone: false };
    this.pods.set(key, entry);
    const e = entry;
    // A stopped pod's counters are read once more before its service goes (it has left the Service's
    // tables first: see kube/node.ts), so what it served is kept.
    const stop = async (graceMs: number) => {
      if (!e.gone) await this.read(e).catch(() => undefined);
      e.gone = true;
      await pod.stop(graceMs);
    };
    return {
      get ip() {
        return pod.ip;
      },
      get state() {
        return pod.state;
      },
      stop,
    };
  }

  stop(): Promise<void> {
    return this.inner.stop();
  }

  /** Reads every live pod now; the counters of the metrics APIs' provider (run/kube-metrics.ts). */
  async counters(): Promise<KubePodCounters[]> {
    const live = [...this.pods.values()].filter((p) => !p.gone);
    await Promise.all(live.map((p) => (p.pod.state.phase === 'Running' ? this.read(p).catch(() => undefined) : undefined)));
    return live.map((p) => {
      const r = p.spec.resources.requests;
      return {
        namespace: p.spec.namespace,
        name: p.spec.name,
        snapshot: {
          service: serviceOf(p.spec),
          pod: p.spec.name,
          phase: p.pod.state.phase,
          ready: p.pod.state.ready,
          terminating: false,
          startTime: p.startTime,
          ...(p.readySince !== undefined ? { readyTransitionTime: p.readySince } : {}),
          time: p.last?.time ?? now(),
          cpuSeconds: p.last?.cpu ?? 0,
          memoryBytes: p.last?.memory ?? 0,
          requestsServed: p.last?.served ?? 0,
          requests: { ...(r.cpuMillis !== undefined ? { cpuMillis: r.cpuMillis } : {}), ...(r.memoryBytes !== undefined ? { memoryBytes: r.memoryBytes } : {}) },
        },
      };
    });
  }

  /** Every pod the node ran in this run, live or gone, with its latest counters (results.json's per-pod figures). */
  async serviceCounters(): Promise<ServiceCounters[]> {
    await Promise.all([...this.pods.values()].filter((p) => !p.gone && p.pod.state.phase === 'Running').map((p) => this.read(p).catch(() => undefined)));
    return [...this.pods.values()].map((p) => ({
      service: serviceOf(p.spec),
      role: p.spec.role,
      pod: p.spec.name,
      requestsServed: p.last?.served ?? 0,
      requestsAborted: p.last?.aborted ?? 0,
      cpuSeconds: p.last?.cpu ?? 0,
      rssBytes: p.last?.rss ?? 0,
    }));
  }

  /** The ports the node's pods listen on (the load reaches them there once the balancer chose a pod). */
  ports(): number[] {
    return [...new Set([...this.pods.values()].map((p) => p.spec.port))];
  }

  /**
   * What faults need of a live pod that is not in the API (src/run/kube-faults.ts): the pid of its
   * service (the one process of its cgroup), its veth on the bridge and its network namespace.
   */
  local(namespace: string, name: string): { pid: number; veth: string; netns: string } | undefined {
    const p = this.pods.get(`${namespace}/${name}`);
    const pid = p && !p.gone ? p.cgroup.pids()[0] : undefined;
    if (!p || pid === undefined || !hasNet(p.pod)) return undefined;
    return { pid, veth: p.pod.veth, netns: p.pod.netns };
  }

  /** Pods by namespace/name → address (to tell the scale-up's pods in tests and the report). */
  addresses(): Record<string, string> {
    return Object.fromEntries([...this.pods].map(([k, p]) => [k, p.pod.ip]));
  }

  private async read(p: CountedPod): Promise<void> {
    const text = await getText(`http://${p.pod.ip}:${p.spec.port}/metrics`);
    const m = parseProm(text);
    p.last = {
      time: now(),
      served: sumMetric(m, 'loadscope_http_requests_total'),
      aborted: sumMetric(m, 'loadscope_http_requests_aborted_total'),
      rss: sumMetric(m, 'process_resident_memory_bytes'),
      cpu: p.cgroup.cpuSeconds() ?? p.last?.cpu ?? 0,
      memory: p.cgroup.workingSetBytes() ?? p.last?.memory ?? 0,
    };
  }
}

/** A pod of the netns host: its own network namespace and the host end of its veth. */
function hasNet(pod: HostPod): pod is HostPod & { veth: string; netns: string } {
  const x = pod as Partial<Record<'veth' | 'netns', unknown>>;
  return typeof x.veth === 'string' && typeof x.netns === 'string';
}

/** The pod's service name as results.json groups pods: its `app` label, else its role. */
function serviceOf(spec: HostPodSpec): string {
  return spec.labels.app ?? spec.role;
}

function getText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: SCRAPE_TIMEOUT_MS, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${url} answered ${res.statusCode}`))));
    });
    req.once('timeout', () => req.destroy(new Error(`${url} timed out`)));
    req.once('error', reject);
  });
}
