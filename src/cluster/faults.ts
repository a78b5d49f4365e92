import { LoadscopeError } from '../core/errors.ts';
import type { FaultablePods, FaultPod, Link, Undo } from '../core/faults.ts';
import { processStartTime, type Resource } from '../core/ledger.ts';
import type { Pod } from './replicaset.ts';

// What faults may do to a cluster's pods, for every cluster whose pods are processes of this machine
// (local netns pods, loopback processes): list them, SIGKILL one (the replica set sees it die and
// replaces it), SIGSTOP one until its Undo (SIGCONT), listed in the run's ledger meanwhile so a dead
// run's sweep continues it. resumeAll() before the cluster stops: a stopped pod cannot drain.

/** Where paused pods are listed (the run's ledger, or a part of it). */
interface Listing {
  add(r: Resource): void;
  remove(match: (r: Resource) => boolean): void;
}

export class ProcessPodFaults<P extends Pod> implements FaultablePods {
  private readonly paused = new Map<number, Undo>();

  constructor(
    private readonly podsOf: (service: string) => P[],
    private readonly listing: Listing,
    private readonly linksOf: (p: P) => { veth: string; inside: Link } | undefined = () => undefined,
  ) {}

  faultPods(service: string): FaultPod[] {
    return this.podsOf(service)
      .filter((p) => p.phase === 'Running' && !p.terminating && !p.removed && p.svc)
      .sort((a, b) => ordinal(a.name) - ordinal(b.name))
      .map((p) => {
        const links = this.linksOf(p);
        return { service, name: p.name, ip: p.ip ?? p.svc!.host, url: p.svc!.url, pid: p.svc!.pid, ...(links ?? {}) };
      });
  }

  async killPod(service: string, pod: string): Promise<void> {
    process.kill(this.running(service, pod).pid, 'SIGKILL');
  }

  async pausePod(service: string, pod: string): Promise<Undo> {
    const { pid } = this.running(service, pod);
    const startTime = processStartTime(pid) ?? '';
    this.listing.add({ kind: 'paused', pid, startTime });
    process.kill(pid, 'SIGSTOP');
    let done = false;
    const undo: Undo = async () => {
      if (done) return;
      done = true;
      this.paused.delete(pid);
      if (processStartTime(pid) === startTime) process.kill(pid, 'SIGCONT');
      this.listing.remove((r) => r.kind === 'paused' && r.pid === pid);
    };
    this.paused.set(pid, undo);
    return undo;
  }

  /** Continues every pod still paused. */
  async resumeAll(): Promise<void> {
    await Promise.all([...this.paused.values()].map((undo) => undo()));
  }

  private running(service: string, pod: string): FaultPod {
    const p = this.faultPods(service).find((x) => x.name === pod);
    if (!p) throw new LoadscopeError('INTERNAL', `pod ${pod} of ${service} is not running`);
    return p;
  }
}

/** N of a pod named service-N. */
function ordinal(name: string): number {
  return Number(/-(\d+)$/.exec(name)?.[1] ?? 0);
}
