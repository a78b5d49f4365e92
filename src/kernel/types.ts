import type { Sink } from '../core/types.ts';

/**
 * Which traffic the probes count: the run's own, never the machine's. Categories combine with AND
 * (an interface in `ifaces` AND a port in `ports` AND an address in `cidrs`), values within one
 * category with OR; a packet or socket matches a port/address category when either side matches.
 * At least one category must be non-empty. Interfaces are matched by name in every namespace; a
 * name ending in `*` (at most 8 of them) matches every interface whose name starts with the rest,
 * also ones created after the probes started.
 */
export interface ProbeFilter {
  ports?: number[];
  ifaces?: string[];
  cidrs?: string[];
}

/** Names of the loaders in bpf/ (one process each). */
export type ProbeName = 'pktlat' | 'fibroute' | 'tcpwatch';

/** Whether probes run: `'off'` starts nothing; `'auto'` runs without them when the machine cannot; `'required'` makes that an error. */
export type ProbeMode = 'auto' | 'required' | 'off';

/**
 * What the probes time. `sampled`: every packet, byte, drop, route, retransmit and connection is
 * counted, 1 packet in N is timed (N chosen each window from the packet rate within a run-time
 * budget), and srtt comes from a socket iterator once per window per socket. `full`: every packet
 * timed, srtt at tcp_probe on every ACK (at most once per socket per 10 ms).
 */
export type ProbeFidelity = 'sampled' | 'full';

/** The scenario's `probes` key: a mode alone, or a mode with a fidelity. */
export type ProbeSetting = ProbeMode | { mode: ProbeMode; fidelity: ProbeFidelity };

/**
 * How to start the probes. `mode` is the mode, or the scenario's `probes` setting whole (its
 * fidelity then applies unless `fidelity` is given); `'required'` makes a machine that cannot run
 * them a LoadscopeError('ENVIRONMENT').
 */
export interface ProbeOptions {
  sink: Sink;
  filter: ProbeFilter;
  mode: ProbeSetting;
  /** Default: the setting's, else 'sampled'. */
  fidelity?: ProbeFidelity;
  /** Sampled fidelity: time a fixed 1 in N packets instead of choosing N from the packet rate. */
  every?: number;
  /** Sampled fidelity: program run time per second the packet timing may take, in µs (default 2000). */
  budgetUs?: number;
  /**
   * The kernel's run-time statistics (probes.cost) on for 1/N of every window, and for window/N from
   * attach; the cost is scaled up from them. Default: 10 at sampled fidelity, 1 (the whole run) at full.
   */
  statsEvery?: number;
  /** Aborting stops the loaders (same as handle.stop()). */
  signal?: AbortSignal;
  onStatus?: (line: string) => void;
  /** Directory holding the built loaders; default $LOADSCOPE_BPF_DIR, else <repo>/bpf/.output. */
  loaderDir?: string;
  /** Which loaders to run; default all. */
  probes?: ProbeName[];
  /** Epoch ms the 1 s window grid is aligned to (the run's start); default now. */
  windowOriginMs?: number;
  /** Aggregation window of the loaders in ms; default 1000. */
  windowMs?: number;
  /** Sampled route records: 1 in N besides the first of each decision per window; default 64. */
  sampleEvery?: number;
  /** How long a loader may take to load and attach; default 15 s. */
  readyTimeoutMs?: number;
}

/** Whether probes run, why not when they do not, and which loaders are attached. */
export interface ProbeStatus {
  enabled: boolean;
  reason?: string;
  probes: string[];
  /** The fidelity the running loaders were started at. */
  fidelity?: ProbeFidelity;
}

/** What one loader did, from its final "end" record (or its exit when it had none). */
export interface LoaderReport {
  exitCode: number | null;
  signal: string | null;
  /** Records the loader reported lost (ring buffer full, aggregation map full). */
  lostEvents: number;
  /** User + system CPU of the loader process (BPF program time is not in here). */
  cpuSeconds: number;
  linesParsed: number;
  malformedLines: number;
  /** Per BPF program: run count and ns while the kernel's run-time statistics were on (statsOnSeconds of the run). */
  progs?: Record<string, { id: number; run_cnt: number; run_ns: number }>;
  /** Whether the kernel counted the programs' run time (bpf_enable_stats succeeded). */
  bpfStats?: boolean;
  /** Seconds the run-time statistics were on, and their 1/N of every window (1: the whole run). */
  statsOnSeconds?: number;
  statsEvery?: number;
  /** Seconds from attach to the end record, and the machine's online CPUs then. */
  wallS?: number;
  /** The loader's CPU seconds since attach (cpuSeconds less its start-up). */
  cpuRunSeconds?: number;
  ncpu?: number;
  fidelity?: ProbeFidelity;
  /** pktlat: pairs given up as stale, and queue entries overwritten before their receive. */
  stale?: number;
  overwritten?: number;
  /** pktlat: the latest its kernel window timer fired after a window boundary, µs (docs/probes.md). */
  windowLateUs?: number;
  /** Set when the loader died without its end record. */
  incomplete?: boolean;
}

/** Returned by stop(): totals over all loaders and each loader's own report. */
export interface ProbeStopReport {
  lostEvents: number;
  cpuSeconds: number;
  linesParsed: number;
  malformedLines: number;
  loaders: Record<string, LoaderReport>;
}

/** A running set of loaders. stop() is idempotent and resolves once every loader has exited. */
export interface ProbeHandle {
  status: ProbeStatus;
  stop(): Promise<ProbeStopReport>;
}

// ---- NDJSON records the loaders print (docs/probes.md). Kernel times are CLOCK_MONOTONIC ns. ----

/** First record of every loader: a back-to-back pair of the two clocks, to map kernel time once. */
export interface ClockRecord {
  t: 'clock';
  probe: string;
  pid: number;
  mono_ns: number;
  realtime_ms: number;
  err_ns: number;
  window_ns: number;
  t0_ns: number;
  hist: 'loglin3';
}

/** Programs attached and filter maps filled: the loader is measuring. */
export interface ReadyRecord {
  t: 'ready';
  probe: string;
  progs: string[];
  /** Kernel ids of the programs and maps (what must be gone once the loader has exited). */
  prog_ids: number[];
  map_ids: number[];
  filter: { ifaces: string[]; ports: number[]; cidrs: string[] };
}

/** The loader could not start (or failed while running); it exits non-zero after this. */
export interface ErrorRecord {
  t: 'error';
  probe: string;
  msg: string;
}

/** A counter aggregated in the kernel over the window [w, w+d). */
export interface CountRecord {
  t: 'count';
  probe: string;
  m: string;
  w: number;
  d: number;
  tags: Record<string, string>;
  v: number;
}

/** A log-linear histogram over the window: `b` is flat [slot, count, slot, count, ...]. */
export interface HistRecord {
  t: 'hist';
  probe: string;
  m: string;
  w: number;
  d: number;
  tags: Record<string, string>;
  n: number;
  sum: number;
  b: number[];
}

/** One IPv4 routing decision counted over the window. */
export interface RouteRecord {
  t: 'route';
  probe: string;
  w: number;
  d: number;
  table: number;
  src: string;
  dst: string;
  gw: string;
  oif: string;
  err: number;
  proto: number;
  n: number;
}

/** A sampled individual routing lookup. */
export interface RouteSampleRecord {
  t: 'route_sample';
  probe: string;
  ts: number;
  table: number;
  src: string;
  dst: string;
  gw: string;
  oif: string;
  oif_index: number;
  flow_oif: number;
  flow_iif: number;
  err: number;
  proto: number;
  sport: number;
  dport: number;
  first: boolean;
}

/** A TCP connection: closed, failed (never established) or still open when the loader stopped. */
export interface ConnRecord {
  t: 'conn';
  probe: string;
  ts: number;
  start: number;
  est: number | null;
  end: number;
  side: 'client' | 'server';
  laddr: string;
  lport: number;
  raddr: string;
  rport: number;
  state: 'closed' | 'failed' | 'open';
  from: string;
}

/**
 * pktlat, per window: the 1 in N it timed (`every`; 1 at full fidelity), the pairs it timed, and the
 * packets it counted as queued (tx) on the filter's interfaces.
 */
export interface SamplingRecord {
  t: 'sampling';
  probe: string;
  w: number;
  d: number;
  every: number;
  timed: number;
  packets: number;
}

/** Records lost since the previous lost record (ring buffer or aggregation map full). */
export interface LostRecord {
  t: 'lost';
  probe: string;
  what: 'ringbuf' | 'map_full';
  ts: number;
  n: number;
  total: number;
}

/** Last record: totals for the loader's life. */
export interface EndRecord {
  t: 'end';
  probe: string;
  ts: number;
  cpu_s: number;
  lines: number;
  lost: { ringbuf: number; map_full: number };
  /** pktlat: entries met at receive that were too old or another packet's. */
  stale?: number;
  /** pktlat: queue entries within max_age replaced before their receive (a pair lost). */
  overwritten?: number;
  /** pktlat: the latest the window timer fired after a boundary, µs. */
  win_late_us?: number;
  /** Runs and run time while the run-time statistics were on: stats_on_s seconds, 1/stats_every of every window (and as long from attach). */
  progs?: Record<string, { id: number; run_cnt: number; run_ns: number }>;
  /** Whether run-time statistics were on (so run_ns counts), the seconds since attach, the online CPUs. */
  bpf_stats?: boolean;
  stats_on_s?: number;
  stats_every?: number;
  wall_s?: number;
  ncpu?: number;
  /** CPU seconds since attach (cpu_s less the start-up: loading and verifying the programs). */
  cpu_run_s?: number;
  /** pktlat, tcpwatch: the fidelity they ran at. */
  fidelity?: ProbeFidelity;
}

export type ProbeRecord =
  | ClockRecord
  | ReadyRecord
  | ErrorRecord
  | CountRecord
  | HistRecord
  | RouteRecord
  | RouteSampleRecord
  | ConnRecord
  | SamplingRecord
  | LostRecord
  | EndRecord;

export type ProbeRecordType = ProbeRecord['t'];
