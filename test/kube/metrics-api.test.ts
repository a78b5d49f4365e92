// loadscope's metrics APIs against the real control plane: kube-apiserver proxies metrics.k8s.io and
// custom.metrics.k8s.io to them, and the REAL HPA controller of kube-controller-manager scales on what
// they serve. The test acts as the kubelet through the API (a Ready Node with a renewed Lease, pods it
// reports Running); the scheduler, the Deployment controller and the HPA controller are the real ones.
// Its provider holds the numbers the test sets: that is the input under test, the APIs are real.
import {
  AppsV1Api,
  AutoscalingV2Api,
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  type V1Pod,
  type V2HorizontalPodAutoscaler,
  type V2MetricSpec,
} from '@kubernetes/client-node';
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { KubeMetricsProvider, PodMetricsSample } from '../../src/core/kube-metrics.ts';
import { sweepStale } from '../../src/core/ledger.ts';
import { ControlPlane, missingBinaries } from '../../src/kube/controlplane.ts';
import { MetricsApi } from '../../src/kube/metrics-api.ts';
import { API_SERVICES } from '../../src/kube/metrics-register.ts';
import { needs } from '../helpers/needs.ts';
import { until as untilEvery } from '../helpers/until.ts';

const until = <T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined) => untilEvery(what, timeoutMs, probe, 250);


/** A start that should fail: if it succeeds after all, the server is stopped (nothing left to hang the worker or the next tests) and the test fails. */
async function mustFail(start: Promise<MetricsApi>): Promise<never> {
  const api = await start;
  await api.stop();
  throw new Error('MetricsApi.start succeeded where it should have failed');
}

const it = needs('the metrics APIs on the test control plane', missingBinaries() ?? (process.getuid?.() === 0 ? undefined : 'root is needed (the server listens on a 198.18.0.N/32 it adds)'));
const root = mkdtempSync(join(tmpdir(), 'ls-metrics-'));
const NS = 'metrics-test';
const NODE = 'loadscope-test-node';
const REQUEST_CPU = 0.2; // cores per pod: utilization = usage / 200m

let cp: ControlPlane | undefined;
let api: MetricsApi | undefined;
let kubelet: TestKubelet | undefined;

test.after.always(async () => {
  kubelet?.stop();
  await api?.stop().catch(() => {});
  await cp?.down();
  rmSync(root, { recursive: true, force: true });
});


/**
 * The load the test sets, per Deployment (label app): total CPU cores and requests/s, split evenly
 * over its Running pods as a balanced service would; `fail` makes the source reject.
 */
class TestProvider implements KubeMetricsProvider {
  load: Record<string, { cpuCores: number; rps?: number }> = {};
  fail = false;
  constructor(private readonly running: () => V1Pod[]) {}
  async pods(namespace?: string): Promise<PodMetricsSample[]> {
    if (this.fail) throw new Error('cgroup read failed (the test made the source fail)');
    const running = this.running().filter((p) => namespace === undefined || p.metadata?.namespace === namespace);
    const count = (app: string) => running.filter((p) => p.metadata?.labels?.app === app).length;
    return running.flatMap((p) => {
      const app = p.metadata?.labels?.app ?? '';
      const l = this.load[app];
      if (!l) return [];
      const n = count(app);
      return [
        {
          namespace: p.metadata?.namespace ?? '',
          name: p.metadata?.name ?? '',
          containers: [{ name: 'app', cpuCores: l.cpuCores / n, workingSetBytes: 48 * 1024 * 1024 }],
          requestsPerSecond: l.rps === undefined ? undefined : l.rps / n,
          time: Date.now(),
          windowMs: 15_000,
        },
      ];
    });
  }
}

/** A metav1.MicroTime (six fractional digits; the client's Date serializer writes three). */
const microTime = () => new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z') as unknown as Date;

/** The kubelet's API side for one Node: its status and Lease, and each pod bound to it reported Running and Ready. */
class TestKubelet {
  running: V1Pod[] = [];
  private timer?: NodeJS.Timeout;
  private ip = 10;
  private busy = false;
  constructor(private readonly kc: KubeConfig) {}

  async register(): Promise<void> {
    const core = this.kc.makeApiClient(CoreV1Api);
    const now = new Date();
    const node = await core.createNode({ body: { metadata: { name: NODE, labels: { 'kubernetes.io/hostname': NODE } } } });
    node.status = {
      capacity: { cpu: '8', memory: '16Gi', pods: '110' },
      allocatable: { cpu: '8', memory: '16Gi', pods: '110' },
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'the test acts as the kubelet', lastHeartbeatTime: now, lastTransitionTime: now }],
    };
    await core.replaceNodeStatus({ name: NODE, body: node });
    await this.kc.makeApiClient(CoordinationV1Api).createNamespacedLease({
      namespace: 'kube-node-lease',
      body: { metadata: { name: NODE }, spec: { holderIdentity: NODE, leaseDurationSeconds: 40, renewTime: microTime() } },
    });
    let ticks = 0;
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      void this.tick(ticks++ % 8 === 0).finally(() => (this.busy = false));
    }, 250);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async tick(renew: boolean): Promise<void> {
    const core = this.kc.makeApiClient(CoreV1Api);
    try {
      if (renew) {
        const coord = this.kc.makeApiClient(CoordinationV1Api);
        const lease = await coord.readNamespacedLease({ namespace: 'kube-node-lease', name: NODE });
        lease.spec = { ...lease.spec, renewTime: microTime() };
        await coord.replaceNamespacedLease({ namespace: 'kube-node-lease', name: NODE, body: lease });
      }
      const pods = (await core.listNamespacedPod({ namespace: NS })).items.filter((p) => p.spec?.nodeName === NODE && !p.metadata?.deletionTimestamp);
      const started = new Date(Date.now() - 600_000); // past the HPA's 5 min CPU initialization period
      for (const p of pods.filter((x) => x.status?.phase !== 'Running')) {
        const cond = (type: string) => ({ type, status: 'True', lastTransitionTime: started });
        p.status = {
          phase: 'Running',
          podIP: `198.18.255.${this.ip}`,
          podIPs: [{ ip: `198.18.255.${this.ip++}` }],
          hostIP: '198.18.0.1',
          startTime: started,
          conditions: [cond('PodScheduled'), cond('Initialized'), cond('ContainersReady'), cond('Ready')],
          containerStatuses: [{ name: 'app', image: 'loadscope/backend', imageID: '', ready: true, started: true, restartCount: 0, state: { running: { startedAt: started } } }],
        };
        await core.replaceNamespacedPodStatus({ namespace: NS, name: p.metadata?.name ?? '', body: p }).catch(() => {});
      }
      this.running = (await core.listNamespacedPod({ namespace: NS })).items.filter((p) => p.spec?.nodeName === NODE && p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp);
    } catch {
      // the next tick tries again
    }
  }
}

/** GET through kube-apiserver as the admin; resolves with the status code and the parsed body. */
function apiGet(path: string): Promise<{ code: number; body: any }> {
  const pki = join(cp?.dir ?? '', 'pki');
  return new Promise((res, rej) => {
    const req = request(`${cp?.info.server}${path}`, { ca: readFileSync(join(pki, 'ca.crt')), cert: readFileSync(join(pki, 'admin.crt')), key: readFileSync(join(pki, 'admin.key')), timeout: 10_000 }, (r) => {
      let text = '';
      r.setEncoding('utf8').on('data', (d: string) => (text += d));
      r.on('end', () => res({ code: r.statusCode ?? 0, body: JSON.parse(text || 'null') }));
    });
    req.on('error', rej).end();
  });
}

function deployment(name: string, replicas: number) {
  return {
    metadata: { name, labels: { app: name } },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          automountServiceAccountToken: false,
          containers: [{ name: 'app', image: 'loadscope/backend', resources: { requests: { cpu: `${REQUEST_CPU * 1000}m`, memory: '64Mi' } } }],
        },
      },
    },
  };
}

function hpa(name: string, metrics: V2MetricSpec[]): V2HorizontalPodAutoscaler {
  return { metadata: { name }, spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name }, minReplicas: 1, maxReplicas: 10, metrics } };
}

let provider: TestProvider;
let kc: KubeConfig;

async function setup(): Promise<void> {
  cp = await ControlPlane.up({ dir: join(root, 'cp'), owned: true, hpaSyncPeriod: '2s', extraArgs: { 'kube-apiserver': ['--enable-aggregator-routing=true'] } });
  kc = new KubeConfig();
  kc.loadFromFile(cp.info.kubeconfig);
  kubelet = new TestKubelet(kc);
  provider = new TestProvider(() => kubelet?.running ?? []);
  provider.load = { web: { cpuCores: 0.4 }, api: { cpuCores: 0.1, rps: 20 } };
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: NS } } });
  await kubelet.register();
  api = await MetricsApi.start({ kubeconfig: cp.info.kubeconfig, provider });
  const apps = kc.makeApiClient(AppsV1Api);
  await apps.createNamespacedDeployment({ namespace: NS, body: deployment('web', 2) });
  await apps.createNamespacedDeployment({ namespace: NS, body: deployment('api', 2) });
  await core.createNamespacedService({ namespace: NS, body: { metadata: { name: 'api' }, spec: { selector: { app: 'api' }, ports: [{ port: 80 }] } } });
  await until('four pods scheduled by kube-scheduler and Running', 45_000, async () => ((kubelet?.running.length ?? 0) >= 4 ? true : undefined));
}

it('kube-apiserver serves the metrics APIs: discovery, PodMetrics by selector, per-pod and per-Service request rates', async (t) => {
  await setup();
  t.is(api?.address.startsWith('198.18.0.'), true);
  for (const a of API_SERVICES) {
    const s = await apiGet(`/apis/apiregistration.k8s.io/v1/apiservices/${a.name}`);
    t.is(s.body.status.conditions.find((c: { type: string }) => c.type === 'Available')?.status, 'True', a.name);
  }
  const disc = await apiGet('/apis/metrics.k8s.io/v1beta1');
  t.deepEqual(disc.body.resources.map((r: { name: string }) => r.name).sort(), ['nodes', 'pods']);
  const groups = await apiGet('/apis');
  const custom = groups.body.groups.find((g: { name: string }) => g.name === 'custom.metrics.k8s.io');
  t.is(custom?.preferredVersion.groupVersion, 'custom.metrics.k8s.io/v1beta2');

  const all = await apiGet(`/apis/metrics.k8s.io/v1beta1/namespaces/${NS}/pods`);
  t.is(all.code, 200);
  t.is(all.body.kind, 'PodMetricsList');
  t.is(all.body.items.length, 4);
  const web = await apiGet(`/apis/metrics.k8s.io/v1beta1/namespaces/${NS}/pods?labelSelector=app%3Dweb`);
  t.is(web.body.items.length, 2);
  for (const m of web.body.items) {
    t.is(m.metadata.labels.app, 'web');
    t.deepEqual(m.containers, [{ name: 'app', usage: { cpu: '200m', memory: '48Mi' } }]);
    t.is(m.window, '15s');
  }
  const one = await apiGet(`/apis/metrics.k8s.io/v1beta1/namespaces/${NS}/pods/${web.body.items[0].metadata.name}`);
  t.is(one.body.kind, 'PodMetrics');
  t.is((await apiGet(`/apis/metrics.k8s.io/v1beta1/namespaces/${NS}/pods/no-such-pod`)).code, 404);

  const perPod = await apiGet(`/apis/custom.metrics.k8s.io/v1beta2/namespaces/${NS}/pods/*/http_requests_per_second?labelSelector=app%3Dapi`);
  t.is(perPod.body.kind, 'MetricValueList');
  t.deepEqual(perPod.body.items.map((i: { value: string; describedObject: { kind: string } }) => [i.describedObject.kind, i.value]), [['Pod', '10'], ['Pod', '10']]);
  const svc = await apiGet(`/apis/custom.metrics.k8s.io/v1beta2/namespaces/${NS}/services/api/http_requests_per_second`);
  t.is(svc.body.items.length, 1);
  t.like(svc.body.items[0], { describedObject: { kind: 'Service', name: 'api', namespace: NS }, metric: { name: 'http_requests_per_second' }, value: '20', windowSeconds: 15 });
  t.is((await apiGet(`/apis/custom.metrics.k8s.io/v1beta2/namespaces/${NS}/services/api/queue_depth`)).code, 404);

  // Only kube-apiserver's front proxy may call the server itself.
  const direct = await new Promise<number>((res, rej) => {
    request(`https://${api?.address}:${api?.port}/apis/metrics.k8s.io/v1beta1/pods`, { rejectUnauthorized: false }, (r) => {
      res(r.statusCode ?? 0);
      r.resume();
    })
      .on('error', rej)
      .end();
  });
  t.is(direct, 401);
});

it('the real HPA controller rescales on the served CPU, per-pod and per-Service metrics', async (t) => {
  t.truthy(api, 'the first test set up the metrics APIs');
  const as = kc.makeApiClient(AutoscalingV2Api);
  const cpuTarget: V2MetricSpec = { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 100 } } };
  const rpsTarget: V2MetricSpec = { type: 'Pods', pods: { metric: { name: 'http_requests_per_second' }, target: { type: 'AverageValue', averageValue: '10' } } };
  const svcTarget: V2MetricSpec = {
    type: 'Object',
    object: { describedObject: { apiVersion: 'v1', kind: 'Service', name: 'api' }, metric: { name: 'http_requests_per_second' }, target: { type: 'Value', value: '100' } },
  };
  await as.createNamespacedHorizontalPodAutoscaler({ namespace: NS, body: hpa('web', [cpuTarget]) });
  await as.createNamespacedHorizontalPodAutoscaler({ namespace: NS, body: hpa('api', [rpsTarget, svcTarget]) });
  const read = (name: string) => as.readNamespacedHorizontalPodAutoscaler({ namespace: NS, name });

  // At target: 0.4 cores over 2 pods of 200m = 100 %; 20/s over 2 pods = 10/s; the Service's 20/s is a fifth of its 100.
  const steady = await until('both HPAs read their metrics', 30_000, async () => {
    const [w, a] = await Promise.all([read('web'), read('api')]);
    return w.status?.currentMetrics?.length && (a.status?.currentMetrics?.length ?? 0) >= 2 ? { w, a } : undefined;
  });
  t.like(steady.w.status?.currentMetrics?.[0]?.resource?.current, { averageUtilization: 100, averageValue: '200m' });
  t.is(String(steady.a.status?.currentMetrics?.[0]?.pods?.current.averageValue), '10');
  t.is(String(steady.a.status?.currentMetrics?.[1]?.object?.current.value), '20');
  t.is(steady.w.status?.desiredReplicas, 2);
  t.is(steady.a.status?.desiredReplicas, 2);
  t.is(steady.w.status?.conditions?.find((c) => c.type === 'ScalingActive')?.reason, 'ValidMetricFound');

  // Raise the load. Upstream's formula: ceil(2 × 300m/200m / 100 %) = 3 for web; ceil(2 × 25/10) = 5 for api
  // (the Service's 50/100 proposes 1; the largest proposal wins), but an HPA without `behavior` scales up
  // by at most max(2 × current, 4) = 4 per step: 4 first, then 50/s over 4 pods = 12.5 → ceil(4 × 1.25) = 5.
  // Split over the new pods, the load is at target again and the scaling stops.
  provider.load = { web: { cpuCores: 0.6 }, api: { cpuCores: 0.1, rps: 50 } };
  const events = async (name: string) =>
    (await kc.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace: NS, fieldSelector: `involvedObject.name=${name},involvedObject.kind=HorizontalPodAutoscaler,reason=SuccessfulRescale` })).items;
  const webEvents = await until('a SuccessfulRescale of web', 30_000, async () => ((await events('web')).length ? events('web') : undefined));
  const apiEvents = await until('two SuccessfulRescales of api', 40_000, async () => ((await events('api')).length >= 2 ? events('api') : undefined));
  t.is(webEvents[0]?.source?.component, 'horizontal-pod-autoscaler');
  t.is(webEvents[0]?.message, 'New size: 3; reason: cpu resource utilization (percentage of request) above target');
  t.deepEqual(
    apiEvents.map((e) => [e.source?.component, e.message]).sort(),
    [
      ['horizontal-pod-autoscaler', 'New size: 4; reason: pods metric http_requests_per_second above target'],
      ['horizontal-pod-autoscaler', 'New size: 5; reason: pods metric http_requests_per_second above target'],
    ],
  );
  const after = await until('the new pods Running and read at target', 30_000, async () => {
    const [w, a] = await Promise.all([read('web'), read('api')]);
    const ok = w.status?.currentReplicas === 3 && a.status?.currentReplicas === 5 && w.status.currentMetrics?.[0]?.resource?.current.averageUtilization === 100 && String(a.status.currentMetrics?.[0]?.pods?.current.averageValue) === '10';
    return ok ? { w, a } : undefined;
  });
  t.is(after.w.status?.desiredReplicas, 3);
  t.is(after.a.status?.desiredReplicas, 5);
  t.is(String(after.a.status?.currentMetrics?.[1]?.object?.current.value), '50');
  await sleep(2500); // one more HPA sync at target
  t.is((await events('web')).length, 1, 'no further rescale of web once the load is at target');
  t.is((await events('api')).length, 2, 'no further rescale of api once the load is at target');
});

it('a failing metrics source makes the real HPA report FailedGetResourceMetric and FailedGetPodsMetric', async (t) => {
  t.truthy(api, 'the first test set up the metrics APIs');
  const as = kc.makeApiClient(AutoscalingV2Api);
  provider.fail = true;
  const active = async (name: string) => (await as.readNamespacedHorizontalPodAutoscaler({ namespace: NS, name })).status?.conditions?.find((c) => c.type === 'ScalingActive');
  const web = await until('web ScalingActive False', 20_000, async () => ((await active('web'))?.status === 'False' ? active('web') : undefined));
  const apiCond = await until('api ScalingActive False', 20_000, async () => ((await active('api'))?.status === 'False' ? active('api') : undefined));
  t.is(web?.reason, 'FailedGetResourceMetric');
  t.regex(web?.message ?? '', /cgroup read failed/);
  t.is(apiCond?.reason, 'FailedGetPodsMetric');
  t.regex(apiCond?.message ?? '', /cgroup read failed/);
  t.true((api?.served.failed ?? 0) > 0);
  provider.fail = false;
  await until('web ScalingActive again', 20_000, async () => ((await active('web'))?.status === 'True' ? true : undefined));

  // Stop: the APIServices, the Service, its EndpointSlice and the address are gone.
  const link = api?.link ?? '';
  const address = api?.address;
  await api?.stop();
  api = undefined;
  for (const a of API_SERVICES) t.is((await apiGet(`/apis/apiregistration.k8s.io/v1/apiservices/${a.name}`)).code, 404);
  t.is((await apiGet('/api/v1/namespaces/kube-system/services/loadscope-metrics')).code, 404);
  t.is((await apiGet('/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices/loadscope-metrics')).code, 404);
  t.false(execFileSync('ip', ['-4', 'addr', 'show'], { encoding: 'utf8' }).includes(`${address}/32`), `${address} removed`);
  t.false(existsSync(`/sys/class/net/${link}`));
});

it('a run killed while it serves leaves nothing: the ledger sweep removes its address, the next start its APIServices', async (t) => {
  t.truthy(cp, 'the first test started the control plane');
  const ledgerDir = mkdtempSync(join(root, 'ledger-'));
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./metrics-crash-child.ts', import.meta.url)), cp?.info.kubeconfig ?? ''], {
    env: { ...process.env, LOADSCOPE_LEDGER_DIR: ledgerDir },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await Promise.race([once(createInterface({ input: child.stdout }), 'line'), sleep(30_000).then(() => [''])]);
  const started = JSON.parse(String(line[0]) || '{}') as { pid?: number; link?: string; address?: string };
  t.truthy(started.link, 'the child started the metrics APIs');
  t.true(existsSync(`/sys/class/net/${started.link}`));

  // While it lives, a second server is refused: one owner of the APIServices at a time.
  const refused = await t.throwsAsync(mustFail(MetricsApi.start({ kubeconfig: cp?.info.kubeconfig ?? '', provider })));
  t.like(refused, { code: 'USAGE' });
  t.regex(refused?.message ?? '', /another live loadscope process/);

  child.kill('SIGKILL');
  await once(child, 'exit');
  const swept = sweepStale(ledgerDir);
  t.true(swept.some((s) => s.startsWith(`deleted link ${started.link}`)), swept.join('; '));
  t.false(existsSync(`/sys/class/net/${started.link}`));
  t.is((await apiGet(`/apis/apiregistration.k8s.io/v1/apiservices/${API_SERVICES[0]?.name}`)).code, 200, 'the dead run left its APIServices');

  api = await MetricsApi.start({ kubeconfig: cp?.info.kubeconfig ?? '', provider });
  const owner = (await apiGet(`/apis/apiregistration.k8s.io/v1/apiservices/${API_SERVICES[0]?.name}`)).body.metadata.annotations['loadscope.dev/owner'];
  t.regex(owner, new RegExp(`/${process.pid}/`), 'the new start swept the dead owner\'s APIServices and registered its own');
  t.is((await apiGet(`/apis/metrics.k8s.io/v1beta1/namespaces/${NS}/pods`)).code, 200);
  await api.stop();
  api = undefined;
});

it('without --enable-aggregator-routing kube-apiserver never dials the headless Service: start fails, naming the flag; a foreign Service of the same name is refused and left alone; both leave nothing', async (t) => {
  await cp?.down();
  // controlplane.ts turns aggregator routing on by default: this apiserver has it off (a later flag wins)
  cp = await ControlPlane.up({ dir: join(root, 'cp-plain'), owned: true, extraArgs: { 'kube-apiserver': ['--enable-aggregator-routing=false'] } });
  const linksBefore = execFileSync('ip', ['-br', 'link'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith('lsm'));
  // Somebody else's Service under the name: refused, and left alone.
  const core = new KubeConfig();
  core.loadFromFile(cp.info.kubeconfig);
  const coreApi = core.makeApiClient(CoreV1Api);
  await coreApi.createNamespacedService({ namespace: 'kube-system', body: { metadata: { name: 'loadscope-metrics' }, spec: { ports: [{ port: 443 }] } } });
  const taken = await t.throwsAsync(mustFail(MetricsApi.start({ kubeconfig: cp.info.kubeconfig, provider, availableTimeoutMs: 3000 })));
  t.like(taken, { code: 'USAGE' });
  t.regex(taken?.message ?? '', /kube-system\/loadscope-metrics .*exists and is not a dead loadscope run's/);
  t.is((await apiGet('/api/v1/namespaces/kube-system/services/loadscope-metrics')).code, 200, 'the foreign Service is left alone');
  await coreApi.deleteNamespacedService({ namespace: 'kube-system', name: 'loadscope-metrics' });
  const err = await t.throwsAsync(mustFail(MetricsApi.start({ kubeconfig: cp.info.kubeconfig, provider, availableTimeoutMs: 3000 })));
  t.like(err, { code: 'SERVICE_START' });
  t.regex(err?.message ?? '', /FailedDiscoveryCheck: cannot route to service with ClusterIP "None"/, 'kube-apiserver refused to dial, it did not time out on an address');
  t.regex(err?.message ?? '', /did not become available within 3 s/);
  t.regex((err as { hint?: string } | undefined)?.hint ?? '', /--enable-aggregator-routing=true/);
  for (const a of API_SERVICES) t.is((await apiGet(`/apis/apiregistration.k8s.io/v1/apiservices/${a.name}`)).code, 404);
  t.is((await apiGet('/api/v1/namespaces/kube-system/services/loadscope-metrics')).code, 404);
  t.deepEqual(execFileSync('ip', ['-br', 'link'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith('lsm')), linksBefore);
});
