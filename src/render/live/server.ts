import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ResultBuilder } from '../../analyze/results.ts';
import { LoadscopeError } from '../../core/errors.ts';
import type { RunResult } from '../../core/result.ts';
import type { JournalRecord, RunHeader } from '../../core/types.ts';
import { renderView } from '../render.ts';
import { buildView, type ReportView } from '../view.ts';
import { prometheusText } from './metrics.ts';

/** Settings of the live view. Only loopback addresses are accepted for `host`. */
export interface LiveOptions {
  /** 0 (default) lets the kernel pick a free port. */
  port?: number;
  host?: '127.0.0.1' | '::1';
  /** How often the page is updated, ms (default 1000). A slow correlation stretches it. */
  intervalMs?: number;
}

/** What the page learns when the run is over. */
export interface LiveEnd {
  outcome: string;
  report: string;
}

/** A correlated view of the journal so far. */
interface Snapshot {
  result: RunResult;
  view: ReportView;
  scenarioText: string;
  records: number;
  computeMs: number;
}

const LOOPBACK = new Set(['127.0.0.1', '::1']);

/**
 * The live view of a run: fed every journal record (Journal.onRecord), it correlates what it has once a
 * second and serves, on loopback only, the report page (GET /), its updates as server-sent events
 * (GET /events, event "update" each time, "end" once), the run as Prometheus text (GET /metrics) and
 * the partial results (GET /results.json). The correlation is the report's own (ResultBuilder, fed as
 * records arrive), so the
 * live page and the final report agree.
 */
export class LiveServer {
  private readonly server: Server;
  private readonly builder = new ResultBuilder();
  private header?: RunHeader;
  private records = 0;
  private readonly clients = new Set<ServerResponse>();
  private snapshot?: Snapshot;
  private seen = -1;
  private timer?: NodeJS.Timeout;
  private nextAt = 0;
  private ended?: LiveEnd;
  private port = 0;
  private readonly host: string;
  readonly intervalMs: number;
  /** Updates sent so far (to every connected page). */
  updates = 0;

  constructor(private readonly opts: LiveOptions = {}) {
    this.host = opts.host ?? '127.0.0.1';
    if (!LOOPBACK.has(this.host)) throw new LoadscopeError('USAGE', `the live view listens on loopback only, not ${this.host}`, { hint: 'use 127.0.0.1 or ::1' });
    this.intervalMs = opts.intervalMs ?? 1000;
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 2000;
  }

  /** Starts listening; resolves with the page's URL. */
  async start(): Promise<string> {
    const port = this.opts.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new LoadscopeError('USAGE', `--live-port ${port} is not a port number`, { hint: 'give 1..65535, or 0 for any free port' });
    await new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException) =>
        reject(new LoadscopeError('ENVIRONMENT', `the live view cannot listen on ${this.host}:${port}: ${e.code ?? e.message}`, { cause: e, hint: 'pick another --live-port, or 0 for any free one' }));
      this.server.once('error', onError);
      this.server.listen(port, this.host, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
    return this.url;
  }

  get url(): string {
    return `http://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}/`;
  }

  /** Takes one journal record (wire to Journal.onRecord / RunOptions.onRecord). */
  feed(r: JournalRecord): void {
    if (r.type === 'run') this.header ??= r;
    this.records++;
    try {
      this.builder.add(r);
    } catch {
      // the live view must never stop the run; the final report reads the journal again
    }
  }

  /** Sends a last update and the "end" event to every page. */
  finish(end: LiveEnd): void {
    this.ended = end;
    this.seen = -1;
    this.tick(true);
    const msg = sse('end', end);
    for (const c of this.clients) c.write(msg);
  }

  /** Stops the timer, ends every event stream and closes the server. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    for (const c of this.clients) c.end();
    this.clients.clear();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** The correlated journal so far; undefined until the run header arrived. */
  current(): Snapshot | undefined {
    if (this.seen === this.records && this.snapshot) return this.snapshot;
    const header = this.header;
    if (!header) return undefined;
    const t = performance.now();
    // the builder has taken every record as it came; finishing costs the windows so far, not the records
    const result = this.builder.finish();
    const scenarioText = String(header.scenarioText ?? '');
    this.snapshot = { result, view: buildView(result, scenarioText, { live: !this.ended }), scenarioText, records: this.records, computeMs: performance.now() - t };
    this.seen = this.records;
    return this.snapshot;
  }

  private tick(force = false): void {
    const now = performance.now();
    // nobody watching: no correlation on the thread that sends the run's requests
    if (!force && (now < this.nextAt || !this.clients.size)) return;
    let snap: Snapshot | undefined;
    try {
      snap = this.current();
    } catch {
      return; // a half-written journal that does not correlate yet: try again next tick
    }
    if (!snap) return;
    // A correlation that takes long (hours of data) must not eat the run's CPU: wait twice as long as it took.
    this.nextAt = performance.now() + Math.max(0, 2 * snap.computeMs - this.intervalMs);
    if (!this.clients.size) return;
    const msg = sse('update', updateOf(snap.view));
    for (const c of this.clients) c.write(msg);
    this.updates++;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const host = req.headers.host ?? '';
    // Loopback only, and no DNS rebinding: the Host header must name a loopback address.
    if (!/^(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/.test(host)) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('forbidden: the live view answers loopback requests only\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    const headers = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };
    try {
      switch (path) {
        case '/':
        case '/index.html': {
          const snap = this.current();
          const html = snap ? renderView(snap.view) : WAITING;
          res.writeHead(200, { ...headers, 'content-type': 'text/html; charset=utf-8' }).end(html);
          return;
        }
        case '/events': {
          res.writeHead(200, { ...headers, 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' });
          res.write(`retry: ${this.intervalMs}\n\n`);
          this.clients.add(res);
          req.on('close', () => this.clients.delete(res));
          const snap = this.current();
          if (snap) res.write(sse('update', updateOf(snap.view)));
          if (this.ended) res.write(sse('end', this.ended));
          return;
        }
        case '/metrics': {
          const snap = this.current();
          res.writeHead(200, { ...headers, 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(prometheusText(snap?.result, { finished: Boolean(this.ended) }));
          return;
        }
        case '/results.json': {
          const snap = this.current();
          res.writeHead(snap ? 200 : 503, { ...headers, 'content-type': 'application/json' }).end(snap ? JSON.stringify(snap.result) : '{"error":"the run has not started yet"}');
          return;
        }
        default:
          res.writeHead(404, { ...headers, 'content-type': 'text/plain' }).end('not found\n');
      }
    } catch (e) {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`live view error: ${(e as Error).message}\n`);
    }
  }
}

/** What a page needs to redraw: chart data, key figures, verdict, findings, the latest events. */
function updateOf(v: ReportView) {
  return { data: v.data, figures: v.figures, verdict: v.verdict, findings: v.findings, events: { head: v.events.head, rows: v.events.rows.slice(-300) } };
}

function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

const WAITING = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'"><title>loadscope — starting</title></head>
<body style="font: 15px system-ui, sans-serif; padding: 24px">loadscope: the run is starting (services, probes); this page reloads every second.</body></html>`;
