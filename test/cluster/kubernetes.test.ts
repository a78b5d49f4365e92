// cluster mode kubernetes against the real test control plane (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler; no node yet, so pods stay Pending): what is deployed and
// labelled, what the informers journal with its Kubernetes source, what stop removes, what the next
// run sweeps after a SIGKILL, and that no credential of the kubeconfig reaches the journal.
import { AppsV1Api, AutoscalingV2Api, CoreV1Api, KubeConfig, NetworkingV1Api } from '@kubernetes/client-node';
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { KubernetesCluster } from '../../src/cluster/kubernetes/cluster.ts';
import { RUN_LABEL, runLabel, runNamespace } from '../../src/cluster/kubernetes/manifests.ts';
import { Ledger } from '../../src/core/ledger.ts';
import type { RunEvent, Sample } from '../../src/core/types.ts';
import { ControlPlane, missingBinaries } from '../../src/kube/controlplane.ts';
import { parseScenario } from '../../src/scenario/load.ts';
import { needs } from '../helpers/needs.ts';

const it = needs('the test control plane', missingBinaries());
const root = mkdtempSync(join(tmpdir(), 'ls-k8s-'));
process.env.LOADSCOPE_LEDGER_DIR = join(root, 'ledger');
let cp: ControlPlane | undefined;
/** Every cluster a test starts, stopped at the end even when an assertion failed half-way. */
const started: KubernetesCluster[] = [];
const track = (c: KubernetesCluster) => (started.push(c), c);

test.after.always(async () => {
  await Promise.all(started.map((c) => c.stop().catch(() => undefined)));
  await cp?.down();
  rmSync(root, { recursive: true, force: true });
});

const scenario = (kubeconfig: string, extra = '', tail = '') =>
  parseScenario(
    `name: k8s\ncluster:\n  mode: kubernetes\n  kubeconfig: ${kubeconfig}\n${extra}stages:\n  - { duration: 5s, rate: 10 }\nservices:\n  backend:\n    replicas: 2\n    resources: { requests: { cpu: 250m, memory: 96Mi } }\n${tail}`,
    'k8s.yaml',
  ).spec;
/** An HPA whose minimum is above the Deployment's 2 replicas: the real controller rescales to 3 without needing any metric. */
const minAbove = `autoscaler:
  scaleTargetRef: { apiVersion: apps/v1, kind: Deployment, name: backend }
  minReplicas: 3
  maxReplicas: 4
  metrics:
    - type: Resource
      resource: { name: cpu, target: { type: Utilization, averageUtilization: 50 } }
`;

/** A sink that keeps every record, and the cluster context around it. */
function recorder(runId: string) {
  const events: RunEvent[] = [];
  const samples: Sample[] = [];
  const status: string[] = [];
  const ctx = { runId, sink: { event: (e: RunEvent) => events.push(e), sample: (s: Sample) => samples.push(s) }, ledger: new Ledger(runId), onStatus: (l: string) => void status.push(l) };
  return { events, samples, status, ctx };
}

async function until<T>(what: string, timeoutMs: number, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await sleep(200);
  }
}

const gone = (core: CoreV1Api, name: string) => core.readNamespace({ name }).then((ns) => ns.status?.phase === 'Terminating' ? 'terminating' : 'there', (e: { code?: number }) => (e.code === 404 ? 'gone' : `error ${e.code}`));

/** The secret parts of a kubeconfig (client key and certificate, tokens, passwords), as written in the file. */
function secretsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(client-key-data|client-certificate-data|token|password):\s*(\S+)/g)].map((m) => m[2]);
}

/** A run in a child process that deploys (cluster: `clusterYaml`), prints "deployed" and waits to be killed. */
async function deployInChild(runId: string, clusterYaml: string) {
  const src = fileURLToPath(new URL('../../src/', import.meta.url));
  const code = `
    import { KubernetesCluster } from '${src}cluster/kubernetes/cluster.ts';
    import { Ledger } from '${src}core/ledger.ts';
    import { parseScenario } from '${src}scenario/load.ts';
    const spec = parseScenario(${JSON.stringify(`name: k8s\ncluster: ${clusterYaml}\nstages: [{ duration: 5s, rate: 10 }]\n`)}, 'k8s.yaml').spec;
    const ctx = { runId: '${runId}', sink: { event() {}, sample() {} }, ledger: new Ledger('${runId}'), onStatus() {} };
    await new KubernetesCluster(spec, ctx).start(new AbortController().signal);
    console.log('deployed');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
  const ok = await new Promise<boolean>((res) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('deployed')) res(true);
    });
    child.on('exit', () => res(false));
  });
  if (!ok) throw new Error(`the child run ${runId} did not deploy`);
  return child;
}

it('deploy: namespace and objects labelled with the run; informers journal pods and the HPA with their Kubernetes source; stop removes it all', async (t) => {
  const t0 = performance.now();
  cp = await ControlPlane.up({ dir: join(root, 'cp'), owned: true, hpaSyncPeriod: '2s' });
  t.log(`control plane up in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const kubeconfig = cp.info.kubeconfig;
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const runId = '20261206T190000Z-k8s-a1b2c3';
  const r = recorder(runId);
  const cluster = track(new KubernetesCluster(scenario(kubeconfig, '', minAbove), r.ctx));
  const t1 = performance.now();
  const target = await cluster.start(new AbortController().signal);
  t.log(`started (namespace, objects, 5 informers) in ${((performance.now() - t1) / 1000).toFixed(1)} s`);
  const namespace = runNamespace(runId);
  t.is(namespace, 'loadscope-20261206t190000z-k8s-a1b2c3');
  t.regex(target.url, /^http:\/\/198\.19\.255\.\d+:80$/, 'the frontend Service\'s ClusterIP, in the test control plane\'s service CIDR');

  const ns = await core.readNamespace({ name: namespace });
  t.is(ns.metadata?.labels?.[RUN_LABEL], runLabel(runId));
  t.is(JSON.parse(ns.metadata?.annotations?.['loadscope.io/owner'] ?? '{}').pid, process.pid);
  const labelled = `${RUN_LABEL}=${runLabel(runId)}`;
  const names = async (p: Promise<{ items: { metadata?: { name?: string } }[] }>) => (await p).items.map((o) => o.metadata!.name!).sort();
  t.deepEqual(await names(apps.listNamespacedDeployment({ namespace, labelSelector: labelled })), ['backend', 'frontend']);
  t.deepEqual(await names(core.listNamespacedService({ namespace, labelSelector: labelled })), ['backend', 'frontend']);
  t.deepEqual(await names(core.listNamespacedConfigMap({ namespace, labelSelector: labelled })), ['loadscope-services']);
  t.deepEqual(await names(kc.makeApiClient(NetworkingV1Api).listNamespacedNetworkPolicy({ namespace, labelSelector: labelled })), ['backend-access'], 'no Cilium CRD here: the NetworkPolicy');
  const hpa = await kc.makeApiClient(AutoscalingV2Api).readNamespacedHorizontalPodAutoscaler({ name: 'backend', namespace });
  t.deepEqual([hpa.spec?.minReplicas, hpa.spec?.metrics?.map((m) => m.type)], [3, ['Resource']], 'the scenario\'s autoscaler spec');
  const backend = await apps.readNamespacedDeployment({ name: 'backend', namespace });
  t.is(backend.spec?.replicas, 2, 'the scenario\'s replicas');
  t.deepEqual(backend.spec?.template.spec?.containers[0].resources?.requests, { cpu: '250m', memory: String(96 * 1024 * 1024) });
  const cm = await core.readNamespacedConfigMap({ name: 'loadscope-services', namespace });
  t.regex(cm.data?.['main.mjs'] ?? '', /healthz/, 'the services\' bundle');

  // What the cluster itself does, as the informers see it: the pods the ReplicaSet controller creates,
  // the scheduler's and the HPA controller's Events (no metrics APIs here: the HPA cannot get its metrics).
  const created = await until('pod.created of 4 pods', 45_000, () => {
    const pods = r.events.filter((e) => e.kind === 'pod.created');
    return pods.length >= 4 ? pods : undefined;
  });
  t.deepEqual([...new Set(created.map((e) => e.attrs.service))].sort(), ['backend', 'frontend']);
  t.true(created.every((e) => e.source === 'kube-apiserver'));
  const hpaWarning = await until('an HPA warning from the HPA controller', 45_000, () => r.events.find((e) => e.kind === 'hpa.warning' && e.source === 'horizontal-pod-autoscaler'));
  t.log(`HPA: ${hpaWarning.attrs.reason}: ${hpaWarning.attrs.message}`);
  t.regex(String(hpaWarning.attrs.reason), /^Failed/);
  const status = await until('hpa.status with conditions', 30_000, () => r.events.find((e) => e.kind === 'hpa.status' && (e.attrs.conditions as unknown[]).length > 0));
  t.log(`HPA status: ${status.attrs.message}`);
  t.true((status.attrs.conditions as { type: string }[]).some((c) => c.type === 'AbleToScale'));
  t.truthy(r.samples.find((s) => s.metric === 'hpa.replicas' && s.tags.hpa === 'backend'));
  // The HPA's own decision: SuccessfulRescale 2 → 3, then the Deployment scaled through the scale subresource.
  const rescale = await until('hpa.rescale', 45_000, () => r.events.find((e) => e.kind === 'hpa.rescale'));
  t.log(`HPA: ${rescale.attrs.reason}: ${rescale.attrs.message} (from ${rescale.attrs.from})`);
  t.like(rescale, { source: 'horizontal-pod-autoscaler', attrs: { hpa: 'backend', reason: 'SuccessfulRescale', from: 2, to: 3 } });
  const scaled = await until('service.scaled', 30_000, () => r.events.find((e) => e.kind === 'service.scaled' && e.attrs.service === 'backend'));
  t.log(`service.scaled by ${scaled.source}`);
  t.like(scaled.attrs, { from: 2, to: 3 });
  const sched = await until('the scheduler\'s FailedScheduling', 30_000, () => r.events.find((e) => e.kind === 'k8s.event' && e.attrs.reason === 'FailedScheduling'));
  t.is(sched.source, 'default-scheduler');
  t.truthy(r.events.find((e) => e.kind === 'k8s.event' && e.attrs.reason === 'ScalingReplicaSet' && e.source === 'deployment-controller'));
  t.truthy(r.events.find((e) => e.kind === 'hpa.start' && e.attrs.target === 'Deployment/backend'));
  // No Event is journalled twice at the same count.
  const keys = r.events.filter((e) => e.kind === 'k8s.event' || e.kind.startsWith('hpa.w')).map((e) => JSON.stringify([e.attrs.object ?? e.attrs.hpa, e.attrs.reason, e.attrs.message, e.attrs.count]));
  t.is(new Set(keys).size, keys.length, 'each Event once per count');

  await cluster.stop();
  t.is(await gone(core, namespace), 'gone', 'stop deleted the namespace and waited for it');
  const journal = JSON.stringify([r.events, r.samples, r.status, cluster.notices()]);
  const secrets = secretsOf(kubeconfig);
  t.true(secrets.length >= 2, 'the kubeconfig has credentials to look for');
  for (const s of secrets) {
    t.false(journal.includes(s), 'a kubeconfig credential in the journal');
    t.false(journal.includes(s.slice(10, 50)), 'part of a kubeconfig credential in the journal');
  }
  t.log(`${r.events.length} events, ${r.samples.length} samples; kinds: ${[...new Set(r.events.map((e) => `${e.kind}<${e.source}>`))].join(' ')}`);
});

it('a SIGKILLed run\'s namespace is swept by the next start; a live run\'s is not', async (t) => {
  if (!cp) return t.fail('no control plane');
  const kubeconfig = cp.info.kubeconfig;
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  // The dead run: a child process that deploys and then waits to be killed.
  const deadRun = '20261206T190100Z-k8s-dead01';
  const child = await deployInChild(deadRun, `{ mode: kubernetes, kubeconfig: ${kubeconfig} }`);
  // A live run beside it (this process): its namespace must survive the sweep.
  const liveRun = '20261206T190200Z-k8s-live01';
  const live = track(new KubernetesCluster(scenario(kubeconfig), recorder(liveRun).ctx, { heartbeatMs: 300 }));
  await live.start(new AbortController().signal);
  // Its heartbeat (what a run on another machine is judged by) is renewed on the namespace.
  const beat = async () => Date.parse((await core.readNamespace({ name: runNamespace(liveRun) })).metadata?.annotations?.['loadscope.io/heartbeat'] ?? '');
  const first = await beat();
  t.true(Number.isFinite(first));
  await until('a renewed heartbeat', 10_000, async () => ((await beat()) > first ? true : undefined));
  child.kill('SIGKILL');
  await new Promise((res) => child.once('exit', res));
  t.is(await gone(core, runNamespace(deadRun)), 'there', 'the killed run left its namespace');

  const next = recorder('20261206T190300Z-k8s-next01');
  const cluster = track(new KubernetesCluster(scenario(kubeconfig), next.ctx));
  await cluster.start(new AbortController().signal);
  t.log(cluster.notices().join('\n'));
  t.truthy(cluster.notices().find((n) => n.includes(`namespace ${runNamespace(deadRun)} of run ${deadRun}`) && n.includes('on this machine is gone')));
  t.not(await gone(core, runNamespace(deadRun)), 'there', 'the dead run\'s namespace is being deleted');
  t.is(await gone(core, runNamespace(liveRun)), 'there', 'the live run\'s namespace is left alone');
  await until('the dead run\'s namespace gone', 60_000, async () => ((await gone(core, runNamespace(deadRun))) === 'gone' ? true : undefined));
  await Promise.all([cluster.stop(), live.stop()]);
  t.is(await gone(core, runNamespace(liveRun)), 'gone');
});

it('a named namespace: the run applies its objects beside a marker; a killed run\'s objects are swept by label; stop deletes only the run\'s, the namespace stays', async (t) => {
  if (!cp) return t.fail('no control plane');
  const kubeconfig = cp.info.kubeconfig;
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const namespace = 'ls-perf';
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'not-loadscope' } } });
  const deadRun = '20261206T190400Z-k8s-dead02';
  const child = await deployInChild(deadRun, `{ mode: kubernetes, kubeconfig: ${kubeconfig}, namespace: ${namespace} }`);
  child.kill('SIGKILL');
  await new Promise((res) => child.once('exit', res));
  const deadSel = `${RUN_LABEL}=${runLabel(deadRun)}`;
  t.is((await apps.listNamespacedDeployment({ namespace, labelSelector: deadSel })).items.length, 2, 'the killed run left its Deployments');

  const runId = '20261206T190500Z-k8s-named1';
  const r = recorder(runId);
  const cluster = track(new KubernetesCluster(scenario(kubeconfig, `  namespace: ${namespace}\n`), r.ctx));
  await cluster.start(new AbortController().signal);
  const swept = cluster.notices().filter((n) => n.startsWith('swept'));
  t.log(swept.join('\n'));
  for (const o of ['HorizontalPodAutoscaler/backend', 'Deployment/backend', 'Deployment/frontend', 'Service/backend', 'ConfigMap/loadscope-services', 'NetworkPolicy/backend-access']) {
    t.truthy(swept.find((n) => n.includes(`${o} in ${namespace} of run ${deadRun}`)), o);
  }
  const mine = `${RUN_LABEL}=${runLabel(runId)}`;
  t.deepEqual((await core.listNamespacedConfigMap({ namespace, labelSelector: RUN_LABEL })).items.map((c) => c.metadata!.name).sort(), ['loadscope-run-' + runLabel(runId), 'loadscope-services']);
  t.is((await apps.listNamespacedDeployment({ namespace, labelSelector: mine })).items.length, 2);
  await until('the dead run\'s Deployments gone', 30_000, async () => ((await apps.listNamespacedDeployment({ namespace, labelSelector: deadSel })).items.length === 0 ? true : undefined));
  await cluster.stop();
  t.is(await gone(core, namespace), 'there', 'a namespace the run did not create stays');
  await until('the run\'s objects gone', 30_000, async () => {
    const left = [
      ...(await apps.listNamespacedDeployment({ namespace, labelSelector: RUN_LABEL })).items,
      ...(await core.listNamespacedService({ namespace, labelSelector: RUN_LABEL })).items,
      ...(await core.listNamespacedConfigMap({ namespace, labelSelector: RUN_LABEL })).items,
    ];
    return left.length === 0 ? true : undefined;
  });
  t.truthy(await core.readNamespacedConfigMap({ name: 'not-loadscope', namespace }), 'what is not the run\'s is untouched');
});

it('a start aborted once its namespace exists removes it; deploy: false watches a namespace and loads target.url', async (t) => {
  if (!cp) return t.fail('no control plane');
  const kubeconfig = cp.info.kubeconfig;
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const runId = '20261206T190600Z-k8s-abort1';
  const r = recorder(runId);
  const abort = new AbortController();
  r.ctx.onStatus = (line: string) => {
    if (line.includes(`namespace ${runNamespace(runId)} created`)) abort.abort(new Error('Ctrl-C'));
  };
  const aborted = track(new KubernetesCluster(scenario(kubeconfig), r.ctx));
  await t.throwsAsync(aborted.start(abort.signal), { message: 'Ctrl-C' });
  t.is(await gone(core, runNamespace(runId)), 'gone', 'the aborted start deleted its namespace');

  // deploy: false against the namespace of the previous test, which still holds a Pod of someone else.
  const namespace = 'ls-perf';
  await core.createNamespacedPod({ namespace, body: { metadata: { name: 'theirs', labels: { app: 'theirs' } }, spec: { containers: [{ name: 'c', image: 'loadscope-backend' }] } } });
  const spec = parseScenario(`name: k8s\ntarget: { url: "http://127.0.0.1:9" }\ncluster: { mode: kubernetes, kubeconfig: ${kubeconfig}, namespace: ${namespace}, deploy: false }\nstages: [{ duration: 1s, rate: 1 }]\n`, 'k.yaml').spec;
  const w = recorder('20261206T190700Z-k8s-watch1');
  const watcher = track(new KubernetesCluster(spec, w.ctx));
  const target = await watcher.start(new AbortController().signal);
  t.deepEqual(target, { url: 'http://127.0.0.1:9', ports: [9], ifaces: [], cidrs: [] });
  t.truthy(w.events.find((e) => e.kind === 'pod.created' && e.attrs.pod === 'theirs'), 'what already runs is journalled at the start');
  await core.deleteNamespacedPod({ name: 'theirs', namespace, gracePeriodSeconds: 0 });
  await until('pod.terminated', 20_000, () => w.events.find((e) => e.kind === 'pod.terminated' && e.attrs.pod === 'theirs'));
  t.is((await core.listNamespacedConfigMap({ namespace, labelSelector: RUN_LABEL })).items.length, 0, 'deploy: false creates nothing');
  await watcher.stop();
  t.is(await gone(core, namespace), 'there');
});
