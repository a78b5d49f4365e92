import { now } from '../core/clock.ts';
import type { Sink } from '../core/types.ts';
import { loglinToEncoded } from './loghist.ts';
import type { ClockRecord, ProbeRecord } from './types.ts';

/** Kernel CLOCK_MONOTONIC ns → the run's epoch-ms time base, through one clock-sync pair (µs-rounded). */
export function monoToEpochMs(sync: Pick<ClockRecord, 'mono_ns' | 'realtime_ms'>, monoNs: number): number {
  return Math.round(((monoNs - sync.mono_ns) / 1e6 + sync.realtime_ms) * 1000) / 1000;
}

/**
 * Turns one loader's records into samples and events on the sink. The loader's clock record is
 * taken once; records that carry kernel time before it (none should) are timed at arrival.
 */
export class ProbeRecordMapper {
  clock?: ClockRecord;
  private readonly source: string;

  constructor(
    private readonly sink: Sink,
    readonly probe: string,
  ) {
    this.source = `probe.${probe}`;
  }

  time(monoNs: number): number {
    return this.clock ? monoToEpochMs(this.clock, monoNs) : now();
  }

  handle(r: ProbeRecord): void {
    switch (r.t) {
      case 'count':
        this.sink.sample({ metric: `probe.${r.m}`, time: this.time(r.w), value: r.v, tags: r.tags });
        return;
      case 'hist':
        this.sink.sample({
          metric: `probe.${r.m}`,
          time: this.time(r.w),
          value: r.n,
          tags: r.tags,
          hist: loglinToEncoded(r.b),
          meta: { sum: r.sum },
        });
        return;
      case 'route':
        this.sink.sample({
          metric: 'probe.route_lookups',
          time: this.time(r.w),
          value: r.n,
          tags: { table: String(r.table), oif: r.oif, err: String(r.err) },
          meta: { src: r.src, dst: r.dst, gw: r.gw, proto: r.proto },
        });
        return;
      case 'route_sample': {
        const { t: _t, probe: _p, ts, ...attrs } = r;
        this.sink.event({ kind: 'probe.route', time: this.time(ts), source: this.source, attrs });
        return;
      }
      case 'conn': {
        const startMs = this.time(r.start);
        const endMs = this.time(r.end);
        const estMs = r.est === null ? null : this.time(r.est);
        this.sink.event({
          kind: 'probe.conn',
          time: startMs,
          source: this.source,
          attrs: {
            side: r.side,
            laddr: r.laddr,
            lport: r.lport,
            raddr: r.raddr,
            rport: r.rport,
            state: r.state,
            from: r.from,
            startMs,
            establishedMs: estMs,
            endMs,
            durationMs: Math.round((r.end - r.start) / 1e3) / 1e3,
            connectMs: r.est === null ? null : Math.round((r.est - r.start) / 1e3) / 1e3,
          },
        });
        return;
      }
      case 'sampling':
        // the window's N travels in meta: a tag per N would split the series
        this.sink.sample({ metric: 'probe.pkt_timed', time: this.time(r.w), value: r.timed, tags: {}, meta: { every: r.every, packets: r.packets, windowMs: r.d / 1e6 } });
        return;
      case 'lost': {
        const time = this.time(r.ts);
        this.sink.event({ kind: 'probe.lost', time, source: this.source, attrs: { probe: r.probe, what: r.what, n: r.n, total: r.total } });
        this.sink.sample({ metric: 'probe.lost_events', time, value: r.n, tags: { probe: r.probe, what: r.what } });
        return;
      }
      case 'clock':
        if (!this.clock) this.clock = r;
        this.sink.event({
          kind: 'probe.clock',
          time: this.time(r.mono_ns),
          source: this.source,
          attrs: { probe: r.probe, pid: r.pid, mono_ns: r.mono_ns, realtime_ms: r.realtime_ms, err_ns: r.err_ns, window_ns: r.window_ns },
        });
        return;
      case 'ready':
        this.sink.event({ kind: 'probe.ready', time: now(), source: this.source, attrs: { probe: r.probe, progs: r.progs, progIds: r.prog_ids, mapIds: r.map_ids, filter: r.filter } });
        return;
      case 'error':
        this.sink.event({ kind: 'probe.error', time: now(), source: this.source, attrs: { probe: r.probe, message: r.msg } });
        return;
      case 'end':
        this.sink.event({
          kind: 'probe.end',
          time: this.time(r.ts),
          source: this.source,
          attrs: {
            probe: r.probe,
            cpuSeconds: r.cpu_s,
            lines: r.lines,
            lost: r.lost,
            stale: r.stale ?? 0,
            overwritten: r.overwritten ?? 0,
            ...(r.win_late_us !== undefined ? { windowLateUs: r.win_late_us } : {}),
            progs: r.progs ?? {},
            ...(r.bpf_stats !== undefined ? { bpfStats: r.bpf_stats } : {}),
            ...(r.stats_on_s !== undefined ? { statsOnSeconds: r.stats_on_s } : {}),
            ...(r.stats_every !== undefined ? { statsEvery: r.stats_every } : {}),
            ...(r.wall_s !== undefined ? { wallS: r.wall_s } : {}),
            ...(r.cpu_run_s !== undefined ? { cpuRunSeconds: r.cpu_run_s } : {}),
            ...(r.ncpu !== undefined ? { ncpu: r.ncpu } : {}),
            ...(r.fidelity !== undefined ? { fidelity: r.fidelity } : {}),
          },
        });
        return;
    }
  }
}
