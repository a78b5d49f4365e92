import type { RunResult } from '../../core/result.ts';

// The run as Prometheus text exposition (format 0.0.4), so an existing Prometheus or Grafana can
// scrape a run while it goes. Gauges describe the last complete 1 s window; counters the run so far.

/** Escapes a label value: backslash, double quote and newline. */
export function labelValue(v: unknown): string {
  return String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

type Labels = Record<string, unknown>;

class Exposition {
  private lines: string[] = [];
  private declared = new Set<string>();

  metric(name: string, type: 'gauge' | 'counter', help: string, value: number | null | undefined, labels: Labels = {}): void {
    if (value === null || value === undefined || !Number.isFinite(value)) return;
    if (!this.declared.has(name)) {
      this.declared.add(name);
      this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    }
    const l = Object.entries(labels).map(([k, v]) => `${k}="${labelValue(v)}"`);
    this.lines.push(`${name}${l.length ? `{${l.join(',')}}` : ''} ${value}`);
  }

  text(): string {
    return this.lines.join('\n') + '\n';
  }
}

/** The last window at or before `i` whose value is not null. */
function lastOf<T>(xs: (T | null)[], i: number): T | null {
  for (let k = Math.min(i, xs.length - 1); k >= 0; k--) if (xs[k] !== null) return xs[k];
  return null;
}

/** Renders a (partial or final) result as Prometheus metrics. */
export function prometheusText(r: RunResult | undefined, o: { finished: boolean }): string {
  const m = new Exposition();
  m.metric('loadscope_up', 'gauge', 'The live view is serving.', 1);
  m.metric('loadscope_run_started', 'gauge', '1 once the run header is in the journal (services and probes are up).', r ? 1 : 0);
  if (!r) return m.text();
  const a = r.analysis;
  m.metric('loadscope_run_info', 'gauge', 'The run being measured.', 1, { run_id: r.runId, scenario: r.scenario.name, engine: r.engine });
  m.metric('loadscope_run_finished', 'gauge', '1 once the run has ended.', o.finished ? 1 : 0);
  m.metric('loadscope_run_windows', 'gauge', 'Seconds of data so far (1 s windows).', a?.windows ?? r.windows.length);
  m.metric('loadscope_http_responses_total', 'counter', 'Responses received (any status).', r.http.requests);
  m.metric('loadscope_http_errors_total', 'counter', 'Failed requests (status >= 400, timeouts, connection errors).', r.http.errors);
  for (const [kind, n] of Object.entries(r.http.errorsByKind)) m.metric('loadscope_http_errors_by_kind_total', 'counter', 'Failed requests by kind.', n, { kind });
  m.metric('loadscope_http_bytes_total', 'counter', 'Response bytes received.', r.http.bytes);
  const l = r.http.latencyMs;
  // no request finished yet: no latency series at all (Prometheus' absence, not a 0)
  for (const [q, v] of l ? ([['0.5', l.p50], ['0.9', l.p90], ['0.99', l.p99], ['0.999', l.p999], ['1', l.max]] as const) : []) {
    m.metric('loadscope_http_latency_run_seconds', 'gauge', 'Request latency over the run so far, by quantile.', v / 1000, { quantile: q });
  }
  if (a) {
    const s = a.series;
    const last = Math.max(0, s.t.length - 2); // the newest window is still filling
    m.metric('loadscope_http_responses_per_second', 'gauge', 'Responses in the last complete window.', s.rps[last] ?? 0);
    m.metric('loadscope_http_errors_per_second', 'gauge', 'Errors in the last complete window.', s.errors[last] ?? 0);
    for (const [q, xs] of [['0.5', s.p50Ms], ['0.9', s.p90Ms], ['0.99', s.p99Ms]] as const) {
      const v = lastOf(xs, last);
      m.metric('loadscope_http_latency_seconds', 'gauge', 'Request latency in the last window with responses, by quantile.', v === null ? null : v / 1000, { quantile: q });
    }
    const stage = r.stages[s.stage[last] ?? -1];
    if (stage) m.metric('loadscope_stage_info', 'gauge', 'The stage of the last complete window.', 1, { stage: stage.name, model: stage.model });
    m.metric('loadscope_stress_cores', 'gauge', 'CPU stress cores burning.', s.stressCores[last] ?? 0);
    if (a.slo && a.violation) {
      m.metric('loadscope_slo_limit_seconds', 'gauge', 'The per-window latency objective.', a.slo.limitMs / 1000, { quantile: String(a.slo.percentile / 100) });
      m.metric('loadscope_slo_violation_seconds_total', 'counter', 'Windows that broke the SLO.', a.violation.seconds);
      m.metric('loadscope_slo_violated', 'gauge', '1 when the last complete window broke the SLO.', s.violation[last] ?? 0);
    }
    for (const rep of s.replicas) {
      m.metric('loadscope_replicas_ready', 'gauge', 'Ready pods per service.', lastOf(rep.ready, s.t.length - 1), { service: rep.service });
      m.metric('loadscope_replicas_desired', 'gauge', 'Replicas the autoscaler wants.', lastOf(rep.desired, s.t.length - 1), { service: rep.service });
    }
    m.metric('loadscope_hpa_rescales_total', 'counter', 'Autoscaler rescale events.', a.rescales.length);
    for (const p of s.pods) {
      m.metric('loadscope_pod_cpu_cores', 'gauge', 'CPU cores a pod used in its last sampled window.', lastOf(p.cpuCores, s.t.length - 1), { service: p.service, pod: p.pod });
      const mib = lastOf(p.memoryMiB, s.t.length - 1);
      m.metric('loadscope_pod_memory_bytes', 'gauge', 'Memory of a pod (last sample).', mib === null ? null : Math.round(mib * 1048576), { service: p.service, pod: p.pod });
    }
    for (const b of s.backends) m.metric('loadscope_backend_work_total', 'counter', 'Work each backend got (see basis).', b.counts.reduce((x, y) => x + y, 0), { service: b.service, backend: b.backend, basis: b.basis });
    m.metric('loadscope_routing_updates_total', 'counter', 'Routing-table updates.', s.routingUpdates.reduce((x, y) => x + y, 0));
    for (const p of s.packetLatency) {
      for (const [q, xs] of [['0.5', p.p50Us], ['0.99', p.p99Us]] as const) {
        const v = lastOf(xs, last);
        m.metric('loadscope_packet_latency_seconds', 'gauge', 'One-way packet latency per interface in the last window, by quantile.', v === null ? null : v / 1e6, { iface: p.iface, quantile: q });
      }
      m.metric('loadscope_packets_total', 'counter', 'Packets seen per interface.', p.packets.reduce((x, y) => x + y, 0), { iface: p.iface });
    }
    if (s.rttMs) {
      const v = lastOf(s.rttMs.p99, last);
      m.metric('loadscope_tcp_rtt_seconds', 'gauge', 'Smoothed TCP RTT p99 in the last window.', v === null ? null : v / 1000, { quantile: '0.99' });
    }
    m.metric('loadscope_tcp_retransmits_total', 'counter', 'Retransmitted TCP segments (and SYN-ACKs).', s.retransmits.reduce((x, y) => x + y, 0));
    for (const d of s.drops) m.metric('loadscope_drops_total', 'counter', 'Dropped packets by reason.', d.counts.reduce((x, y) => x + y, 0), { reason: d.reason });
  }
  for (const t of r.thresholds) m.metric('loadscope_threshold_ok', 'gauge', 'Whether a threshold holds so far (1) or not (0).', t.ok ? 1 : 0, { metric: t.metric, expression: t.expression });
  return m.text();
}
