import { now } from '../model/clock.ts';
import { startBundledServices } from './process.ts';
import type { Cluster, ClusterContext, ClusterTarget, ServiceCounters } from './cluster.ts';
import type { BundledServices } from './types.ts';
import type { ScenarioSpec } from '../scenario/schema.ts';

/** The bundled frontend and backend as single processes on 127.0.0.1 (no namespaces, no scaling). */
export class LoopbackCluster implements Cluster {
  readonly mode = 'loopback';
  private services?: BundledServices;

  constructor(private readonly spec: ScenarioSpec, private readonly ctx: ClusterContext) {}

  async start(signal: AbortSignal): Promise<ClusterTarget> {
    this.ctx.onStatus('starting services on loopback: backend, frontend');
    // The run's signal may only cancel the start: once up, services stay until stop() has read their counters.
    const startup = new AbortController();
    const cancel = () => startup.abort(signal.reason);
    signal.addEventListener('abort', cancel, { once: true });
    let s: BundledServices;
    try {
      s = await startBundledServices(
        { backend: this.spec.services.backend, frontend: { maxSockets: this.spec.services.frontend.maxSockets } },
        { signal: startup.signal, env: { LOADSCOPE_RUN_ID: this.ctx.runId } },
      );
    } finally {
      signal.removeEventListener('abort', cancel);
    }
    this.services = s;
    this.ctx.ledger.addProcess(s.backend.pid);
    this.ctx.ledger.addProcess(s.frontend.pid);
    this.ctx.onStatus(`services ready: frontend ${s.frontend.url} → backend ${s.backend.url}`);
    for (const svc of [s.backend, s.frontend]) {
      this.ctx.sink.event({ kind: 'service.ready', time: now(), source: 'cluster', attrs: { service: svc.name, role: svc.role, pod: svc.name, url: svc.url, pid: svc.pid } });
    }
    return { url: s.frontend.url, ports: [s.frontend.port, s.backend.port], ifaces: ['lo'], cidrs: ['127.0.0.0/8'] };
  }

  async counters(): Promise<ServiceCounters[]> {
    if (!this.services) return [];
    const out: ServiceCounters[] = [];
    for (const s of [this.services.frontend, this.services.backend]) {
      const samples = await s.scrape();
      const sum = (name: string) => samples.filter((x) => x.name === name).reduce((a, x) => a + x.value, 0);
      out.push({
        service: s.name,
        role: s.role,
        pod: s.name,
        requestsServed: sum('loadscope_http_requests_total'),
        requestsAborted: sum('loadscope_http_requests_aborted_total'),
        cpuSeconds: sum('process_cpu_seconds_total'),
        rssBytes: sum('process_resident_memory_bytes'),
      });
    }
    return out;
  }

  async stop(): Promise<void> {
    await this.services?.stop();
    this.services = undefined;
  }

  notices(): string[] {
    return [];
  }
}
