import { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { now } from '../../core/clock.ts';
import type { PlannedStage } from '../../core/types.ts';
import { weightedSequence } from '../mix.ts';
import type { EngineSummary, LatencyBasis, LoadEngine, LoadPlan, ReportsInFlight } from '../types.ts';
import { WindowRecorder } from '../windows.ts';
import { paceArrivals } from './arrivals.ts';

/**
 * Options of the lean engine. `pipelining`: requests a connection may have in flight (HTTP/1.1
 * pipelining; 1 = one at a time, as the autocannon engine and wrk). Latency of a pipelined request
 * includes the time it waited behind the ones before it on the connection.
 */
export interface LeanOptions {
  pipelining?: number;
}

interface Pending {
  intended: number;
  sentAt: number;
  stage: string;
  open: boolean;
}

const enum P {
  Head,
  Body,
  ChunkSize,
  ChunkData,
  ChunkCrlf,
  Trailer,
}

/**
 * One keep-alive HTTP/1.1 connection with a FIFO of requests in flight and a minimal response parser
 * (status line, Content-Length, chunked transfer coding, Connection: close). Bodies are skipped,
 * never copied or decoded.
 */
class Conn {
  socket!: Socket;
  readonly fifo: Pending[] = [];
  head = 0;
  retire = false;
  dead = false;
  connected = false;
  /** The server said Connection: close; no more requests go on this socket. */
  closing = false;
  inIdle = false;
  /** Bytes of a response head split across reads. */
  private partial?: Buffer;
  private state = P.Head;
  private remaining = 0;
  private status = 0;
  private bytes = 0;
  private close = false;
  private noBody = false;

  constructor(private readonly engine: LeanEngine) {
    this.connect();
  }

  get inflight(): number {
    return this.fifo.length - this.head;
  }

  connect(): void {
    const e = this.engine;
    this.connected = false;
    this.closing = false;
    this.partial = undefined;
    this.state = P.Head;
    // onread: the socket reads into one reused buffer and calls us directly (no stream, no
    // allocation per read); anything kept past the call (a split response head) is copied.
    const s = new Socket({ onread: { buffer: READ_BUFFER, callback: (len: number, buf: Buffer) => this.onData(buf.subarray(0, len)) } } as ConstructorParameters<typeof Socket>[0]);
    this.socket = s;
    s.setNoDelay(true);
    s.on('connect', () => {
      this.connected = true;
      e.onConnect(this);
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      if (this.socket === s) e.onClose(this);
    });
    s.connect(e.port, e.host);
  }

  write(buf: Buffer): void {
    this.socket.write(buf);
  }

  private onData(chunk: Buffer): void {
    const e = this.engine;
    const t = now();
    const cork = e.pipelining > 1;
    if (cork) this.socket.cork();
    let buf = chunk;
    if (this.partial) {
      buf = Buffer.concat([this.partial, chunk]);
      this.partial = undefined;
    }
    let i = 0;
    const n = buf.length;
    while (i < n) {
      switch (this.state) {
        case P.Head: {
          const end = buf.indexOf(HEAD_END, i);
          if (end < 0) {
            this.partial = Buffer.from(buf.subarray(i));
            i = n;
            break;
          }
          this.parseHead(buf, i, end);
          this.bytes = end + 4 - i;
          i = end + 4;
          if (this.noBody || ((this.state as P) === P.Body && this.remaining === 0)) {
            this.state = P.Head;
            this.complete(t);
          }
          break;
        }
        case P.Body: {
          const take = Math.min(this.remaining, n - i);
          this.remaining -= take;
          this.bytes += take;
          i += take;
          if (this.remaining === 0) {
            this.state = P.Head;
            this.complete(t);
          }
          break;
        }
        case P.ChunkSize: {
          const eol = buf.indexOf(10, i);
          if (eol < 0) {
            this.partial = Buffer.from(buf.subarray(i));
            i = n;
            break;
          }
          let size = 0;
          for (let k = i; k < eol; k++) {
            const d = hexDigit(buf[k]);
            if (d < 0) break;
            size = size * 16 + d;
          }
          this.bytes += eol + 1 - i;
          i = eol + 1;
          if (size === 0) this.state = P.Trailer;
          else {
            this.remaining = size;
            this.state = P.ChunkData;
          }
          break;
        }
        case P.ChunkData: {
          const take = Math.min(this.remaining, n - i);
          this.remaining -= take;
          this.bytes += take;
          i += take;
          if (this.remaining === 0) {
            this.state = P.ChunkCrlf;
            this.remaining = 2;
          }
          break;
        }
        case P.ChunkCrlf: {
          const take = Math.min(this.remaining, n - i);
          this.remaining -= take;
          this.bytes += take;
          i += take;
          if (this.remaining === 0) this.state = P.ChunkSize;
          break;
        }
        case P.Trailer: {
          // Trailer fields end with an empty line; usually the empty line comes at once.
          const eol = buf.indexOf(10, i);
          if (eol < 0) {
            this.partial = Buffer.from(buf.subarray(i));
            i = n;
            break;
          }
          const empty = eol === i || (eol === i + 1 && buf[i] === 13);
          this.bytes += eol + 1 - i;
          i = eol + 1;
          if (empty) {
            this.state = P.Head;
            this.complete(t);
          }
          break;
        }
      }
    }
    if (cork) this.socket.uncork();
    if (this.partial && this.partial.length > 65536) {
      // A response head this long is not HTTP we understand: fail the connection.
      this.partial = undefined;
      e.onProtocolError(this);
    }
  }

  private parseHead(buf: Buffer, start: number, end: number): void {
    // "HTTP/1.1 200 OK"
    this.status = (buf[start + 9] - 48) * 100 + (buf[start + 10] - 48) * 10 + (buf[start + 11] - 48);
    let length = -1;
    let chunked = false;
    this.close = false;
    let line = buf.indexOf(10, start) + 1;
    while (line > 0 && line < end) {
      const c = buf[line] | 0x20;
      if (c === 0x63 /* c */) {
        if (matchName(buf, line, 'content-length:')) length = parseDecimal(buf, line + 15, end);
        else if (matchName(buf, line, 'connection:')) this.close = containsClose(buf, line + 11, end);
      } else if (c === 0x74 /* t */ && matchName(buf, line, 'transfer-encoding:')) {
        chunked = true;
      }
      line = buf.indexOf(10, line) + 1;
    }
    const s = this.status;
    this.noBody = (s >= 100 && s < 200) || s === 204 || s === 304;
    if (this.noBody) return;
    if (chunked) this.state = P.ChunkSize;
    else {
      this.state = P.Body;
      this.remaining = length < 0 ? 0 : length;
    }
  }

  private complete(t: number): void {
    if (this.status >= 100 && this.status < 200) return; // interim response: the real one follows
    const p = this.fifo[this.head];
    if (p === undefined) return;
    this.fifo[this.head++] = undefined as unknown as Pending;
    if (this.head === this.fifo.length) {
      this.fifo.length = 0;
      this.head = 0;
    }
    if (this.close) {
      this.close = false;
      this.closing = true;
      this.socket.end();
    }
    this.engine.onResponse(this, p, t, this.status, this.bytes);
  }

  /** Removes and returns every request in flight (connection lost or timed out). */
  drop(): Pending[] {
    const out = this.fifo.slice(this.head);
    this.fifo.length = 0;
    this.head = 0;
    return out;
  }

  oldestSentAt(): number {
    return this.inflight > 0 ? this.fifo[this.head].sentAt : NaN;
  }

  destroy(): void {
    this.dead = true;
    this.socket.destroy();
  }
}

const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

function hexDigit(b: number): number {
  if (b >= 48 && b <= 57) return b - 48;
  const l = b | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

function matchName(buf: Buffer, at: number, name: string): boolean {
  for (let k = 0; k < name.length; k++) if ((buf[at + k] | 0x20) !== name.charCodeAt(k)) return false;
  return true;
}

function parseDecimal(buf: Buffer, at: number, end: number): number {
  let i = at;
  while (i < end && (buf[i] === 32 || buf[i] === 9)) i++;
  let v = 0;
  let any = false;
  while (i < end && buf[i] >= 48 && buf[i] <= 57) {
    v = v * 10 + buf[i] - 48;
    any = true;
    i++;
  }
  return any ? v : -1;
}

function containsClose(buf: Buffer, at: number, end: number): boolean {
  const eol = buf.indexOf(13, at);
  const text = buf.toString('latin1', at, eol < 0 || eol > end ? end : eol).toLowerCase();
  return text.includes('close');
}

/** Builds the HTTP/1.1 request bytes of each request of the mix, once. */
function buildRequests(plan: LoadPlan, url: URL): Buffer[] {
  return weightedSequence(plan.requests).map((r) => {
    const path = url.pathname === '/' ? r.path : url.pathname.replace(/\/$/, '') + r.path;
    const body = r.body === undefined ? undefined : Buffer.from(r.body);
    const headers: Record<string, string> = { host: url.host, ...lower(r.headers ?? {}) };
    if (body) headers['content-length'] = String(body.length);
    const head = `${r.method} ${path} HTTP/1.1\r\n${Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('')}\r\n`;
    return body ? Buffer.concat([Buffer.from(head, 'latin1'), body]) : Buffer.from(head, 'latin1');
  });
}

function lower(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
}

const DRAIN_GRACE_MS = 3000;

/**
 * A leaner engine with the autocannon engine's semantics (closed and open model over one pool,
 * 1 s windows, same summary) on raw sockets: prebuilt request bytes, a byte-level response parser,
 * one clock read per socket read, writes corked per read. Optional HTTP pipelining.
 */
export class LeanEngine implements LoadEngine, ReportsInFlight {
  readonly name = 'autocannon-lean';
  host = '127.0.0.1';
  port = 80;
  readonly pipelining: number;
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
  private requests: Buffer[] = [];
  private next = 0;
  private maxConns = 0;
  private peakConns = 0;
  private timeoutMs = 10_000;
  private inflightAtCutoff = 0;

  constructor(opts: LeanOptions = {}) {
    this.pipelining = Math.max(1, Math.floor(opts.pipelining ?? 1));
  }

  inFlight(): number {
    return this.inflight;
  }

  async run(plan: LoadPlan, signal: AbortSignal): Promise<EngineSummary> {
    const url = new URL(plan.baseUrl);
    if (url.protocol !== 'http:') throw new Error('the lean engine speaks plain http only');
    this.host = url.hostname;
    this.port = Number(url.port || 80);
    this.requests = buildRequests(plan, url);
    this.timeoutMs = plan.requestTimeoutMs;
    this.recorder = new WindowRecorder(plan.sink, plan.runStart);
    this.recorder.start();
    const sweeper = setInterval(() => this.sweepTimeouts(), 250);
    sweeper.unref();
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
      clearInterval(sweeper);
      this.inflightAtCutoff = await this.drain();
      this.recorder.stop();
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
      extra: { pipelining: this.pipelining },
    };
  }

  private async runClosed(stage: PlannedStage, begin: number, signal: AbortSignal): Promise<void> {
    const target = stage.connections ?? 1;
    this.maxConns = target;
    this.backlog = [];
    this.backlogHead = 0;
    const live = this.conns.filter((c) => !c.dead && !c.retire);
    live.slice(target).forEach((c) => (c.retire = true));
    for (const c of live.slice(0, target)) if (c.connected) this.fill(c, now());
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

  private arrive(intended: number): void {
    const c = this.takeIdle();
    if (c) {
      this.send(c, intended, now());
      if (c.inflight < this.pipelining) this.markIdle(c);
      return;
    }
    this.backlogPush(intended);
    if (this.liveCount() < this.maxConns) this.open();
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
      c.inIdle = false;
      if (!c.dead && !c.retire && !c.closing && c.connected && c.inflight < this.pipelining) return c;
    }
    return undefined;
  }

  private markIdle(c: Conn): void {
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
    this.conns.push(new Conn(this));
    this.peakConns = Math.max(this.peakConns, this.liveCount());
  }

  onConnect(c: Conn): void {
    this.fill(c, now());
  }

  /** Gives a connection work up to the pipelining depth, by the stage's model. */
  private fill(c: Conn, t: number): void {
    if (c.dead || c.closing) return;
    if (c.retire || this.stopping) {
      if (c.retire && c.inflight === 0) c.destroy();
      return;
    }
    while (c.inflight < this.pipelining) {
      if (this.backlogHead < this.backlog.length) {
        const intended = this.backlog[this.backlogHead++];
        if (this.backlogHead > 4096 && this.backlogHead * 2 > this.backlog.length) {
          this.backlog = this.backlog.slice(this.backlogHead);
          this.backlogHead = 0;
        }
        this.send(c, intended, t);
      } else if (this.stage.model === 'closed') this.send(c, NaN, t);
      else {
        this.markIdle(c);
        return;
      }
    }
  }

  private send(c: Conn, intended: number, t: number): void {
    const open = this.stage.model === 'open';
    c.fifo.push({ intended: open ? intended : t, sentAt: t, stage: this.stage.name, open });
    this.inflight++;
    this.sent++;
    const req = this.requests[this.next];
    this.next = this.next + 1 === this.requests.length ? 0 : this.next + 1;
    c.write(req);
  }

  onResponse(c: Conn, p: Pending, t: number, status: number, bytes: number): void {
    this.recorder.record(t, p.stage, status, (t - p.intended) * 1000, bytes, p.open ? (t - p.sentAt) * 1000 : undefined);
    this.responses++;
    this.inflight--;
    this.fill(c, t);
  }

  onClose(c: Conn): void {
    this.fail(c, 'conn');
    c.connected = false;
    if (c.dead || c.retire || this.stopping) {
      c.dead = true;
      return;
    }
    c.connect();
  }

  onProtocolError(c: Conn): void {
    c.socket.destroy();
  }

  private fail(c: Conn, kind: 'timeout' | 'conn'): void {
    const lost = c.drop();
    if (lost.length === 0) return;
    const t = now();
    for (const p of lost) this.recorder.record(t, p.stage, kind);
    this.errors += lost.length;
    this.inflight -= lost.length;
  }

  private sweepTimeouts(): void {
    const limit = now() - this.timeoutMs;
    for (const c of this.conns) {
      if (c.dead) continue;
      const oldest = c.oldestSentAt();
      if (oldest < limit) {
        this.fail(c, 'timeout');
        c.socket.destroy();
      }
    }
  }

  private async drain(): Promise<number> {
    this.stopping = true;
    this.dropped += this.backlog.length - this.backlogHead;
    this.backlog = [];
    this.backlogHead = 0;
    const deadline = now() + DRAIN_GRACE_MS;
    while (this.inflight > 0 && now() < deadline) await sleep(5);
    const cut = this.inflight;
    for (const c of this.conns) {
      c.drop();
      c.destroy();
    }
    this.conns = [];
    this.idle = [];
    return cut;
  }
}

async function sleepUntil(t: number, signal: AbortSignal): Promise<void> {
  const ms = t - now();
  if (ms > 0 && !signal.aborted) await sleep(ms, undefined, { signal }).catch(() => undefined);
}
