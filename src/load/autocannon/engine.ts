import { createRequire } from 'node:module';
import { now } from '../../core/clock.ts';
import { weightedSequence } from '../mix.ts';
import { Connection, Scheduler, type Client } from '../scheduler.ts';
import type { EngineSummary, LoadEngine, LoadPlan } from '../types.ts';

// autocannon's connection client (pinned autocannon version): one keep-alive connection that builds,
// writes and parses HTTP/1.1 requests. The shared stage scheduler (../scheduler.ts) drives a pool of
// them: it decides when each connection sends; the client writes and reports the outcome.
const require = createRequire(import.meta.url);
const HttpClient = require('autocannon/lib/httpClient.js') as new (opts: Record<string, unknown>) => AcClient;
/** The response parser autocannon uses: its headers-complete callback returns 1 to say "no body follows". */
const { kOnHeadersComplete } = createRequire(require.resolve('autocannon'))('http-parser-js').HTTPParser as { kOnHeadersComplete: number };

interface AcClient {
  parser: Record<number, (info: unknown) => unknown>;
  requestIterator: { currentRequest: { method?: string } };
  on(ev: 'response', fn: (status: number, bytes: number, durationMs: number) => void): void;
  on(ev: 'request' | 'timeout' | 'connError', fn: (...args: unknown[]) => void): void;
  destroy(): void;
  destroyed: boolean;
  _doRequest(): void;
  _connect(): void;
}

/** Pause before a client whose connection failed connects again (the lean engine's pause too). */
const RECONNECT_PAUSE_MS = 50;

/** One autocannon client; it buffers a request written before it has connected, so it is ready at once. */
class Conn extends Connection {
  client!: AcClient;

  constructor() {
    super(1);
    this.ready = true;
  }
}

/** The autocannon engine: the shared stage scheduler over a pool of autocannon clients. */
export class AutocannonEngine implements LoadEngine, Client<Conn> {
  readonly name = 'autocannon';
  private s!: Scheduler<Conn>;
  private clientOpts!: Record<string, unknown>;
  private sendRaw!: (c: AcClient) => void;
  private timeoutMs = 0;

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
    this.timeoutMs = plan.requestTimeoutMs;
    this.clientOpts = {
      hostname: url.hostname,
      host: url.host,
      port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
      protocol: url.protocol,
      pipelining: 1,
      timeout: plan.requestTimeoutMs / 1000,
      requests: sequence,
    };
    this.s = new Scheduler(this.name, plan, this);
    return this.s.run(signal);
  }

  open(): Conn {
    const conn = new Conn();
    const engine = this;
    const s = this.s;
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
        client._doRequest = () => s.fill(conn, now());
        client.on('response', (status, bytes) => s.answered(conn, now(), status, bytes));
        // A timeout on an idle connection is autocannon's idle timer, not a failed request. After a
        // timeout the client reconnects without asking for work again; after a connection error it asks.
        client.on('timeout', () => {
          if (conn.inflight === 0) return;
          // autocannon's timer fires late on a busy event loop: the request timed out when its time
          // was up (its latency the timeout, as the lean engine's sweep records it), not when we heard
          s.fail(conn, 'timeout', Math.min(now(), conn.oldestSentAt() + engine.timeoutMs));
          s.fill(conn, now());
        });
        // autocannon connects again at once after a connection error: against a target that is down
        // that is a busy loop of refused connects, each an error. It waits RECONNECT_PAUSE_MS first
        // (a few attempts a second per connection, as the lean engine), taking no work meanwhile.
        const connect = (Object.getPrototypeOf(client) as AcClient)._connect;
        let failed = false;
        client.on('connError', () => {
          s.fail(conn, 'conn');
          failed = true;
        });
        client._connect = function (this: AcClient) {
          if (!failed) return connect.call(this);
          failed = false;
          conn.ready = false;
          setTimeout(() => {
            if (this.destroyed || conn.dead || s.stopping) return;
            conn.ready = true;
            connect.call(this);
          }, RECONNECT_PAUSE_MS);
        };
      },
    };
    const client = new HttpClient(opts);
    // A response to HEAD carries a Content-Length but no body; autocannon would wait for one.
    const headersComplete = client.parser[kOnHeadersComplete];
    client.parser[kOnHeadersComplete] = (info) => {
      headersComplete(info);
      return client.requestIterator.currentRequest.method === 'HEAD' ? 1 : 0;
    };
    return conn;
  }

  write(c: Conn): void {
    this.sendRaw(c.client);
  }

  close(c: Conn): void {
    c.client.destroy();
  }
}

function joinPath(base: string, path: string): string {
  return base === '/' ? path : base.replace(/\/$/, '') + path;
}
