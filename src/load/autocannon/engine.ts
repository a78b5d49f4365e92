import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { now } from '../../core/clock.ts';
import type { PlannedStage } from '../../core/types.ts';
import { weightedSequence } from '../mix.ts';
import type { EngineSummary, LatencyBasis, LoadEngine, LoadPlan, ReportsInFlight } from '../types.ts';
import { WindowRecorder } from '../windows.ts';
import { paceArrivals } from './arrivals.ts';

// autocannon's connection client (pinned autocannon version): one keep-alive connection that builds,
// writes and parses HTTP/1.1 requests. We drive it ourselves so one pool serves every stage:
// closed stages send on each response; open stages send on a paced schedule.
const require = createRequire(import.meta.url);
const Client = require('autocannon/lib/httpClient.js') as new (opts: Record<string, unknown>) => AcClient;

interface AcClient {
  on(ev: 'response', fn: (status: number, bytes: number, durationMs: number) => void): void;
  on(ev: 'request' | 'timeout' | 'connError', fn: (...args: unknown[]) => void): void;
  destroy(): void;
  _doRequest(): void;
}

interface Conn {
  client: AcClient;
  /** Intended start (open model) or send time of the request in flight; NaN when idle. */
  intended: number;
  sentAt: number;
  retire: boolean;
  dead: boolean;
  /** Stage the request in flight was sent in (its window is tagged with it). */
  stage: string;
  open: boolean;
}

const DRAIN_GRACE_MS = 3000;

/** The autocannon engine: closed and open model over one pool of autocannon clients. */
export class AutocannonEngine implements LoadEngine, ReportsInFlight {
  readonly name = 'autocannon';
  private conns: Conn[] = [];
  private idle: Conn[] = [];
  private stage!: PlannedStage;
  private stopping = false;
  private inflight = 0;
  private sent = 0;
  private responses = 0;
  private errors = 0;
  private dropped = 0;
  private backlog: number[] = [];
  private backlogHead = 0;
  private recorder!: WindowRecorder;
  private clientOpts!: Record<string, unknown>;
  private maxConns = 0;
  private peakConns = 0;
  private sendRaw!: (c: AcClient) => void;

  inFlight(): number {
    return this.inflight;
  }

  async run(plan: LoadPlan, signal: AbortSignal): Promise<EngineSummary> {
    const url = new URL(plan.baseUrl);
    // autocannon's request iterator deep-clones its context each time it wraps around; a sequence
    // of at least 64 entries (the same mix, repeated) makes that rare.
    const mix = weightedSequence(plan.requests);
    const repeated = Array.from({ length: Math.ceil(64 / mix.length) }, () => mix).flat();
    const sequence = repeated.map((r) => ({
      method: r.method,
      path: joinPath(url.pathname, r.path),
      headers: r.headers,
      body: r.body,
    }));
    this.clientOpts = {
      hostname: url.hostname,
      host: url.host,
      port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
      protocol: url.protocol,
      pipelining: 1,
      timeout: plan.requestTimeoutMs / 1000,
      requests: sequence,
    };
    this.recorder = new WindowRecorder(plan.sink, plan.runStart);
    this.recorder.start();
    const models = new Set(plan.stages.map((s) => s.model));
    const basis: LatencyBasis = models.size > 1 ? 'mixed' : models.has('open') ? 'intended-start (coordinated-omission corrected)' : 'actual-send (closed model, not corrected)';

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
      const cut = await this.drain();
      this.recorder.stop();
      this.inflightAtCutoff = cut;
    }
    return {
      engine: this.name,
      requestsSent: this.sent,
      responses: this.responses,
      errors: this.errors,
      inFlightAtCutoff: this.inflightAtCutoff,
      dropped: this.dropped,
      latencyBasis: basis,
      connectionsMax: this.peakConns,
    };
  }

  private inflightAtCutoff = 0;

  private async runClosed(stage: PlannedStage, begin: number, signal: AbortSignal): Promise<void> {
    const target = stage.connections ?? 1;
    this.maxConns = target;
    this.backlog = [];
    this.backlogHead = 0;
    const live = this.conns.filter((c) => !c.dead && !c.retire);
    live.slice(target).forEach((c) => (c.retire = true));
    for (const c of live.slice(0, target)) {
      if (Number.isNaN(c.intended)) this.release(c);
    }
    for (let i = live.length; i < target; i++) this.open();
    await sleepUntil(begin + stage.durationMs, signal);
  }

  private async runOpen(stage: PlannedStage, begin: number, signal: AbortSignal): Promise<void> {
    const rate = stage.rate ?? { from: 1, to: 1 };
    const peak = Math.max(rate.from, rate.to);
    this.maxConns = stage.connections ?? Math.max(16, Math.ceil(peak * 0.1));
    const live = this.conns.filter((c) => !c.dead && !c.retire);
    live.slice(this.maxConns).forEach((c) => (c.retire = true));
    const end = begin + stage.durationMs;
    await paceArrivals(rate, begin, stage.durationMs, signal, (t) => this.arrive(t));
    await sleepUntil(end, signal);
  }

  /** One open-model arrival: send now on an idle connection, else open one, else queue it. */
  private arrive(intended: number): void {
    const c = this.takeIdle();
    if (c) return this.send(c, intended);
    if (this.liveCount() < this.maxConns) {
      this.backlogPush(intended);
      this.open();
      return;
    }
    this.backlogPush(intended);
  }

  private backlogPush(t: number): void {
    if (this.backlog.length - this.backlogHead > 1_000_000) {
      this.dropped++;
      return;
    }
    this.backlog.push(t);
  }

  private takeIdle(): Conn | undefined {
    while (this.idle.length) {
      const c = this.idle.pop()!;
      if (!c.dead && !c.retire && Number.isNaN(c.intended)) return c;
    }
    return undefined;
  }

  private liveCount(): number {
    let n = 0;
    for (const c of this.conns) if (!c.dead && !c.retire) n++;
    return n;
  }

  private open(): void {
    const conn: Conn = { client: undefined as unknown as AcClient, intended: NaN, sentAt: NaN, retire: false, dead: false, stage: '', open: false };
    const engine = this;
    const opts = {
      ...this.clientOpts,
      setupClient(client: AcClient) {
        conn.client = client;
        // Bodies are counted (bytes), never read: skip autocannon's per-chunk string building.
        (client as unknown as { pipelinedRequests: { addBody: (b: unknown) => void } }).pipelinedRequests.addBody = () => {};
        if (!engine.sendRaw) {
          const proto = Object.getPrototypeOf(client) as AcClient;
          const raw = proto._doRequest;
          engine.sendRaw = (c) => raw.call(c);
        }
        // The client calls _doRequest on connect and after every response: that is "I am idle".
        client._doRequest = () => engine.release(conn);
        client.on('response', (status, bytes) => engine.onResponse(conn, status, bytes));
        client.on('timeout', () => engine.onFailure(conn, 'timeout'));
        client.on('connError', () => engine.onFailure(conn, 'conn'));
      },
    };
    this.conns.push(conn);
    new Client(opts);
    this.peakConns = Math.max(this.peakConns, this.liveCount());
  }

  /** A connection became idle: give it queued or next work according to the stage's model. */
  private release(c: Conn): void {
    if (c.dead || !Number.isNaN(c.intended)) return;
    if (c.retire || this.stopping) {
      if (c.retire) this.kill(c);
      return;
    }
    if (this.backlogHead < this.backlog.length) {
      const t = this.backlog[this.backlogHead++];
      if (this.backlogHead > 4096 && this.backlogHead * 2 > this.backlog.length) {
        this.backlog = this.backlog.slice(this.backlogHead);
        this.backlogHead = 0;
      }
      return this.send(c, t);
    }
    if (this.stage.model === 'closed') return this.send(c, NaN);
    this.idle.push(c);
  }

  private send(c: Conn, intended: number): void {
    const t = now();
    c.sentAt = t;
    c.intended = Number.isNaN(intended) ? t : intended;
    c.stage = this.stage.name;
    c.open = this.stage.model === 'open';
    this.inflight++;
    this.sent++;
    this.sendRaw(c.client);
  }

  private onResponse(c: Conn, status: number, bytes: number): void {
    if (Number.isNaN(c.intended)) return;
    const t = now();
    const latencyUs = (t - c.intended) * 1000;
    const serviceUs = c.open ? (t - c.sentAt) * 1000 : undefined;
    this.recorder.record(t, c.stage, status, latencyUs, bytes, serviceUs);
    this.responses++;
    this.inflight--;
    c.intended = NaN;
  }

  private onFailure(c: Conn, kind: 'timeout' | 'conn'): void {
    // A timeout on an idle connection is autocannon's idle timer, not a failed request.
    if (Number.isNaN(c.intended)) return;
    this.recorder.record(now(), c.stage, kind);
    this.errors++;
    this.inflight--;
    c.intended = NaN;
    // After a timeout the client reconnects without asking for work again; a connection error asks.
    if (kind === 'timeout') this.release(c);
  }

  private kill(c: Conn): void {
    if (c.dead) return;
    c.dead = true;
    c.client.destroy();
  }

  /** Stops sending, lets in-flight requests finish for a short grace, then closes every connection. */
  private async drain(): Promise<number> {
    this.stopping = true;
    this.dropped += this.backlog.length - this.backlogHead;
    this.backlog = [];
    this.backlogHead = 0;
    const deadline = now() + DRAIN_GRACE_MS;
    while (this.inflight > 0 && now() < deadline) await sleep(5);
    const cut = this.inflight;
    for (const c of this.conns) this.kill(c);
    this.conns = [];
    this.idle = [];
    return cut;
  }
}

async function sleepUntil(t: number, signal: AbortSignal): Promise<void> {
  const ms = t - now();
  if (ms > 0 && !signal.aborted) await sleep(ms, undefined, { signal }).catch(() => undefined);
}

function joinPath(base: string, path: string): string {
  return base === '/' ? path : base.replace(/\/$/, '') + path;
}
