import { setTimeout as sleep } from 'node:timers/promises';
import { now } from '../core/clock.ts';
import type { PlannedStage } from '../core/types.ts';
import { defaultMaxConnections } from '../scenario/schema.ts';
import { paceArrivals } from './arrivals.ts';
import { Pacer } from './pacer.ts';
import type { EngineSummary, LatencyBasis, LoadPlan } from './types.ts';
import { endNotices, relSeconds } from './notices.ts';
import { WindowRecorder } from './windows.ts';

const DRAIN_GRACE_MS = 3000;
/** Open model: arrivals queued beyond this many are dropped on arrival (bounds the queue's memory). */
const BACKLOG_MAX = 1_000_000;
/** At most this many notices of connection-error spells per run; the end-of-run notice counts them all. */
const OUTAGE_NOTICES_MAX = 20;

/**
 * One keep-alive connection of the pool: up to `depth` requests in flight, answered oldest first
 * (HTTP/1.1). A client's connection extends it; the client sets `ready`, the scheduler the rest.
 */
export class Connection {
  /** The connection can take a request now (connected, not closing). */
  ready = false;
  /** The pool shrank: closed once idle. */
  retire = false;
  dead = false;
  inIdle = false;
  inflight = 0;
  head = 0;
  // The requests in flight, a ring of `depth` slots: intended start, actual send, stage at send.
  readonly intended: Float64Array;
  readonly sentAt: Float64Array;
  readonly stage: PlannedStage[];

  constructor(readonly depth: number) {
    this.intended = new Float64Array(depth);
    this.sentAt = new Float64Array(depth);
    this.stage = new Array<PlannedStage>(depth);
  }

  /** Send time of the oldest request in flight; NaN when idle. */
  oldestSentAt(): number {
    return this.inflight > 0 ? this.sentAt[this.head] : NaN;
  }
}

/**
 * What an HTTP client does for the scheduler: open a connection (it calls `fill` when the connection
 * can take work, `answered` per response, `fail` when requests are lost), write the next request of
 * the mix on a connection, close a connection for good.
 */
export interface Client<C extends Connection> {
  open(): C;
  write(c: C): void;
  close(c: C): void;
}

/**
 * Runs a plan's stages over one pool of connections. Closed stage: `connections` connections, each
 * sending its next request when the last is answered. Open stage: arrivals on the rate's schedule,
 * sent on an idle connection, else queued while the pool grows up to its size (`connections`, else
 * the scenario's default); latency is measured from the intended start. Stage events, 1 s windows
 * and the summary are the same for every client.
 */
export class Scheduler<C extends Connection> {
  readonly conns: C[] = [];
  stopping = false;
  private idle: C[] = [];
  private stage!: PlannedStage;
  private maxConns = 0;
  private peakConns = 0;
  private backlog: number[] = [];
  private backlogHead = 0;
  private inflight = 0;
  private sent = 0;
  private responses = 0;
  private errors = 0;
  private dropped = 0;
  /** The current spell of connection errors with no response between them (target down, refusing). */
  private outage?: { from: number; n: number };
  private outageNotices = 0;
  private readonly recorder: WindowRecorder;
  private pacer?: Pacer;
  private readonly arrive = (intended: number): void => {
    const c = this.takeIdle();
    if (c) {
      this.send(c, intended, now());
      if (c.inflight < c.depth) this.markIdle(c);
      return;
    }
    this.backlogPush(intended);
    if (this.liveCount() < this.maxConns) this.open();
  };

  constructor(private readonly engine: string, private readonly plan: LoadPlan, private readonly client: Client<C>) {
    this.recorder = new WindowRecorder(plan.sink, plan.runStart);
  }

  /** Runs every stage in turn until the plan ends or `signal` aborts, then drains and closes the pool. */
  async run(signal: AbortSignal): Promise<EngineSummary> {
    const { plan } = this;
    this.recorder.start();
    if (plan.stages.some((s) => s.model === 'open')) {
      // the arrivals' clock: a thread of its own, ready before the first stage (src/load/pacer.ts)
      this.pacer = new Pacer();
      await this.pacer.ready();
    }
    let cut = 0;
    try {
      for (const stage of plan.stages) {
        if (signal.aborted) break;
        const begin = now();
        plan.sink.event({ kind: 'stage.start', time: begin, source: 'load', attrs: { stage: stage.name, model: stage.model, connections: stage.connections, rate: stage.rate } });
        this.stage = stage;
        if (stage.model === 'closed') await this.runClosed(stage, begin, signal);
        else await this.runOpen(stage, begin, signal);
        plan.sink.event({ kind: 'stage.end', time: now(), source: 'load', attrs: { stage: stage.name } });
      }
    } finally {
      cut = await this.drain();
      this.recorder.stop();
      await this.pacer?.close();
      this.endNotices(cut);
    }
    return {
      engine: this.engine,
      requestsSent: this.sent,
      responses: this.responses,
      errors: this.errors,
      inFlightAtCutoff: cut,
      dropped: this.dropped,
      latencyBasis: latencyBasis(plan.stages),
      connectionsMax: this.peakConns,
    };
  }

  /** Gives a connection work up to its depth, by the stage's model; closes it when retired and idle. */
  fill(c: C, t: number): void {
    if (c.dead || !c.ready) return;
    if (c.retire || this.stopping) {
      if (c.retire && c.inflight === 0) this.close(c);
      return;
    }
    while (c.inflight < c.depth) {
      if (this.backlogHead < this.backlog.length) this.send(c, this.backlogShift(), t);
      else if (this.stage.model === 'closed') this.send(c, NaN, t);
      else {
        this.markIdle(c);
        return;
      }
    }
  }

  /** The oldest request in flight on `c` was answered at `t`; ignored when none is in flight. */
  answered(c: C, t: number, status: number, bytes: number): void {
    if (c.inflight === 0) return;
    const i = c.head;
    c.head = i + 1 === c.depth ? 0 : i + 1;
    c.inflight--;
    const stage = c.stage[i];
    const late = stage !== this.stage || this.stopping;
    this.recorder.record(t, stage.name, status, (t - c.intended[i]) * 1000, bytes, stage.model === 'open' ? (t - c.sentAt[i]) * 1000 : undefined, late);
    this.responses++;
    this.inflight--;
    if (this.outage) this.outageOver(t);
  }

  /**
   * Every request in flight on `c` is lost (timeout or connection error): each counts as an error, with
   * the time it took until `at` (default now; a client that notices a timeout late passes when it struck).
   */
  fail(c: C, kind: 'timeout' | 'conn', at = now()): void {
    const n = c.inflight;
    if (n === 0) return;
    const t = at;
    for (let k = 0; k < n; k++) {
      const i = (c.head + k) % c.depth;
      this.recorder.record(t, c.stage[i].name, kind, (t - c.intended[i]) * 1000);
    }
    c.inflight = 0;
    c.head = 0;
    this.errors += n;
    this.inflight -= n;
    if (kind === 'conn') this.connErrors(t, n);
  }

  /**
   * A connect attempt that began at `startedAt` failed at `t` (refused, unreachable) before anything
   * was written on it. A closed stage counts the attempt as one request lost (error kind 'conn'); an
   * open stage loses the arrivals already queued when the attempt began (each 'conn', with the time
   * from its intended start), later ones wait for the next attempt. Lost requests count as sent.
   */
  connectFailed(startedAt: number, t = now()): void {
    if (this.stopping || !this.stage) return;
    let n = 0;
    if (this.stage.model === 'closed') {
      this.recorder.record(t, this.stage.name, 'conn', (t - startedAt) * 1000);
      n = 1;
    } else {
      while (this.backlogHead < this.backlog.length && this.backlog[this.backlogHead] <= startedAt) {
        this.recorder.record(t, this.stage.name, 'conn', (t - this.backlogShift()) * 1000);
        n++;
      }
    }
    this.sent += n;
    this.errors += n;
    this.connErrors(t, n);
  }

  private connErrors(t: number, n: number): void {
    if (n > 0) (this.outage ??= { from: t, n: 0 }).n += n;
  }

  /** A response after connection errors: the target is reachable again; one notice says for how long it was not. */
  private outageOver(t: number): void {
    const o = this.outage!;
    this.outage = undefined;
    if (++this.outageNotices > OUTAGE_NOTICES_MAX) return;
    this.notice(t, 'conn', `connection errors from ${this.rel(o.from)} s to ${this.rel(t)} s of the run (target down, refusing or resetting): ${o.n} request${o.n === 1 ? '' : 's'} failed, counted as errors of kind conn; the load went on`);
  }

  /** The run's notices from the load: what failed, by kind, and what never got an answer. */
  private endNotices(cut: number): void {
    const t = now();
    if (this.outage) this.notice(t, 'conn', `target still unreachable at the end of the load (connection errors since ${this.rel(this.outage.from)} s): ${this.outage.n} request${this.outage.n === 1 ? '' : 's'} failed, counted as errors of kind conn`);
    if (this.outageNotices > OUTAGE_NOTICES_MAX) this.notice(t, 'conn', `${this.outageNotices} spells of connection errors in all (the first ${OUTAGE_NOTICES_MAX} have a notice each)`);
    for (const n of endNotices({ totals: this.recorder.totals, runStart: this.plan.runStart, requestTimeoutMs: this.plan.requestTimeoutMs, dropped: this.dropped, droppedWhy: 'no connection of the pool was free before their stage ended' })) this.notice(t, n.notice, n.message);
    if (cut > 0) this.notice(t, 'cutoff', `${cut} request(s) were still unanswered ${DRAIN_GRACE_MS / 1000} s after the load ended (in flight at cut-off: neither answered nor errors)`);
  }

  private notice(t: number, kind: string, message: string): void {
    this.plan.sink.event({ kind: 'load.notice', time: t, source: 'load', attrs: { notice: kind, message } });
  }

  /** Seconds since the run's start, to 0.1 s. */
  private rel(t: number): string {
    return relSeconds(t, this.plan.runStart);
  }

  private async runClosed(stage: PlannedStage, begin: number, signal: AbortSignal): Promise<void> {
    const target = stage.connections ?? 1;
    this.maxConns = target;
    this.dropQueued();
    const live = this.conns.filter((c) => !c.dead && !c.retire);
    live.slice(target).forEach((c) => (c.retire = true));
    for (const c of live.slice(0, target)) this.fill(c, now());
    for (let i = live.length; i < target; i++) this.open();
    await sleepUntil(begin + stage.durationMs, signal);
  }

  private async runOpen(stage: PlannedStage, begin: number, signal: AbortSignal): Promise<void> {
    const rate = stage.rate ?? { from: 1, to: 1 };
    this.maxConns = stage.connections ?? defaultMaxConnections(rate);
    const live = this.conns.filter((c) => !c.dead && !c.retire);
    live.slice(this.maxConns).forEach((c) => (c.retire = true));
    await paceArrivals(this.pacer!, rate, begin, stage.durationMs, signal, this.arrive);
    await sleepUntil(begin + stage.durationMs, signal);
  }

  private send(c: C, intended: number, t: number): void {
    const i = (c.head + c.inflight) % c.depth;
    c.intended[i] = this.stage.model === 'open' ? intended : t;
    c.sentAt[i] = t;
    c.stage[i] = this.stage;
    c.inflight++;
    this.inflight++;
    this.sent++;
    this.client.write(c);
  }

  private backlogShift(): number {
    const intended = this.backlog[this.backlogHead++];
    if (this.backlogHead > 4096 && this.backlogHead * 2 > this.backlog.length) {
      this.backlog = this.backlog.slice(this.backlogHead);
      this.backlogHead = 0;
    }
    return intended;
  }

  private backlogPush(t: number): void {
    if (this.backlog.length - this.backlogHead > BACKLOG_MAX) {
      this.dropped++;
      return;
    }
    this.backlog.push(t);
  }

  /** Arrivals still queued when their open stage is over (a closed stage follows, or the run ends) are dropped. */
  private dropQueued(): void {
    this.dropped += this.backlog.length - this.backlogHead;
    this.backlog = [];
    this.backlogHead = 0;
  }

  private takeIdle(): C | undefined {
    while (this.idle.length) {
      const c = this.idle.pop()!;
      c.inIdle = false;
      if (!c.dead && !c.retire && c.ready && c.inflight < c.depth) return c;
    }
    return undefined;
  }

  private markIdle(c: C): void {
    if (c.inIdle) return;
    c.inIdle = true;
    this.idle.push(c);
  }

  private liveCount(): number {
    let n = 0;
    for (const c of this.conns) if (!c.dead && !c.retire) n++;
    return n;
  }

  private open(): void {
    this.conns.push(this.client.open());
    this.peakConns = Math.max(this.peakConns, this.liveCount());
  }

  private close(c: C): void {
    if (c.dead) return;
    c.dead = true;
    this.client.close(c);
  }

  /** Stops sending, lets in-flight requests finish for a short grace, then closes every connection. */
  private async drain(): Promise<number> {
    this.stopping = true;
    this.dropQueued();
    const deadline = now() + DRAIN_GRACE_MS;
    while (this.inflight > 0 && now() < deadline) await sleep(5);
    const cut = this.inflight;
    for (const c of this.conns) {
      c.inflight = 0;
      this.close(c);
    }
    this.conns.length = 0;
    this.idle = [];
    return cut;
  }
}

/** How the plan's latency is measured: from the intended start in open stages, from the send in closed ones. */
function latencyBasis(stages: PlannedStage[]): LatencyBasis {
  const models = new Set(stages.map((s) => s.model));
  if (models.size > 1) return 'mixed';
  return models.has('open') ? 'intended-start (coordinated-omission corrected)' : 'actual-send (closed model, not corrected)';
}

async function sleepUntil(t: number, signal: AbortSignal): Promise<void> {
  const ms = t - now();
  if (ms > 0 && !signal.aborted) await sleep(ms, undefined, { signal }).catch(() => undefined);
}
