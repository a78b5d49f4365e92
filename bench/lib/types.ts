// The bench's own interfaces: a suite, what it is handed, and one line of the results table.

/** min / median / max over the repetitions, and the repetitions themselves. */
export interface Spread {
  n: number;
  min: number;
  median: number;
  max: number;
  values: number[];
}

/**
 * One figure of the results table. `compared` says what was measured against what; `spread` holds
 * the repetitions. A goal is informational: the bench states whether it is met, it never fails on it.
 */
export interface ResultLine {
  suite: string;
  name: string;
  compared: string;
  unit: string;
  spread?: Spread;
  /** e.g. ">= 0.95" or "<= 3"; `met` says how the median compares. */
  goal?: { op: '>=' | '<='; value: number };
  met?: boolean;
  note?: string;
  /** Set instead of figures when the suite (or this line) could not run. */
  skipped?: string;
}

/** Facts about the machine, printed once and stored with the results. */
export interface Machine {
  host: string;
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  node: string;
  loadAvg: number[];
  tools: Record<string, string>;
  gitRevision: string;
}

/** What a suite is handed. `line` records a figure; `log` prints progress to stderr. */
export interface BenchContext {
  quick: boolean;
  root: string;
  machine: Machine;
  /** A scratch directory removed at the end. */
  tmp: string;
  signal: AbortSignal;
  log(text: string): void;
  line(l: Omit<ResultLine, 'suite'>): void;
  skip(name: string, reason: string, compared?: string): void;
  /** The conditions every figure of this suite shares (printed once, stored with the results). */
  conditions(text: string): void;
  /** Stores raw measurements in the results file under `<suite>.<key>`. */
  raw?(key: string, value: unknown): void;
}

/** One benchmark suite (bench/suites/*.ts default-exports one). `quick` says whether --quick runs it. */
export interface Suite {
  name: string;
  description: string;
  quick: boolean;
  run(ctx: BenchContext): Promise<void>;
}
