import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LoadscopeError } from '../../core/errors.ts';
import { decodeWriteRequest, RemoteWriteFormatError, type NativeHistogram, type Series } from './remote-write.ts';

// A Prometheus remote-write endpoint on 127.0.0.1 for N senders. Each sender posts to its own path,
// /write/<sender>, with the run's bearer token; senders push cumulative series (counters since they
// started, native histograms since they started), and the receiver turns every pushed value into
// the change since that sender's previous push of the same series. Deltas of several senders then
// add exactly: counters by sum, native histograms of one schema by adding bucket counts.

/** The change of one series of one sender between two of its pushes. */
export interface SeriesDelta {
  sender: string;
  /** The series' labels, `__name__` included. */
  labels: Record<string, string>;
  /** The pushed timestamp (epoch ms on the sender's clock; k6: its latest sample's time). */
  time: number;
  /**
   * Where the delta's observations begin: the later of this series' previous timestamp and the
   * latest timestamp of the sender's previous push (its samples came after that push); undefined
   * for a sender's first push.
   */
  since?: number;
  /** Counter (name ends in `_total`): the increase; any other float series: the value itself. */
  value?: number;
  /** Native histogram: the observations added since the previous push. */
  histogram?: NativeHistogram;
}

/** What the receiver saw, for the engine's summary. */
export interface ReceiverStats {
  pushes: number;
  series: number;
  bytes: number;
  /** Requests refused (bad path, token, encoding or body), with the last reason. */
  rejected: number;
  lastRejection?: string;
}

interface State {
  time: number;
  value?: number;
  histogram?: NativeHistogram;
}

/** A remote-write endpoint for one run; `deltas` is called for every series change, in arrival order. */
export class RemoteWriteReceiver {
  readonly token = randomBytes(16).toString('hex');
  readonly stats: ReceiverStats = { pushes: 0, series: 0, bytes: 0, rejected: 0 };
  private server?: Server;
  private base = '';
  private state = new Map<string, State>();
  /** Per sender: the latest timestamp of its previous push. */
  private watermark = new Map<string, number>();

  constructor(private readonly onDelta: (d: SeriesDelta) => void) {}

  /** Listens on 127.0.0.1 (a free port). */
  async start(): Promise<void> {
    const server = createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 30_000;
    await new Promise<void>((res, rej) => {
      server.once('error', (cause) => rej(new LoadscopeError('ENVIRONMENT', 'cannot listen on 127.0.0.1 for k6\'s remote write', { cause })));
      server.listen(0, '127.0.0.1', () => res());
    });
    this.server = server;
    this.base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** The URL sender `id` writes to (letters, digits, `.`, `_`, `-`). */
  urlFor(id: string): string {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(id)) throw new LoadscopeError('INTERNAL', `remote-write sender id ${JSON.stringify(id)} is not a path segment`);
    return `${this.base}/write/${id}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((res) => server.close(() => res()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const m = /^\/write\/([A-Za-z0-9._-]{1,64})$/.exec(req.url ?? '');
    const refuse = (status: number, why: string) => {
      this.stats.rejected++;
      this.stats.lastRejection = why;
      req.resume();
      res.writeHead(status, { 'content-type': 'text/plain', connection: 'close' }).end(why + '\n');
    };
    if (!m) return refuse(404, `no remote-write endpoint at ${req.url}`);
    if (req.method !== 'POST') return refuse(405, `${req.method} is not a remote write (POST)`);
    if (req.headers.authorization !== `Bearer ${this.token}`) return refuse(401, 'missing or wrong bearer token');
    if (req.headers['content-encoding'] !== 'snappy') return refuse(415, `content-encoding ${req.headers['content-encoding'] ?? 'none'}: remote write bodies are snappy blocks`);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let series: Series[];
      try {
        series = decodeWriteRequest(body);
      } catch (err) {
        if (err instanceof RemoteWriteFormatError) return refuse(400, err.message);
        throw err;
      }
      this.stats.pushes++;
      this.stats.bytes += body.length;
      this.stats.series += series.length;
      const sender = m[1];
      const mark = this.watermark.get(sender);
      let latest = mark ?? -Infinity;
      for (const s of series) latest = Math.max(latest, this.take(sender, s, mark));
      this.watermark.set(sender, latest);
      res.writeHead(204).end();
    });
  }

  /** Takes one series of a push; returns its latest timestamp (stale markers excluded). */
  private take(sender: string, s: Series, mark: number | undefined): number {
    const key = sender + '\0' + seriesKey(s.labels);
    const counter = (s.labels.__name__ ?? '').endsWith('_total');
    const since = (prev?: State) => (prev === undefined ? mark : mark === undefined ? prev.time : Math.max(prev.time, mark));
    let latest = -Infinity;
    for (const h of s.histograms) {
      const prev = this.state.get(key);
      const delta = histogramDelta(prev?.histogram, h);
      this.state.set(key, { time: h.timestamp, histogram: h });
      if (delta.count === 0) continue;
      latest = Math.max(latest, h.timestamp);
      this.onDelta({ sender, labels: s.labels, time: h.timestamp, since: since(prev), histogram: delta });
    }
    for (const x of s.samples) {
      if (Number.isNaN(x.value)) continue; // stale marker
      const prev = this.state.get(key);
      this.state.set(key, { time: x.timestamp, value: x.value });
      latest = Math.max(latest, x.timestamp);
      const value = counter ? (prev?.value !== undefined && x.value >= prev.value ? x.value - prev.value : x.value) : x.value;
      if (!counter || value !== 0) this.onDelta({ sender, labels: s.labels, time: x.timestamp, since: since(prev), value });
    }
    return latest;
  }
}

/** Labels as one string (names sorted); the series' identity within a sender. */
export function seriesKey(labels: Record<string, string>): string {
  return Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join('\0');
}

/**
 * The observations in `cur` that `prev` (the same series' previous state) lacked. A lower count is
 * a restart of the sender: all of `cur` is new. A coarser schema in `cur` (a sender that reduced
 * its resolution) is met by reducing `prev` to it first — exact, as two buckets merge into one.
 */
export function histogramDelta(prev: NativeHistogram | undefined, cur: NativeHistogram): NativeHistogram {
  if (!prev || cur.count < prev.count || cur.schema > prev.schema) return cur;
  const base = cur.schema < prev.schema ? reduceSchema(prev, cur.schema) : prev;
  const sub = (a: Map<number, number>, b: Map<number, number>) => {
    const out = new Map<number, number>();
    for (const [i, c] of a) {
      const d = c - (b.get(i) ?? 0);
      if (d > 0) out.set(i, d);
    }
    return out;
  };
  return {
    count: cur.count - base.count,
    sum: cur.sum - base.sum,
    schema: cur.schema,
    zeroThreshold: cur.zeroThreshold,
    zeroCount: cur.zeroCount - base.zeroCount,
    positive: sub(cur.positive, base.positive),
    negative: sub(cur.negative, base.negative),
    timestamp: cur.timestamp,
  };
}

/** The same histogram at a coarser schema: bucket i at schema s lies in bucket ⌈i / 2^(s−target)⌉. */
export function reduceSchema(h: NativeHistogram, target: number): NativeHistogram {
  if (target >= h.schema) return h;
  const f = 2 ** (h.schema - target);
  const red = (m: Map<number, number>) => {
    const out = new Map<number, number>();
    for (const [i, c] of m) {
      const j = Math.ceil(i / f);
      out.set(j, (out.get(j) ?? 0) + c);
    }
    return out;
  };
  return { ...h, schema: target, positive: red(h.positive), negative: red(h.negative) };
}
