// The backend's fault control endpoint: how a run injects http-errors and http-delay into a running pod.
//
//   GET    /_loadscope/fault   → 200 {errors?: {share, status}, delay?: {ms, jitterMs}, since?}
//   PUT    /_loadscope/fault   body {"errors": {"share": 0.2, "status": 503}} and/or {"delay": {"ms": 50, "jitterMs": 20}}
//                              → 200 with the new state (replaces the previous one)
//   DELETE /_loadscope/fault   → 200 {} (no fault)
//
// Only loopback peers and the addresses given by --control-from may call it (403 otherwise). Control
// requests are never counted in loadscope_http_requests_total. Errors answer JSON {error}.
import type http from 'node:http';
import { isLoopbackPeer } from './control.ts';
import type { Handler } from './server.ts';

export const FAULT_PATH = '/_loadscope/fault';
const MAX_BODY = 4096;

/** What a backend does wrong on purpose: answer a share of requests with `status`, add `ms` + [0, jitterMs) of latency. */
export interface FaultState {
  errors?: { share: number; status: number };
  delay?: { ms: number; jitterMs: number };
}

/** Parses a PUT body; throws an Error with a one-line message. */
export function parseFaultState(text: string): FaultState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error('body is not JSON; send {"errors": {"share": 0.1, "status": 503}} and/or {"delay": {"ms": 50, "jitterMs": 10}}');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('body must be a JSON object');
  const o = raw as Record<string, unknown>;
  const extra = Object.keys(o).find((k) => k !== 'errors' && k !== 'delay');
  if (extra) throw new Error(`unknown key "${extra}" (errors, delay)`);
  const out: FaultState = {};
  if (o.errors !== undefined) {
    const e = o.errors as Record<string, unknown>;
    if (typeof e !== 'object' || e === null || Object.keys(e).some((k) => k !== 'share' && k !== 'status')) throw new Error('"errors" is {share, status}');
    if (typeof e.share !== 'number' || !(e.share > 0) || e.share > 1) throw new Error('errors.share must be a number in (0, 1]');
    if (!Number.isInteger(e.status) || (e.status as number) < 400 || (e.status as number) > 599) throw new Error('errors.status must be an integer in 400..599');
    out.errors = { share: e.share, status: e.status as number };
  }
  if (o.delay !== undefined) {
    const d = o.delay as Record<string, unknown>;
    if (typeof d !== 'object' || d === null || Object.keys(d).some((k) => k !== 'ms' && k !== 'jitterMs')) throw new Error('"delay" is {ms, jitterMs}');
    const ms = d.ms;
    const jitter = d.jitterMs ?? 0;
    if (typeof ms !== 'number' || !(ms >= 0) || ms > 60_000) throw new Error('delay.ms must be a number in [0, 60000]');
    if (typeof jitter !== 'number' || !(jitter >= 0) || jitter > 60_000) throw new Error('delay.jitterMs must be a number in [0, 60000]');
    out.delay = { ms, jitterMs: jitter };
  }
  return out;
}

function reply(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, ['content-type', 'application/json', 'content-length', String(Buffer.byteLength(text))]);
  res.end(text);
}

/** The backend's fault switch: `state` is read per request by the backend handler. */
export class FaultSwitch {
  state: FaultState = {};

  /** The control handler; `from`: peers besides loopback that may call it. */
  handler(from: readonly string[]): Handler {
    return (req, res, path) => {
      if (path !== FAULT_PATH) return reply(res, 404, { error: `no control endpoint ${path}` });
      const peer = req.socket.remoteAddress;
      const v4 = peer?.startsWith('::ffff:') ? peer.slice(7) : peer;
      if (!isLoopbackPeer(peer) && !(v4 && from.includes(v4))) return reply(res, 403, { error: 'the control endpoint answers loopback and --control-from peers only' });
      if (req.method === 'GET' || req.method === 'DELETE') {
        req.resume();
        if (req.method === 'DELETE') this.state = {};
        return reply(res, 200, this.state);
      }
      if (req.method !== 'PUT') {
        req.resume();
        return reply(res, 405, { error: 'use GET, PUT or DELETE' });
      }
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) req.destroy();
        else chunks.push(c);
      });
      req.on('end', () => {
        try {
          this.state = parseFaultState(Buffer.concat(chunks).toString('utf8'));
        } catch (err) {
          return reply(res, 400, { error: (err as Error).message });
        }
        reply(res, 200, this.state);
      });
    };
  }
}
