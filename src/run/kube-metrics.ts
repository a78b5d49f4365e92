// The source of the metrics APIs (kube/metrics-api.ts) in a run: the pods' cumulative counters (cgroup
// cpu.stat usage_usec, working set, the services' own request counters), scraped every resolution
// period and turned into rates between the last two scrapes, as metrics-server and the seed's
// custom-metrics adapter do. The rates are the local autoscaler's (autoscale/controller.ts RateTracker):
// one home for "rate from two scrapes".
import { RateTracker } from '../autoscale/controller.ts';
import { now } from '../core/clock.ts';
import type { KubeMetricsProvider, KubePodCounters, PodMetricsSample } from '../core/kube-metrics.ts';
import type { PodMetricsSource } from '../core/workload.ts';

/** How to scrape. */
export interface CounterProviderOptions {
  /** Reads every pod's counters now; a rejection fails the APIs until a scrape succeeds. */
  scrape: () => Promise<KubePodCounters[]>;
  /** The scrape period, ms (metrics-server's --metric-resolution; default 15 s). */
  resolutionMs?: number;
}

/**
 * A KubeMetricsProvider over cumulative counters. `start` scrapes at once and every resolution period;
 * a pod has a sample once it was scraped twice while Running, and loses it when a scrape no longer
 * lists it or its sample is older than two periods.
 */
export class CounterMetricsProvider implements KubeMetricsProvider {
  private readonly tracker = new RateTracker();
  private readonly names = new Map<string, { namespace: string; name: string; container: string }>();
  private readonly resolutionMs: number;
  private timer?: NodeJS.Timeout;
  private failure?: Error;
  private scraping?: Promise<void>;

  constructor(private readonly opts: CounterProviderOptions) {
    this.resolutionMs = opts.resolutionMs ?? 15_000;
  }

  /** Scrapes now and then every resolution period; resolves after the first scrape. */
  async start(): Promise<void> {
    await this.scrapeOnce();
    this.timer = setInterval(() => void this.scrapeOnce(), this.resolutionMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One scrape (also what the timer runs); a scrape already under way is joined, not doubled. */
  scrapeOnce(): Promise<void> {
    this.scraping ??= (async () => {
      try {
        const pods = await this.opts.scrape();
        for (const p of pods) this.names.set(key(p), { namespace: p.namespace, name: p.name, container: p.snapshot.service });
        this.tracker.update(pods.map((p) => ({ ...p.snapshot, pod: key(p) })));
        const seen = new Set(pods.map(key));
        for (const k of [...this.names.keys()]) if (!seen.has(k)) this.names.delete(k);
        this.failure = undefined;
      } catch (err) {
        this.failure = err instanceof Error ? err : new Error(String(err));
      } finally {
        this.scraping = undefined;
      }
    })();
    return this.scraping;
  }

  async pods(namespace?: string): Promise<PodMetricsSample[]> {
    if (this.failure) throw new Error(`the last scrape failed: ${this.failure.message}`);
    return this.tracker.current(now(), 2 * this.resolutionMs).flatMap((r) => {
      const n = this.names.get(r.pod);
      if (!n || (namespace !== undefined && n.namespace !== namespace)) return [];
      return [
        {
          namespace: n.namespace,
          name: n.name,
          containers: [{ name: n.container, cpuCores: r.cpuMillis / 1000, workingSetBytes: r.memoryBytes }],
          requestsPerSecond: r.requestsPerSecond,
          time: r.timestamp,
          windowMs: r.windowMs,
        },
      ];
    });
  }
}

const key = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;

/**
 * The scrape of a local cluster (its PodMetricsSource): the pods of `services`, in `namespace` under
 * their own names (as the local cluster's Kubernetes-mode manifests name a pod after its service).
 */
export function localClusterScrape(source: PodMetricsSource, services: readonly string[], namespace: string): () => Promise<KubePodCounters[]> {
  return async () => (await Promise.all(services.map((s) => source.podMetrics(s)))).flat().map((snapshot) => ({ namespace, name: snapshot.pod, snapshot }));
}
