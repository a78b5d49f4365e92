// loadscope as the cluster's metrics server and custom-metrics adapter: an aggregated API server that
// kube-apiserver proxies metrics.k8s.io/v1beta1 and custom.metrics.k8s.io/v1beta2 to, so the real HPA
// controller reads the usage and request rates of the pods loadscope runs.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { LoadscopeError } from '../core/errors.ts';
import type { KubeMetricsProvider, PodMetricsSample } from '../core/kube-metrics.ts';
import type { Ledger } from '../core/ledger.ts';
import {
  apiGroup,
  apiResources,
  CUSTOM_GROUP,
  CUSTOM_VERSION,
  list,
  metricValue,
  nodeMetrics,
  podMetrics,
  REQUESTS_METRIC,
  RESOURCE_GROUP,
  RESOURCE_VERSION,
  status,
} from './metrics-format.ts';
import { createAddress, deleteAddress, register, sweepRegistrations, unregister, waitAvailable } from './metrics-register.ts';
import { createPki } from './pki.ts';

/** How to serve the metrics APIs to one cluster. */
export interface MetricsApiOptions {
  /** An admin kubeconfig of the cluster (the test control plane's `info.kubeconfig`). */
  kubeconfig: string;
  provider: KubeMetricsProvider;
  /** The run's ledger: the address link and the certificate directory are listed in it. */
  ledger?: Ledger;
  /** Namespace of the Service the APIServices point at (default kube-system). */
  namespace?: string;
  /** Name of that Service (default loadscope-metrics). */
  service?: string;
  /** How long to wait for kube-apiserver to report the APIServices Available (default 30 s). */
  availableTimeoutMs?: number;
  /** Every answered call, with who asked (the front proxy's X-Remote-User) and what was answered. */
  onRequest?: (r: MetricsRequest) => void;
}

/** One call the metrics APIs answered: the evidence of what a client (the HPA controller) was served. */
export interface MetricsRequest {
  /** When the answer was sent, epoch ms. */
  time: number;
  /** The user kube-apiserver authenticated (e.g. system:serviceaccount:kube-system:horizontal-pod-autoscaler). */
  user: string;
  /** Path and query as proxied. */
  path: string;
  code: number;
  /** The answer (a parsed JSON object, or text). */
  body: unknown;
}

/** Who may call: kube-apiserver's front proxy, as its extension-apiserver-authentication ConfigMap says. */
interface RequestHeaderAuth {
  ca: string;
  allowedNames: string[];
}

class HttpError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

const podKey = (namespace: string, name: string) => `${namespace}/${name}`;

/**
 * The running metrics APIs: `start` sweeps what a dead run registered, adds the address, serves and
 * registers, and waits until kube-apiserver reports them Available; `stop` undoes all of it.
 */
export class MetricsApi {
  /** The address and port kube-apiserver proxies to. */
  readonly address: string;
  readonly port: number;
  /** Calls answered, by outcome, since start (what the HPA controller and discovery asked). */
  readonly served = { ok: 0, failed: 0 };
  private stopped = false;
  private outage = false;

  private constructor(
    private readonly opts: Required<Pick<MetricsApiOptions, 'namespace' | 'service'>> & MetricsApiOptions,
    private readonly kc: KubeConfig,
    private readonly server: Server,
    /** The address-only link the server listens on (lsm<tag>). */
    readonly link: string,
    private readonly certDir: string,
  ) {
    const a = server.address() as { address: string; port: number };
    this.address = a.address;
    this.port = a.port;
  }

  static async start(options: MetricsApiOptions): Promise<MetricsApi> {
    const opts = { namespace: 'kube-system', service: 'loadscope-metrics', ...options };
    const kc = new KubeConfig();
    try {
      kc.loadFromFile(opts.kubeconfig);
    } catch (err) {
      throw new LoadscopeError('FILE_NOT_FOUND', `cannot read the kubeconfig ${opts.kubeconfig}: ${(err as Error).message}`, { cause: err, hint: 'pass the control plane\'s kubeconfig (loadscope controlplane status prints it)' });
    }
    await sweepRegistrations(kc, opts.namespace, opts.service);
    const auth = await requestHeaderAuth(kc);
    const { link, address } = await createAddress();
    opts.ledger?.add({ kind: 'link', name: link });
    const certDir = mkdtempSync(join(tmpdir(), 'loadscope-metrics-'));
    opts.ledger?.add({ kind: 'file', path: certDir });
    let server: Server | undefined;
    let api: MetricsApi | undefined;
    try {
      const pki = await createPki(certDir, [{ name: 'serving', cn: 'loadscope-metrics', usage: 'server', san: [`DNS:${opts.service}.${opts.namespace}.svc`, `IP:${address}`] }]);
      const srv = createServer({
        cert: readFileSync(pki.cert('serving').crt),
        key: readFileSync(pki.cert('serving').key),
        ca: auth.ca,
        requestCert: true,
        rejectUnauthorized: false,
      });
      server = srv;
      await new Promise<void>((res, rej) => {
        srv.once('error', rej);
        srv.listen(0, address, () => res());
      });
      api = new MetricsApi(opts, kc, srv, link, certDir);
      const self = api;
      srv.on('request', (req: IncomingMessage, res: ServerResponse) => void self.handle(req, res, auth));
      await register(kc, { namespace: opts.namespace, service: opts.service, address, port: api.port, caBundle: readFileSync(pki.ca.crt, 'utf8') });
      await waitAvailable(kc, opts.availableTimeoutMs ?? 30_000);
      return api;
    } catch (err) {
      if (api) await api.stop().catch(() => {});
      else {
        server?.close();
        await deleteAddress(link);
        rmSync(certDir, { recursive: true, force: true });
      }
      throw err;
    }
  }

  /**
   * The metrics-outage fault: while on, every metric read (both groups' resources) answers 503
   * ServiceUnavailable as a metrics server that lost its source would; discovery and health still
   * answer, so kube-apiserver keeps the APIServices Available and the HPA sees failed metric calls.
   */
  setMetricsOutage(on: boolean): void {
    this.outage = on;
  }

  /** Unregisters (APIServices, Service, EndpointSlice), stops serving, removes the address and the certificates. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    let failure: unknown;
    await unregister(this.kc, this.opts.namespace, this.opts.service).catch((e: unknown) => (failure = e));
    await new Promise<void>((res) => {
      this.server.close(() => res());
      this.server.closeAllConnections();
    });
    await deleteAddress(this.link);
    rmSync(this.certDir, { recursive: true, force: true });
    this.opts.ledger?.remove((r) => (r.kind === 'link' && r.name === this.link) || (r.kind === 'file' && r.path === this.certDir));
    if (failure) throw new LoadscopeError('INTERNAL', `could not unregister the metrics APIs: ${(failure as Error).message}`, { cause: failure, hint: 'the next start removes them (they name this process as owner)' });
  }

  private async handle(req: IncomingMessage, res: ServerResponse, auth: RequestHeaderAuth): Promise<void> {
    let code = 200;
    let body: unknown;
    try {
      authenticate(req, auth);
      if (req.method !== 'GET') throw new HttpError(405, 'MethodNotAllowed', `${req.method} is not supported; the metrics APIs are read-only`);
      body = await this.route(new URL(req.url ?? '/', 'https://metrics'));
    } catch (err) {
      const e = err instanceof HttpError ? err : new HttpError(500, 'InternalError', `the metrics source failed: ${(err as Error).message}`);
      code = e.code;
      body = status(e.code, e.reason, e.message);
    }
    if (code === 200) this.served.ok++;
    else this.served.failed++;
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    try {
      const user = req.headers['x-remote-user'];
      this.opts.onRequest?.({ time: Date.now(), user: Array.isArray(user) ? user.join(',') : (user ?? ''), path: req.url ?? '/', code, body });
    } catch {
      // an observer's failure is not the caller's
    }
    res.writeHead(code, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json' }).end(text);
  }

  private async route(url: URL): Promise<unknown> {
    const p = url.pathname.replace(/\/+$/, '').split('/').slice(1).map(decodeURIComponent);
    const q = url.searchParams;
    if (['healthz', 'livez', 'readyz'].includes(p[0] ?? '') && p.length === 1) return 'ok';
    // kube-apiserver's OpenAPI aggregation downloads these; an empty document ends its retries.
    if (p[0] === 'openapi' && p[1] === 'v2' && p.length === 2) return { swagger: '2.0', info: { title: 'loadscope metrics APIs', version: 'v1' }, paths: {} };
    if (p[0] === 'openapi' && p[1] === 'v3' && p.length === 2) return { paths: {} };
    if (p[0] !== 'apis') throw new HttpError(404, 'NotFound', `${url.pathname} is not served here`);
    if (p.length === 1) return { kind: 'APIGroupList', apiVersion: 'v1', groups: [apiGroup(RESOURCE_GROUP), apiGroup(CUSTOM_GROUP)] };
    const [group, version, ...rest] = p.slice(1);
    const served = (group === RESOURCE_GROUP && RESOURCE_VERSION) || (group === CUSTOM_GROUP && CUSTOM_VERSION) || undefined;
    if (!served) throw new HttpError(404, 'NotFound', `the group ${group} is not served here`);
    if (version === undefined) return apiGroup(group as string);
    if (version !== served) throw new HttpError(404, 'NotFound', `${group}/${version} is not served here (${group}/${served} is)`);
    if (rest.length === 0) return apiResources(group as string);
    if (this.outage) throw new HttpError(503, 'ServiceUnavailable', 'the metrics source is unavailable (a loadscope metrics-outage fault)');
    return group === RESOURCE_GROUP ? this.resourceMetrics(rest, q) : this.customMetrics(rest, q);
  }

  /** metrics.k8s.io: pods (all, per namespace, one) and nodes (all, one). */
  private async resourceMetrics(p: string[], q: URLSearchParams): Promise<unknown> {
    const av = `${RESOURCE_GROUP}/${RESOURCE_VERSION}`;
    if (p[0] === 'nodes' && p.length <= 2) {
      const nodes = (await this.opts.provider.nodes?.()) ?? [];
      if (p.length === 1) return list('NodeMetricsList', av, nodes.map(nodeMetrics));
      const n = nodes.find((x) => x.name === p[1]);
      if (!n) throw new HttpError(404, 'NotFound', `nodemetrics.metrics.k8s.io "${p[1]}" not found`);
      return nodeMetrics(n);
    }
    const ns = p[0] === 'namespaces' && p[2] === 'pods' && p.length <= 4 ? p[1] : p[0] === 'pods' && p.length === 1 ? undefined : null;
    if (ns === null) throw new HttpError(404, 'NotFound', `/${p.join('/')} is not a resource of ${av}`);
    const name = p[3];
    const pods = name !== undefined && ns !== undefined ? await this.pods(ns, undefined, `metadata.name=${name}`) : await this.pods(ns, q.get('labelSelector') ?? undefined, q.get('fieldSelector') ?? undefined);
    const samples = await this.samples(ns);
    const items = pods.flatMap((pod) => {
      const s = samples.get(podKey(pod.metadata?.namespace ?? '', pod.metadata?.name ?? ''));
      return s ? [podMetrics(s, pod.metadata?.labels)] : [];
    });
    if (name === undefined) return list('PodMetricsList', av, items);
    if (!items[0]) throw new HttpError(404, 'NotFound', `podmetrics.metrics.k8s.io "${name}" not found`);
    return items[0];
  }

  /** custom.metrics.k8s.io: http_requests_per_second of pods (one or `*` with a selector) and of a Service (its pods' sum). */
  private async customMetrics(p: string[], q: URLSearchParams): Promise<unknown> {
    const av = `${CUSTOM_GROUP}/${CUSTOM_VERSION}`;
    if (p[0] !== 'namespaces' || p.length !== 5 || !['pods', 'services'].includes(p[2] as string)) {
      throw new HttpError(404, 'NotFound', `/${p.join('/')} is not served by ${av} (namespaces/NS/{pods,services}/NAME/${REQUESTS_METRIC})`);
    }
    const [, ns, resource, name, metric] = p as [string, string, string, string, string];
    if (metric !== REQUESTS_METRIC) throw new HttpError(404, 'NotFound', `the metric ${metric} is not served (only ${REQUESTS_METRIC})`);
    if (q.get('metricLabelSelector')) throw new HttpError(400, 'BadRequest', `${REQUESTS_METRIC} has no labels: metricLabelSelector must be empty`);
    const samples = await this.samples(ns);
    const rate = (pod: V1Pod) => samples.get(podKey(ns, pod.metadata?.name ?? ''));
    if (resource === 'pods') {
      const pods = name === '*' ? await this.pods(ns, q.get('labelSelector') ?? undefined) : await this.pods(ns, undefined, `metadata.name=${name}`);
      const items = pods.flatMap((pod) => {
        const s = rate(pod);
        return s?.requestsPerSecond === undefined ? [] : [metricValue({ kind: 'Pod', namespace: ns, name: s.name }, s.requestsPerSecond, s.time, s.windowMs)];
      });
      if (name !== '*' && !items.length) throw new HttpError(404, 'NotFound', `no ${REQUESTS_METRIC} for pod ${ns}/${name}`);
      return list('MetricValueList', av, items);
    }
    if (name === '*') throw new HttpError(400, 'BadRequest', `${REQUESTS_METRIC} of services is served per Service, not for '*'`);
    const svc = await this.core()
      .readNamespacedService({ namespace: ns, name })
      .catch((e: { code?: number }) => {
        throw e.code === 404 ? new HttpError(404, 'NotFound', `services "${name}" not found in ${ns}`) : e;
      });
    const selector = Object.entries(svc.spec?.selector ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
    const of = selector ? (await this.pods(ns, selector)).flatMap((pod) => rate(pod) ?? []).filter((s) => s.requestsPerSecond !== undefined) : [];
    if (!of.length) throw new HttpError(404, 'NotFound', `no ${REQUESTS_METRIC} for service ${ns}/${name}: none of its pods has a sample`);
    const total = of.reduce((a, s) => a + (s.requestsPerSecond ?? 0), 0);
    return list('MetricValueList', av, [metricValue({ kind: 'Service', namespace: ns, name }, total, Math.max(...of.map((s) => s.time)), Math.max(...of.map((s) => s.windowMs)))]);
  }

  private core(): CoreV1Api {
    return this.kc.makeApiClient(CoreV1Api);
  }

  /** Pods of the cluster as kube-apiserver knows them (labels, selectors); a bad selector is the caller's 400. */
  private async pods(namespace: string | undefined, labelSelector?: string, fieldSelector?: string): Promise<V1Pod[]> {
    try {
      const r = namespace === undefined ? await this.core().listPodForAllNamespaces({ labelSelector, fieldSelector }) : await this.core().listNamespacedPod({ namespace, labelSelector, fieldSelector });
      return r.items;
    } catch (e) {
      const code = (e as { code?: number }).code;
      if (code === 400) throw new HttpError(400, 'BadRequest', `bad selector: ${labelSelector ?? ''} ${fieldSelector ?? ''}`.trim());
      throw e;
    }
  }

  private async samples(namespace: string | undefined): Promise<Map<string, PodMetricsSample>> {
    const all = await this.opts.provider.pods(namespace);
    return new Map(all.map((s) => [podKey(s.namespace, s.name), s]));
  }
}

/** Reads the front proxy's CA and allowed names from kube-system/extension-apiserver-authentication. */
async function requestHeaderAuth(kc: KubeConfig): Promise<RequestHeaderAuth> {
  const cm = await kc
    .makeApiClient(CoreV1Api)
    .readNamespacedConfigMap({ namespace: 'kube-system', name: 'extension-apiserver-authentication' })
    .catch((e: unknown) => {
      throw new LoadscopeError('ENVIRONMENT', `cannot read kube-system/extension-apiserver-authentication: ${(e as Error).message}`, { cause: e });
    });
  const ca = cm.data?.['requestheader-client-ca-file'];
  if (!ca) {
    throw new LoadscopeError('ENVIRONMENT', 'kube-apiserver has no front-proxy CA (requestheader-client-ca-file is missing from kube-system/extension-apiserver-authentication)', {
      hint: 'start kube-apiserver with --requestheader-client-ca-file and --proxy-client-cert-file/--proxy-client-key-file',
    });
  }
  return { ca, allowedNames: JSON.parse(cm.data?.['requestheader-allowed-names'] ?? '[]') as string[] };
}

/** Only kube-apiserver's front proxy may call: a client certificate of its CA with an allowed name. */
function authenticate(req: IncomingMessage, auth: RequestHeaderAuth): void {
  const sock = req.socket as TLSSocket;
  if (!sock.authorized) throw new HttpError(401, 'Unauthorized', `no valid front-proxy client certificate (${String(sock.authorizationError ?? 'none sent')})`);
  const cn = sock.getPeerCertificate().subject?.CN;
  if (auth.allowedNames.length && !auth.allowedNames.includes(String(cn))) throw new HttpError(401, 'Unauthorized', `client certificate ${String(cn)} is not an allowed front proxy`);
}
