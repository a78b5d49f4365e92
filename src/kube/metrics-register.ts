// The metrics APIs as Kubernetes objects, and the address the API server reaches them on.
//
// kube-apiserver (with --enable-aggregator-routing=true) proxies an APIService's group to an address
// from its Service's EndpointSlices and refuses loopback endpoints. The server therefore listens on
// 198.18.0.N/32 (N in 2..254), on an address-only bridge `lsm<tag>` in the root namespace: the local
// cluster takes only 198.18.x.0/24 for x in 1..254 (cluster/local/sweep.ts) and the test control plane
// 198.18.255.0/24 (kube/types.ts), so 198.18.0.0/24 collides with neither, and the address is local
// to the machine (the kernel answers it through lo; nothing routes it off the host). The Service is
// headless: without aggregator routing kube-apiserver would dial the Service's ClusterIP, which only a
// node routes (here it would follow the default route off the machine); with clusterIP None it refuses
// to route at all, and start fails on the APIServices never becoming Available.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { ApiregistrationV1Api, CoreV1Api, DiscoveryV1Api, type KubeConfig, type V1APIService } from '@kubernetes/client-node';
import { LoadscopeError } from '../core/errors.ts';
import { processStartTime } from '../core/ledger.ts';
import { CUSTOM_GROUP, CUSTOM_VERSION, RESOURCE_GROUP, RESOURCE_VERSION } from './metrics-format.ts';

/** Label on every object the metrics APIs create; the owner annotation says which process. */
export const MANAGED_BY = { key: 'app.kubernetes.io/managed-by', value: 'loadscope-metrics' };
const OWNER = 'loadscope.dev/owner';
const LINK_RE = /^lsm[0-9a-f]{6}$/;

/** Where the Service and EndpointSlice live and what they are called. */
export interface Registration {
  namespace: string;
  service: string;
  address: string;
  port: number;
  /** PEM of the CA that signed the serving certificate. */
  caBundle: string;
}

export const API_SERVICES = [
  { group: RESOURCE_GROUP, version: RESOURCE_VERSION },
  { group: CUSTOM_GROUP, version: CUSTOM_VERSION },
].map((g) => ({ ...g, name: `${g.version}.${g.group}` }));

function ipCmd(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', args, { encoding: 'utf8', timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) reject(new LoadscopeError('ENVIRONMENT', `ip ${args.join(' ')} failed: ${stderr.trim() || err.message}`, { cause: err, hint: 'the metrics APIs need root and iproute2 (they add a 198.18.0.N/32 address)' }));
      else resolve(stdout);
    });
  });
}

/** Creates `lsm<tag>` with a free 198.18.0.N/32 and brings it up; returns its name and the address. */
export async function createAddress(): Promise<{ link: string; address: string }> {
  const addrs = JSON.parse((await ipCmd(['-4', '-j', 'addr', 'show'])) || '[]') as { addr_info?: { local?: string }[] }[];
  const taken = new Set(addrs.flatMap((a) => (a.addr_info ?? []).map((i) => i.local)));
  const start = process.pid % 253;
  let address: string | undefined;
  for (let k = 0; k < 253 && !address; k++) {
    const candidate = `198.18.0.${2 + ((start + k) % 253)}`;
    if (!taken.has(candidate)) address = candidate;
  }
  if (!address) throw new LoadscopeError('ENVIRONMENT', 'no free address in 198.18.0.2-254 for the metrics APIs', { hint: 'remove leftover lsm* links (ip link del lsm…) or run loadscope cleanup' });
  const link = `lsm${randomBytes(3).toString('hex')}`;
  await ipCmd(['link', 'add', link, 'type', 'bridge']);
  try {
    await ipCmd(['addr', 'add', `${address}/32`, 'dev', link]);
    await ipCmd(['link', 'set', link, 'up']);
  } catch (err) {
    await deleteAddress(link);
    throw err;
  }
  return { link, address };
}

export async function deleteAddress(link: string): Promise<void> {
  if (!LINK_RE.test(link)) throw new LoadscopeError('INTERNAL', `${link} is not a metrics API link`);
  await ipCmd(['link', 'del', link]).catch(() => {});
}

function owner(): string {
  return `${hostname()}/${process.pid}/${processStartTime(process.pid) ?? ''}`;
}

/** Whether an owner annotation names a process of this machine that is gone. */
function ownerDead(value: string | undefined): boolean {
  const [host, pid, start] = (value ?? '').split('/');
  return host === hostname() && processStartTime(Number(pid)) !== start;
}

const notFound = (e: unknown) => (e as { code?: number }).code === 404;

async function ignore404(p: Promise<unknown>): Promise<void> {
  await p.catch((e: unknown) => {
    if (!notFound(e)) throw e;
  });
}

/**
 * Removes the APIServices (and their Service and EndpointSlice) that a dead loadscope process of this
 * machine registered; refuses when a live one still serves them. Returns one line per object removed.
 */
export async function sweepRegistrations(kc: KubeConfig, namespace: string, service: string): Promise<string[]> {
  const reg = kc.makeApiClient(ApiregistrationV1Api);
  const removed: string[] = [];
  // A Service left without its APIServices (a run killed between the two).
  removed.push(...(await deleteService(kc, namespace, service, ownerDead)));
  for (const a of API_SERVICES) {
    let svc: V1APIService;
    try {
      svc = await reg.readAPIService({ name: a.name });
    } catch (e) {
      if (notFound(e)) continue;
      throw e;
    }
    const labels = svc.metadata?.labels ?? {};
    const who = svc.metadata?.annotations?.[OWNER];
    if (labels[MANAGED_BY.key] !== MANAGED_BY.value) {
      throw new LoadscopeError('USAGE', `APIService ${a.name} exists and is not loadscope's (a metrics-server or adapter is installed)`, { hint: `kubectl delete apiservice ${a.name}, or run without serving the metrics APIs` });
    }
    if (!ownerDead(who)) throw new LoadscopeError('USAGE', `APIService ${a.name} is served by another live loadscope process (${who})`, { hint: 'one run serves the metrics APIs of a cluster at a time; a process of another machine is never taken for dead: kubectl delete apiservice if it is gone' });
    const ref = svc.spec?.service;
    await ignore404(reg.deleteAPIService({ name: a.name }));
    removed.push(`deleted APIService ${a.name} (owner ${who} is gone)`);
    if (ref?.name && ref.namespace) removed.push(...(await deleteService(kc, ref.namespace, ref.name, ownerDead)));
  }
  return removed;
}

type Meta = { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> } };

/** Whether an object is the metrics APIs' and its owner annotation passes `owned`. */
function ours(o: Meta | undefined, owned: (who: string | undefined) => boolean): boolean {
  return o?.metadata?.labels?.[MANAGED_BY.key] === MANAGED_BY.value && owned(o.metadata.annotations?.[OWNER]);
}

async function readOr404<T>(p: Promise<T>): Promise<T | undefined> {
  return p.catch((e: unknown) => {
    if (notFound(e)) return undefined;
    throw e;
  });
}

/** Deletes the Service and EndpointSlice `namespace/name` that are ours and `owned`; leaves anybody else's. */
async function deleteService(kc: KubeConfig, namespace: string, name: string, owned: (who: string | undefined) => boolean): Promise<string[]> {
  const core = kc.makeApiClient(CoreV1Api);
  const disc = kc.makeApiClient(DiscoveryV1Api);
  const done: string[] = [];
  if (ours(await readOr404(disc.readNamespacedEndpointSlice({ namespace, name })), owned)) {
    await ignore404(disc.deleteNamespacedEndpointSlice({ namespace, name }));
    done.push(`deleted EndpointSlice ${namespace}/${name}`);
  }
  if (ours(await readOr404(core.readNamespacedService({ namespace, name })), owned)) {
    await ignore404(core.deleteNamespacedService({ namespace, name }));
    done.push(`deleted Service ${namespace}/${name}`);
  }
  return done;
}

/** Creates the Service (headless, no selector), its EndpointSlice and the APIServices, all owned by this process. */
export async function register(kc: KubeConfig, r: Registration): Promise<void> {
  try {
    await create(kc, r);
  } catch (e) {
    if (e instanceof LoadscopeError) throw e;
    const code = (e as { code?: number }).code;
    throw new LoadscopeError(code === 409 ? 'USAGE' : 'ENVIRONMENT', `registering the metrics APIs failed: ${code === 409 ? `an object named ${r.namespace}/${r.service} or an APIService of theirs exists and is not a dead loadscope run's` : (e as Error).message}`, {
      cause: e,
      hint: code === 409 ? `kubectl -n ${r.namespace} get service,endpointslice ${r.service}; delete it if nothing serves it` : undefined,
    });
  }
}

async function create(kc: KubeConfig, r: Registration): Promise<void> {
  const metadata = (name: string, namespace?: string, labels: Record<string, string> = {}) => ({
    name,
    namespace,
    labels: { [MANAGED_BY.key]: MANAGED_BY.value, ...labels },
    annotations: { [OWNER]: owner() },
  });
  const core = kc.makeApiClient(CoreV1Api);
  const disc = kc.makeApiClient(DiscoveryV1Api);
  const reg = kc.makeApiClient(ApiregistrationV1Api);
  await core.createNamespacedService({
    namespace: r.namespace,
    body: { metadata: metadata(r.service, r.namespace), spec: { type: 'ClusterIP', clusterIP: 'None', ports: [{ name: 'https', port: 443, targetPort: r.port, protocol: 'TCP' }] } },
  });
  await disc.createNamespacedEndpointSlice({
    namespace: r.namespace,
    body: {
      metadata: metadata(r.service, r.namespace, { 'kubernetes.io/service-name': r.service, 'endpointslice.kubernetes.io/managed-by': 'loadscope.dev' }),
      addressType: 'IPv4',
      endpoints: [{ addresses: [r.address], conditions: { ready: true } }],
      ports: [{ name: 'https', port: r.port, protocol: 'TCP' }],
    },
  });
  for (const a of API_SERVICES) {
    await reg.createAPIService({
      body: {
        metadata: metadata(a.name),
        spec: {
          group: a.group,
          version: a.version,
          service: { namespace: r.namespace, name: r.service, port: 443 },
          caBundle: Buffer.from(r.caBundle).toString('base64'),
          groupPriorityMinimum: 100,
          versionPriority: 100,
        },
      },
    });
  }
}

/** Deletes what `register` created in this process (whatever of it exists); never another owner's objects. */
export async function unregister(kc: KubeConfig, namespace: string, service: string): Promise<void> {
  const reg = kc.makeApiClient(ApiregistrationV1Api);
  const mine = (who: string | undefined) => who === owner();
  for (const a of API_SERVICES) {
    if (ours(await readOr404(reg.readAPIService({ name: a.name })), mine)) await ignore404(reg.deleteAPIService({ name: a.name }));
  }
  await deleteService(kc, namespace, service, mine);
}

/** Waits until kube-apiserver reports every APIService Available; rejects with its last condition. */
export async function waitAvailable(kc: KubeConfig, timeoutMs: number): Promise<void> {
  const reg = kc.makeApiClient(ApiregistrationV1Api);
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const waiting: string[] = [];
    for (const a of API_SERVICES) {
      const s = await reg.readAPIService({ name: a.name });
      const c = s.status?.conditions?.find((x) => x.type === 'Available');
      if (c?.status !== 'True') waiting.push(`${a.name}: ${c ? `${c.reason}: ${c.message}` : 'no condition yet'}`);
    }
    if (!waiting.length) return;
    if (performance.now() > deadline) {
      throw new LoadscopeError('SERVICE_START', `the metrics APIs did not become available within ${timeoutMs / 1000} s (${waiting.join('; ')})`, {
        hint: 'kube-apiserver needs --enable-aggregator-routing=true and its front-proxy (--requestheader-*, --proxy-client-*) flags',
      });
    }
    await new Promise((res) => setTimeout(res, 200));
  }
}
