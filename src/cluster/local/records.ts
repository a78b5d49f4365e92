import type { BalancerRecord } from '../../core/balancer.ts';
import { now } from '../../core/clock.ts';
import type { Sink } from '../../core/types.ts';

const MAX_REFUSAL_EVENTS = 200;

/**
 * Journals the eBPF balancer's records as the local cluster does (docs/cluster.md, journal records):
 * decisions as routing.decision samples, per-window counts, the first 200 refusals as events, loader
 * trouble and its totals.
 */
export function balancerJournal(sink: Sink): (r: BalancerRecord, time: number) => void {
  let refusals = 0;
  let suppressed = 0;
  return (r, time) => {
    const str = (k: string) => (typeof r[k] === 'string' ? (r[k] as string) : '');
    switch (r.t) {
      case 'lb':
        sink.sample({
          metric: 'routing.decision',
          time,
          value: 1,
          tags: { service: str('service'), pod: str('pod') },
          meta: { client: str('client_pod'), clientIp: str('client'), vip: `${str('vip')}:${String(r.vport)}`, backend: `${str('backend')}:${String(r.bport)}`, generation: r.gen },
        });
        return;
      case 'count': {
        const tags = (r.tags ?? {}) as Record<string, string>;
        const metric = ({ 'lb.connections': 'routing.connections', 'lb.policy_drops': 'routing.policy_drops', 'lb.no_backend': 'routing.no_backend' } as Record<string, string>)[str('m')];
        if (!metric || typeof r.v !== 'number') return;
        const t = { service: tags.service ?? '', ...(metric === 'routing.connections' ? { pod: tags.pod ?? '' } : { client: tags.client ?? '' }) };
        sink.sample({ metric, time, value: r.v, tags: t, meta: { windowMs: Number(r.d) / 1e6, ...(tags.backend ? { backend: tags.backend } : {}) } });
        return;
      }
      case 'policy_drop':
      case 'no_backend': {
        if (refusals >= MAX_REFUSAL_EVENTS) {
          suppressed++;
          return;
        }
        refusals++;
        const dst = `${str('dst')}:${String(r.dport)}`;
        sink.event({
          kind: `routing.${r.t}`,
          time,
          source: 'cluster',
          attrs: {
            service: str('service'),
            dst,
            client: str('client'),
            pid: r.pid,
            comm: str('comm'),
            message: r.t === 'policy_drop' ? `policy refused a connection from ${str('client')} (${str('comm')}, pid ${String(r.pid)}) to ${str('service')} at ${dst}` : `no ready ${str('service')} pod for a connection from ${str('client')} to ${dst}`,
          },
        });
        return;
      }
      case 'lost':
        sink.event({ kind: 'routing.lost', time, source: 'cluster', attrs: { what: r.what, n: r.n, total: r.total, message: `eBPF load balancer lost ${String(r.n)} record(s) (${str('what')})` } });
        return;
      case 'error':
        sink.event({ kind: 'routing.error', time, source: 'cluster', attrs: { message: `eBPF load balancer: ${str('msg')}` } });
        return;
      case 'end':
        sink.event({
          kind: 'routing.stopped',
          time: time || now(),
          source: 'cluster',
          attrs: { decisions: r.decisions, lost: r.lost, cpuSeconds: r.cpu_s, refusalEventsSuppressed: suppressed, message: `eBPF load balancer detached after ${String(r.decisions)} routing decision(s)` },
        });
        return;
    }
  };
}
