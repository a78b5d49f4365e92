// The metrics APIs' source in a run (src/run/kube-metrics.ts): rates between two scrapes of cumulative
// counters, first from counters the test writes, then from a real local cluster (cgroups, the services'
// own request counters) that the test sends a counted number of requests to.
import test from 'ava';
import http from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LocalCluster } from '../../src/cluster/local/cluster.ts';
import { localUnavailable } from '../../src/cluster/local/resolve.ts';
import type { KubePodCounters } from '../../src/core/kube-metrics.ts';
import type { PodSnapshot } from '../../src/core/workload.ts';
import { Ledger } from '../../src/core/ledger.ts';
import { balancer } from '../../src/kernel/balancer.ts';
import { CounterMetricsProvider, localClusterScrape } from '../../src/run/kube-metrics.ts';
import { scenarioSchema } from '../../src/scenario/schema.ts';
import { needs } from '../helpers/needs.ts';
import { tempDir } from '../helpers/tmp.ts';

function pod(name: string, time: number, cpuSeconds: number, requestsServed: number, phase: PodSnapshot['phase'] = 'Running'): KubePodCounters {
  const snapshot: PodSnapshot = { service: 'backend', pod: name, phase, ready: true, terminating: false, startTime: 0, time, cpuSeconds, memoryBytes: 40 * 2 ** 20, requestsServed, requests: {} };
  return { namespace: name.startsWith('x') ? 'other' : 'shop', name, snapshot };
}

test('rates between the last two scrapes, per namespace; a failed scrape fails the source until one succeeds', async (t) => {
  const t0 = Date.now();
  let next: KubePodCounters[] | Error = [pod('a', t0 - 2000, 10, 1000), pod('x', t0 - 2000, 1, 0), pod('p', t0 - 2000, 0, 0, 'Pending')];
  const provider = new CounterMetricsProvider({ resolutionMs: 5000, scrape: async () => (next instanceof Error ? Promise.reject(next) : next) });
  await provider.scrapeOnce();
  t.deepEqual(await provider.pods(), [], 'one scrape gives no rate, as metrics-server');
  next = [pod('a', t0, 10.5, 1400), pod('x', t0, 1.25, 20), pod('p', t0, 0, 0)];
  await provider.scrapeOnce();
  t.deepEqual(await provider.pods('shop'), [
    { namespace: 'shop', name: 'a', containers: [{ name: 'backend', cpuCores: 0.25, workingSetBytes: 40 * 2 ** 20 }], requestsPerSecond: 200, time: t0, windowMs: 2000 },
  ]);
  t.deepEqual((await provider.pods()).map((s) => [s.namespace, s.name, s.requestsPerSecond]), [
    ['shop', 'a', 200],
    ['other', 'x', 10],
  ]);
  next = new Error('cpu.stat: no such file');
  await provider.scrapeOnce();
  await t.throwsAsync(provider.pods(), { message: /the last scrape failed: cpu.stat: no such file/ });
  next = [pod('x', t0 + 1000, 1.5, 30)];
  await provider.scrapeOnce();
  t.deepEqual((await provider.pods()).map((s) => [s.name, s.requestsPerSecond, s.windowMs]), [['x', 10, 1000]], 'a pod gone from the scrape has no sample');
});

const unavailable = localUnavailable(balancer);
const kernel = needs('the metrics provider over a local cluster', unavailable);

kernel('over a real local cluster: requests/s from the frontend\'s own counter, CPU from its cgroup', async (t) => {
  process.env.LOADSCOPE_LEDGER_DIR ??= tempDir('ls-metrics-ledger-');
  const spec = scenarioSchema.parse({ name: 'metrics-provider', stages: [{ duration: '1s', connections: 1 }], services: { backend: { replicas: 1 }, frontend: { replicas: 1 } } });
  const runId = `metrics-provider-${process.pid}`;
  const ledger = new Ledger(runId);
  const cluster = new LocalCluster(spec, { runId, sink: { sample() {}, event() {} }, ledger, onStatus: () => {}, balancer });
  t.teardown(async () => {
    await cluster.stop();
    ledger.close();
  });
  const { url } = await cluster.start(new AbortController().signal);
  const provider = new CounterMetricsProvider({ scrape: localClusterScrape(cluster, ['frontend', 'backend'], 'shop') });
  await provider.scrapeOnce();
  const N = 200;
  for (let i = 0; i < N; i++) {
    await new Promise<void>((res, rej) => http.get(url, (r) => r.resume().on('end', () => res())).on('error', rej));
  }
  await sleep(600); // the local cluster reuses a pod's counter reading for up to 500 ms
  await provider.scrapeOnce();
  const samples = await provider.pods('shop');
  t.deepEqual(samples.map((s) => s.name).sort(), ['backend-1', 'frontend-1']);
  const fe = samples.find((s) => s.name === 'frontend-1');
  t.log(`frontend-1: ${fe?.requestsPerSecond?.toFixed(1)} requests/s over ${fe?.windowMs.toFixed(0)} ms, ${fe?.containers[0]?.cpuCores} cores, ${fe?.containers[0]?.workingSetBytes} bytes`);
  t.is(Math.round(((fe?.requestsPerSecond ?? 0) * (fe?.windowMs ?? 0)) / 1000), N, 'every request counted once, none other');
  t.true((fe?.containers[0]?.cpuCores ?? 0) > 0, 'the frontend burned CPU in its cgroup');
  t.true((fe?.containers[0]?.workingSetBytes ?? 0) > 1e6);
});
