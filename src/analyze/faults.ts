import type { RunResult } from '../core/result.ts';
import type { RunEvent } from '../core/types.ts';

// results.json faults[]: each journalled fault with the system's reaction — time to detect, time to
// recover, requests failed by it — from the journal's events and the 1 s windows. The definitions are
// docs/faults.md's; this file is their one implementation.

type Fault = NonNullable<RunResult['faults']>[number];
type Win = RunResult['windows'][number];

/** Windows before a fault that make its baseline: at most this many, none with a fault on. */
const BASELINE_WINDOWS = 10;
/** A window deviates when its error rate exceeds the baseline's by this much (absolute) and doubles it, or its p99 is this many times the baseline's plus 1 ms. */
const ERROR_RATE_MARGIN = 0.01;
const P99_FACTOR = 1.5;
/** A window overlapping a fault by less than this cannot detect it. */
const MIN_OVERLAP_MS = 100;
const REACTION_KINDS = /^(pod\.|routing\.(update|failed|no_backend)|hpa\.(rescale|warning|metrics_)|service\.scaled)/;

const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;
const str = (v: unknown) => (typeof v === 'string' ? v : '');
const names = (v: unknown) => (Array.isArray(v) ? v.map(String) : []);

/** The faults of a run: `drops` are the fault program's fault.packets samples (time, packets dropped). */
export function faultsBlock(
  events: readonly RunEvent[],
  windows: readonly Win[],
  t0: number,
  endedAt: number,
  drops: readonly { time: number; dropped: number }[],
  retransmits?: readonly number[],
): Fault[] {
  const starts = events.filter((e) => e.kind === 'fault.start');
  const spans = starts.map((s) => {
    const end = events.find((e) => e.kind === 'fault.end' && e.attrs.name === s.attrs.name && e.time >= s.time);
    return { s, end: end?.time };
  });
  return spans.map(({ s, end }) => {
    const kind = str(s.attrs.kind);
    const pods = names(s.attrs.pods);
    const service = str(s.attrs.target).split('/')[0];
    const start = s.time;
    const stop = end ?? endedAt;
    const busy = (t0w: number) => spans.some((o) => o.s.time < t0w + 1000 && (o.end ?? endedAt) >= t0w);
    const base = windows.filter((w) => w.time + 1000 <= start && w.t > 0 && !busy(w.time)).slice(-BASELINE_WINDOWS);
    const baseReqs = base.reduce((a, w) => a + w.rps, 0);
    const baseErrRate = baseReqs ? base.reduce((a, w) => a + w.errors, 0) / baseReqs : 0;
    const p99s = base.flatMap((w) => (w.latencyMs.p99 === null ? [] : [w.latencyMs.p99])).sort((a, b) => a - b);
    const baseP99 = p99s.length ? p99s[Math.floor(p99s.length / 2)] : null;
    // errors count for every kind; latency only for the kinds that slow traffic down
    const slows = kind !== 'http-errors';
    const deviates = (w: Win) =>
      (w.rps > 0 && w.errors / w.rps > baseErrRate + ERROR_RATE_MARGIN && w.errors / w.rps > 2 * baseErrRate) ||
      (slows && baseP99 !== null && w.latencyMs.p99 !== null && w.latencyMs.p99 > P99_FACTOR * baseP99 + 1);
    const after = (t: number, kinds: string[], pred: (e: RunEvent) => boolean) => events.find((e) => e.time >= t && kinds.includes(e.kind) && pred(e));
    // a Kubernetes Service's router (kube/endpoints.ts) names the Service namespace/name and its pods namespace.pod
    const ofService = (e: RunEvent) => e.attrs.service === service || str(e.attrs.service).endsWith(`/${service}`);
    const routesTo = (e: RunEvent) => (ofService(e) ? names(e.attrs.pods).map((p) => p.slice(p.indexOf('.') + 1)) : undefined);
    let detect: { t: number; by: string } | undefined;
    let recover: { t: number; by: string } | undefined;
    switch (kind) {
      case 'pod-kill':
      case 'pod-pause': {
        const out = after(start, ['routing.update'], (e) => !!routesTo(e) && pods.every((p) => !routesTo(e)!.includes(p)));
        if (out) detect = { t: out.time, by: `routing to ${service} without ${pods.join(', ')}` };
        const before = [...events].reverse().find((e) => e.kind === 'routing.update' && e.time <= start && ofService(e));
        const size = before ? names(before.attrs.pods).length : pods.length;
        const back =
          kind === 'pod-kill'
            ? after(out?.time ?? start, ['routing.update'], (e) => !!routesTo(e) && routesTo(e)!.length >= size && pods.every((p) => !routesTo(e)!.includes(p)))
            : after(stop, ['routing.update'], (e) => !!routesTo(e) && pods.every((p) => routesTo(e)!.includes(p)));
        if (back) recover = { t: back.time, by: kind === 'pod-kill' ? `a replacement routed (${routesTo(back)!.join(', ')})` : `${pods.join(', ')} routed again` };
        break;
      }
      case 'metrics-outage': {
        const active = (e: RunEvent, status: string) => (Array.isArray(e.attrs.conditions) ? (e.attrs.conditions as { type: string; status: string; reason: string }[]) : []).find((c) => c.type === 'ScalingActive' && c.status === status);
        const off = after(start, ['hpa.status'], (e) => !!active(e, 'False'));
        if (off) detect = { t: off.time, by: `ScalingActive False (${active(off, 'False')!.reason})` };
        const on = after(stop, ['hpa.status'], (e) => !!active(e, 'True'));
        if (on) recover = { t: on.time, by: `ScalingActive True (${active(on, 'True')!.reason})` };
        break;
      }
      default: {
        // a window counts once it overlaps the fault by MIN_OVERLAP_MS (not by the timer's last millisecond)
        const first = windows.find((w) => w.time + 1000 - start >= MIN_OVERLAP_MS && w.time < stop && deviates(w));
        if (first) detect = { t: Math.max(start, first.time + 1000), by: `window at ${first.t}s: ${describeWindow(first)}` };
        const ok = windows.find((w) => w.time >= stop && !deviates(w) && !(w.rps === 0 && baseReqs > 0));
        if (ok) recover = { t: ok.time + 1000, by: `window at ${ok.t}s back to baseline` };
      }
    }
    const until = Math.max(stop, recover?.t ?? stop);
    const span = windows.filter((w) => w.time + 1000 > start && w.time < until);
    const requests = span.reduce((a, w) => a + w.rps, 0);
    const errors = span.reduce((a, w) => a + w.errors, 0);
    const rtx = (ws: readonly Win[]) => ws.reduce((a, w) => a + (retransmits?.[w.t] ?? 0), 0);
    const worst = span.flatMap((w) => (w.latencyMs.p99 === null ? [] : [w.latencyMs.p99]));
    const lossy = kind === 'packet-loss' || kind === 'partition';
    const settings = Object.fromEntries(Object.entries(s.attrs).filter(([k]) => !['name', 'kind', 'target', 'pods', 'message'].includes(k)));
    return {
      name: str(s.attrs.name),
      kind,
      target: str(s.attrs.target),
      pods,
      startS: round((start - t0) / 1000),
      endS: end === undefined ? null : round((end - t0) / 1000),
      settings,
      detectS: detect ? round(Math.max(0, detect.t - start) / 1000) : null,
      detectedBy: detect?.by ?? null,
      recoverS: recover ? round(Math.max(0, recover.t - stop) / 1000) : null,
      recoveredBy: recover?.by ?? null,
      requests,
      errors,
      failedByFault: Math.max(0, Math.round(errors - baseErrRate * requests)),
      baseline: { windows: base.length, errorRate: round(baseErrRate, 6), p99Ms: baseP99, retransmitsPerS: retransmits && base.length ? round(rtx(base) / base.length) : null },
      p99Ms: worst.length ? Math.max(...worst) : null,
      packetsDropped: lossy ? drops.filter((d) => d.time >= start - 1000 && d.time <= stop + 1000).reduce((a, d) => a + d.dropped, 0) : null,
      retransmits: retransmits ? rtx(span) : null,
      reactions: events
        .filter((e) => e.time >= start && e.time <= until + 1000 && REACTION_KINDS.test(e.kind) && e.kind !== 'pod.created')
        .slice(0, 20)
        .map((e) => ({ t: round((e.time - t0) / 1000), kind: e.kind, text: str(e.attrs.message) || e.kind })),
    };
  });
}

function describeWindow(w: Win): string {
  return `${w.errors}/${w.rps} failed, p99 ${w.latencyMs.p99 ?? '-'} ms`;
}
