// The notices a load engine writes when its load ends (`load.notice` events; results.json's notices
// and the report show them): which requests failed, by kind, from when, and what was never sent. The
// lean and autocannon engines (scheduler.ts) and the k6 engine (k6/engine.ts) word them alike.

/** Failed requests of one error kind over the run: how many, and when (run time base, ms) the first failed. */
export interface KindTotal {
  n: number;
  first: number;
}

/** One notice: its kind (`conn`, `timeout`, `http_5xx`, `dropped`, …) and its sentence. */
export interface LoadNotice {
  notice: string;
  message: string;
}

export interface EndNoticeOptions {
  /** Failed requests by error kind (src/load/windows.ts errorKind). */
  totals: ReadonlyMap<string, KindTotal>;
  runStart: number;
  /** The requests' timeout; undefined when the engine does not set it (a user's k6 script sets its own). */
  requestTimeoutMs: number | undefined;
  /** Open-model arrivals never sent, and why (the engine's own reason). */
  dropped: number;
  droppedWhy: string;
  /** Also a notice for connection errors (engines that do not write one per outage, as the scheduler does). */
  conn?: boolean;
  /** `first` is known to the second only (k6 pushes its counts once a second). */
  coarse?: boolean;
}

/** Seconds since the run's start, to 0.1 s. */
export const relSeconds = (t: number, runStart: number): string => ((t - runStart) / 1000).toFixed(1);

/** The end-of-load notices, in a fixed order: conn (when asked), timeout, http_5xx, dropped. */
export function endNotices(o: EndNoticeOptions): LoadNotice[] {
  const out: LoadNotice[] = [];
  const first = (k: KindTotal) => (o.coarse ? `in the second from ${relSeconds(o.runStart + Math.floor((k.first - o.runStart) / 1000) * 1000, o.runStart)} s` : `at ${relSeconds(k.first, o.runStart)} s`);
  const conn = o.totals.get('conn');
  if (o.conn && conn) out.push({ notice: 'conn', message: `${conn.n} request(s) got no answer because the connection failed (refused, reset or closed), the first ${first(conn)}: counted as errors of kind conn` });
  const timeout = o.totals.get('timeout');
  if (timeout) out.push({ notice: 'timeout', message: `${timeout.n} request(s) timed out (no answer within ${o.requestTimeoutMs === undefined ? 'their timeout' : `the request timeout, ${o.requestTimeoutMs} ms`}), the first ${first(timeout)}: counted as errors of kind timeout, with the timeout as their latency` });
  const x5 = o.totals.get('http_5xx');
  if (x5) out.push({ notice: 'http_5xx', message: `${x5.n} response(s) were HTTP 5xx, the first ${first(x5)}: counted as errors of kind http_5xx` });
  if (o.dropped > 0) out.push({ notice: 'dropped', message: `${o.dropped} open-model arrival(s) were never sent: ${o.droppedWhy} (counted as dropped)` });
  return out;
}
