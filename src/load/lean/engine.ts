import { connect, type Socket } from 'node:net';
import { now } from '../../core/clock.ts';
import { LoadscopeError } from '../../core/errors.ts';
import { weightedSequence } from '../mix.ts';
import { Connection, Scheduler, type Client } from '../scheduler.ts';
import type { EngineSummary, LoadEngine, LoadPlan } from '../types.ts';

/**
 * Options of the lean engine. `pipelining`: requests a connection may have in flight (HTTP/1.1
 * pipelining; 1 = one at a time, as the autocannon engine and wrk). Latency of a pipelined request
 * includes the time it waited behind the ones before it on the connection.
 */
export interface LeanOptions {
  pipelining?: number;
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
 * One keep-alive HTTP/1.1 connection of the pool with a minimal response parser (status line,
 * Content-Length, chunked transfer coding, Connection: close). Bodies are skipped, never copied or
 * decoded. Reconnects when the socket closes, unless the connection is done.
 */
class Conn extends Connection {
  socket!: Socket;
  /** Bytes of a response head split across reads. */
  private partial?: Buffer;
  private state = P.Head;
  private remaining = 0;
  private status = 0;
  private bytes = 0;
  private close = false;
  private noBody = false;
  /** When the current connect attempt began, and whether it got through. */
  private attemptAt = 0;
  private connected = false;
  /** Per request in flight (the scheduler's ring slots): was it a HEAD (its response has no body)? */
  readonly headReq: boolean[];

  constructor(private readonly engine: LeanEngine) {
    super(engine.pipelining);
    this.headReq = new Array<boolean>(engine.pipelining).fill(false);
    this.connect();
  }

  connect(): void {
    const e = this.engine;
    this.ready = false;
    this.partial = undefined;
    this.state = P.Head;
    this.attemptAt = now();
    this.connected = false;
    // onread: the socket reads into one reused buffer and calls us directly (no stream, no
    // allocation per read); anything kept past the call (a split response head) is copied.
    const onread = {
      buffer: READ_BUFFER,
      callback: (len: number) => {
        this.onData(READ_BUFFER.subarray(0, len));
        return true;
      },
    };
    const s = connect({ port: e.port, host: e.host, noDelay: true, onread });
    this.socket = s;
    s.on('connect', () => {
      this.connected = true;
      this.ready = true;
      e.s.fill(this, now());
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      if (this.socket !== s) return;
      if (this.connected) e.onClose(this);
      else e.onConnectFailed(this, this.attemptAt);
    });
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
            this.partial = copyFrom(buf, i);
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
          i += this.skip(n - i);
          if (this.remaining === 0) {
            this.state = P.Head;
            this.complete(t);
          }
          break;
        }
        case P.ChunkSize: {
          const eol = this.lineEnd(buf, i);
          if (eol < 0) {
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
          i += this.skip(n - i);
          if (this.remaining === 0) {
            this.state = P.ChunkCrlf;
            this.remaining = 2;
          }
          break;
        }
        case P.ChunkCrlf: {
          i += this.skip(n - i);
          if (this.remaining === 0) this.state = P.ChunkSize;
          break;
        }
        case P.Trailer: {
          // Trailer fields end with an empty line; usually the empty line comes at once.
          const eol = this.lineEnd(buf, i);
          if (eol < 0) {
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
      this.socket.destroy();
    }
  }

  /** Counts up to `available` bytes of the body part being read as read; returns how many. */
  private skip(available: number): number {
    const take = Math.min(this.remaining, available);
    this.remaining -= take;
    this.bytes += take;
    return take;
  }

  /** End of the line that starts at `at`; -1 when it is unfinished (kept for the next read). */
  private lineEnd(buf: Buffer, at: number): number {
    const eol = buf.indexOf(10, at);
    if (eol < 0) this.partial = copyFrom(buf, at);
    return eol;
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
    this.noBody = (s >= 100 && s < 200) || s === 204 || s === 304 || this.headReq[this.head];
    if (this.noBody) return;
    if (chunked) this.state = P.ChunkSize;
    else {
      this.state = P.Body;
      this.remaining = length < 0 ? 0 : length;
    }
  }

  private complete(t: number): void {
    if (this.status >= 100 && this.status < 200) return; // interim response: the real one follows
    if (this.inflight === 0) return;
    if (this.close) {
      // The server said Connection: close; no more requests go on this socket.
      this.close = false;
      this.ready = false;
      this.socket.end();
    }
    const s = this.engine.s;
    s.answered(this, t, this.status, this.bytes);
    s.fill(this, t);
  }
}

const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);
/** Pause before a connection whose connect failed tries again. */
const RECONNECT_PAUSE_MS = 50;
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

/** A copy of `buf` from `at`: an unparsed tail kept for the next read (the read buffer is reused). */
function copyFrom(buf: Buffer, at: number): Buffer {
  return Buffer.from(buf.subarray(at));
}

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

/**
 * A leaner engine with the autocannon engine's semantics (the shared stage scheduler) on raw
 * sockets: prebuilt request bytes, a byte-level response parser, one clock read per socket read,
 * writes corked per read. Optional HTTP pipelining.
 */
export class LeanEngine implements LoadEngine, Client<Conn> {
  readonly name = 'autocannon-lean';
  readonly pipelining: number;
  host = '127.0.0.1';
  port = 80;
  s!: Scheduler<Conn>;
  private requests: Buffer[] = [];
  private isHead: boolean[] = [];
  private next = 0;
  private timeoutMs = 10_000;

  constructor(opts: LeanOptions = {}) {
    this.pipelining = Math.max(1, Math.floor(opts.pipelining ?? 1));
  }

  async run(plan: LoadPlan, signal: AbortSignal): Promise<EngineSummary> {
    const url = new URL(plan.baseUrl);
    if (url.protocol !== 'http:') throw new LoadscopeError('ENGINE', 'the lean engine speaks plain http only', { hint: 'use engine: autocannon for an https:// target' });
    this.host = url.hostname;
    this.port = Number(url.port || 80);
    this.requests = buildRequests(plan, url);
    this.isHead = weightedSequence(plan.requests).map((r) => r.method === 'HEAD');
    this.timeoutMs = plan.requestTimeoutMs;
    this.s = new Scheduler(this.name, plan, this);
    const sweeper = setInterval(() => this.sweepTimeouts(), 250);
    sweeper.unref();
    try {
      return { ...(await this.s.run(signal)), extra: { pipelining: this.pipelining } };
    } finally {
      clearInterval(sweeper);
    }
  }

  open(): Conn {
    return new Conn(this);
  }

  write(c: Conn): void {
    const req = this.requests[this.next];
    c.headReq[(c.head + c.inflight - 1) % c.depth] = this.isHead[this.next];
    this.next = this.next + 1 === this.requests.length ? 0 : this.next + 1;
    c.socket.write(req);
  }

  close(c: Conn): void {
    c.socket.destroy();
  }

  /**
   * The connection could not be made (refused, unreachable): the scheduler counts what that lost, and
   * the connection tries again after RECONNECT_PAUSE_MS (a target that is down costs a few attempts a
   * second per connection, not a busy loop), unless it is done.
   */
  onConnectFailed(c: Conn, startedAt: number): void {
    this.s.connectFailed(startedAt);
    if (c.dead || c.retire || this.s.stopping) {
      c.dead = true;
      return;
    }
    setTimeout(() => {
      if (c.dead || c.retire || this.s.stopping) c.dead = true;
      else c.connect();
    }, RECONNECT_PAUSE_MS);
  }

  /** The socket closed: its requests in flight are lost; reconnect unless the connection is done. */
  onClose(c: Conn): void {
    this.s.fail(c, 'conn');
    c.ready = false;
    if (c.dead || c.retire || this.s.stopping) {
      c.dead = true;
      return;
    }
    c.connect();
  }

  /** Also while the scheduler drains: a request that hangs past its timeout then is a timeout, not one cut off. */
  private sweepTimeouts(): void {
    const limit = now() - this.timeoutMs;
    for (const c of this.s.conns) {
      if (c.dead) continue;
      if (c.oldestSentAt() < limit) {
        // the sweep runs every 250 ms: the request timed out when its time was up, not when the sweep saw it
        this.s.fail(c, 'timeout', c.oldestSentAt() + this.timeoutMs);
        c.socket.destroy();
      }
    }
  }
}
