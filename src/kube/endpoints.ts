import { CoreV1Api, DiscoveryV1Api, type KubeConfig, type V1EndpointSlice, type V1Service } from '@kubernetes/client-node';
import type { Balancer } from '../core/balancer.ts';
import { now } from '../core/clock.ts';
import type { Watcher } from '../core/podhost.ts';
import type { Sink } from '../core/types.ts';
import type { WatchFactory } from './types.ts';

// Services by eBPF from the API, as Cilium's kube-proxy replacement: every TCP port of every Service
// with a ClusterIP is a service of the eBPF balancer (bpf/lb, cgroup/connect4), its table the ready
// endpoints of the Service's EndpointSlices for that port. Each table change is one `backends` command,
// journalled as a routing.update event like the local cluster's.

/** How the router is set up. */
export interface ServiceRouterOptions {
  kubeConfig: KubeConfig;
  watch: WatchFactory;
  balancer: Balancer;
  sink: Sink;
  onStatus?: (line: string) => void;
}

/** One ClusterIP:port as the balancer knows it. */
interface Route {
  /** The Service, `namespace/name`. */
  key: string;
  id: number;
  name: string;
  vip: string;
  generation: number;
  /** The table last sent, `<pod>=<ip>:<port>` sorted. */
  table: string[];
}

/** The balancer's service ids are 1..63 and cannot be freed while it runs. */
const MAX_ROUTES = 63;
/** Only addresses the run may send to: RFC 2544's 198.18.0.0/15. */
const SAFE = /^198\.(18|19)\.\d{1,3}\.\d{1,3}$/;

const svcKey = (ns: string | undefined, name: string | undefined) => `${ns ?? ''}/${name ?? ''}`;

/**
 * Watches Services and EndpointSlices of every namespace and keeps the balancer's tables equal to
 * them: a Service port's VIP routes to the endpoints that are ready (not terminating). Endpoints and
 * ClusterIPs outside 198.18.0.0/15 are never programmed (a routing.skipped event says so once).
 */
export class ServiceRouter {
  private services?: Watcher<V1Service>;
  private slices?: Watcher<V1EndpointSlice>;
  private readonly routes = new Map<string, Route>();
  private readonly skipped = new Set<string>();
  private queue: Promise<void> = Promise.resolve();
  private readonly dirty = new Set<string>();
  private stopped = false;

  constructor(private readonly opts: ServiceRouterOptions) {}

  /** Lists and watches both collections; resolves once the first lists are programmed. */
  async start(): Promise<void> {
    const core = this.opts.kubeConfig.makeApiClient(CoreV1Api);
    const discovery = this.opts.kubeConfig.makeApiClient(DiscoveryV1Api);
    this.services = this.opts.watch<V1Service>({
      kubeConfig: this.opts.kubeConfig,
      path: '/api/v1/services',
      list: () => core.listServiceForAllNamespaces(),
      onEvent: (e) => this.touch(svcKey(e.object.metadata?.namespace, e.object.metadata?.name), 'service changed'),
    });
    this.slices = this.opts.watch<V1EndpointSlice>({
      kubeConfig: this.opts.kubeConfig,
      path: '/apis/discovery.k8s.io/v1/endpointslices',
      list: () => discovery.listEndpointSliceForAllNamespaces(),
      onEvent: (e) => this.touch(svcKey(e.object.metadata?.namespace, e.object.metadata?.labels?.['kubernetes.io/service-name']), 'endpoints changed'),
    });
    await this.services.start();
    await this.slices.start();
    await this.settled();
  }

  /** The Services of a namespace as last seen (the node's service-link environment variables). */
  servicesIn(namespace: string): V1Service[] {
    return (this.services?.list() ?? []).filter((s) => s.metadata?.namespace === namespace);
  }

  /** Resolves once every change seen so far is programmed. */
  async settled(): Promise<void> {
    for (let q = this.queue; ; q = this.queue) {
      await q;
      if (q === this.queue) return;
    }
  }

  /** The VIP tables as programmed: `ip:port` → backends `<pod>=<ip>:<port>`. */
  tables(): Record<string, string[]> {
    return Object.fromEntries([...this.routes.values()].map((r) => [r.vip, [...r.table]]));
  }

  /** Resolves once no table holds `ip` (after the programmed updates), or after `timeoutMs`. */
  async unrouted(ip: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && [...this.routes.values()].some((r) => r.table.some((b) => b.endsWith(`=${ip}`) || b.includes(`=${ip}:`)))) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([this.services?.stop(), this.slices?.stop()]);
    await this.queue;
  }

  private touch(key: string, reason: string): void {
    if (this.dirty.has(key)) return;
    this.dirty.add(key);
    this.queue = this.queue.then(() => {
      this.dirty.delete(key);
      return this.stopped ? undefined : this.sync(key, reason);
    });
  }

  /** Brings the tables of one Service's ports in line with the caches. */
  private async sync(key: string, reason: string): Promise<void> {
    const [ns, name] = key.split('/');
    const svc = this.services?.list().find((s) => svcKey(s.metadata?.namespace, s.metadata?.name) === key);
    const ip = svc?.spec?.clusterIP;
    const wanted = new Map<string, string[]>();
    if (svc && ip && ip !== 'None') {
      if (!SAFE.test(ip)) return this.skip(key, `ClusterIP ${ip} of ${key} is outside 198.18.0.0/15: not routed`);
      const slices = (this.slices?.list() ?? []).filter((s) => s.metadata?.namespace === ns && s.metadata?.labels?.['kubernetes.io/service-name'] === name && s.addressType === 'IPv4');
      for (const p of svc.spec?.ports ?? []) {
        if ((p.protocol ?? 'TCP') !== 'TCP') continue;
        const table = new Set<string>();
        for (const slice of slices) {
          const port = slice.ports?.find((sp) => (sp.name ?? '') === (p.name ?? '') && (sp.protocol ?? 'TCP') === 'TCP')?.port;
          if (port === undefined) continue;
          for (const ep of slice.endpoints) {
            if (ep.conditions?.ready === false || ep.conditions?.terminating === true) continue;
            for (const addr of ep.addresses) {
              if (!SAFE.test(addr)) {
                this.skip(`${key}/${addr}`, `endpoint ${addr} of ${key} is outside 198.18.0.0/15: not routed`);
                continue;
              }
              // the whole name in the journal; the balancer's table takes 63 bytes of it (program)
              const pod = `${ep.targetRef?.namespace ?? ns}.${ep.targetRef?.name ?? addr}`;
              table.add(`${pod}=${addr}:${port}`);
            }
          }
        }
        wanted.set(`${ip}:${p.port}`, [...table].sort());
      }
    }
    // Ports that went away (or the whole Service): an empty table, the id stays declared.
    for (const r of this.routes.values()) if (r.key === key && !wanted.has(r.vip)) wanted.set(r.vip, []);
    for (const [vip, table] of wanted) await this.program(key, vip, table, reason);
  }

  private async program(key: string, vip: string, table: string[], reason: string): Promise<void> {
    const lb = this.opts.balancer;
    let r = this.routes.get(vip);
    if (r && r.table.join(' ') === table.join(' ')) return;
    if (!r) {
      if (table.length === 0) return;
      if (this.routes.size >= MAX_ROUTES) return this.skip(vip, `${vip} of ${key}: the eBPF balancer holds at most ${MAX_ROUTES} Service ports`);
      const [ns, name] = key.split('/');
      r = { key, id: this.routes.size + 1, name: `${ns}.${name}.${vip.split(':')[1]}`.slice(0, 63), vip, generation: 0, table: [] };
      try {
        await lb.send(`service ${r.id} ${r.name} ${vip} open`);
      } catch (err) {
        this.failed(key, vip, err);
        return;
      }
      this.routes.set(vip, r);
    }
    const t0 = now();
    const generation = r.generation + 1;
    try {
      const wire = table.map((b) => `${b.slice(0, b.indexOf('=')).slice(0, 63)}${b.slice(b.indexOf('='))}`);
      await lb.send(`backends ${r.id} ${generation} ${wire.join(' ')}`.trim());
    } catch (err) {
      this.failed(key, vip, err);
      return;
    }
    r.generation = generation;
    r.table = table;
    const pods = table.map((b) => b.slice(0, b.indexOf('=')));
    const backends = table.map((b) => b.slice(b.indexOf('=') + 1));
    this.opts.sink.event({
      kind: 'routing.update',
      time: now(),
      source: 'cluster',
      attrs: {
        service: key,
        via: 'ebpf',
        vip,
        generation,
        pods,
        backends,
        reason,
        tookMs: Math.round((now() - t0) * 1000) / 1000,
        message: `Service ${key} VIP ${vip} routes to ${pods.length ? pods.join(', ') : 'no endpoint'} (${reason})`,
      },
    });
  }

  private failed(key: string, vip: string, err: unknown): void {
    this.opts.sink.event({ kind: 'routing.failed', time: now(), source: 'cluster', attrs: { service: key, vip, message: `routing update of ${vip} failed: ${(err as Error).message}` } });
  }

  private skip(what: string, message: string): void {
    if (this.skipped.has(what)) return;
    this.skipped.add(what);
    this.opts.onStatus?.(message);
    this.opts.sink.event({ kind: 'routing.skipped', time: now(), source: 'cluster', attrs: { message } });
  }
}
