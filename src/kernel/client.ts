import { spawn, type ChildProcess } from 'node:child_process';
import { now } from '../core/clock.ts';
import { monoToEpochMs } from './mapper.ts';
import { LineSplitter } from './ndjson.ts';
import type { ClockRecord } from './types.ts';

/** What every loader of bpf/ prints: one NDJSON record a line, named by `t` (docs/probes.md, docs/cluster.md). */
export type LoaderLine = { t: string };

/** The ready record among a loader's records (the record type itself when it does not name one). */
export type ReadyOf<R extends LoaderLine> = [Extract<R, { t: 'ready' }>] extends [never] ? R : Extract<R, { t: 'ready' }>;

/** How a loader's start ended: its ready record, or why it never came (its error record, its exit, the timeout). */
export type ReadyOutcome<R extends LoaderLine> = { ok: true; record: ReadyOf<R> } | { ok: false; reason: string };

/** How to run one loader. */
export interface LoaderClientOptions<R extends LoaderLine> {
  /** argv[0] is the program. */
  argv: string[];
  env?: NodeJS.ProcessEnv;
  /** The loader reads commands on stdin (else stdin is /dev/null). */
  commands?: boolean;
  /** One stdout line to a record; undefined for a malformed line (counted, dropped). */
  parse(line: string): R | undefined;
  /** Every record, in order, after the client has looked at it. */
  onRecord(r: R): void;
  /** The process is gone (its stdout and stderr are closed). */
  onClose?(code: number | null, signal: NodeJS.Signals | null): void;
}

/**
 * One loader process of bpf/, whichever it is: spawned, its stdout parsed record by record, its
 * stderr kept for messages, its clock record kept to put kernel times on the run's time base, and
 * stopped by closing stdin, SIGTERM, then SIGKILL. The process owns every BPF link it makes:
 * when it exits, for whatever reason, nothing stays attached.
 */
export class LoaderClient<R extends LoaderLine> {
  readonly child: ChildProcess;
  /** Resolves once the process has exited and its output is read. */
  readonly closed: Promise<void>;
  lines = 0;
  malformed = 0;
  /** The loader's clock-sync record: CLOCK_MONOTONIC and CLOCK_REALTIME read back to back. */
  clock?: ClockRecord;
  exit?: { code: number | null; signal: NodeJS.Signals | null };
  /** The message of the loader's error record, or why it could not be started. */
  errorMsg?: string;
  stopping = false;
  private stderrLines: string[] = [];
  private stderrPartial = '';
  private outcome?: ReadyOutcome<R>;
  private readyWaiter?: (o: ReadyOutcome<R>) => void;

  constructor(private readonly opts: LoaderClientOptions<R>) {
    const [program, ...args] = opts.argv;
    this.child = spawn(program, args, { stdio: [opts.commands ? 'pipe' : 'ignore', 'pipe', 'pipe'], env: opts.env });
    this.child.stdin?.on('error', () => {});
    const splitter = new LineSplitter((line) => this.onLine(line));
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: string) => splitter.push(chunk));
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (chunk: string) => this.onStderr(chunk));
    this.closed = new Promise((resolve) => {
      this.child.on('error', (err) => {
        this.errorMsg ??= `cannot start ${program}: ${err.message}`;
        this.exit ??= { code: null, signal: null };
        this.settle({ ok: false, reason: this.errorMsg });
        resolve();
      });
      this.child.on('close', (code, signal) => {
        splitter.end();
        this.exit = { code, signal };
        this.settle({ ok: false, reason: this.errorMsg ?? `exited (${this.exitText()}) before attaching${this.stderrHint()}` });
        opts.onClose?.(code, signal);
        resolve();
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** A CLOCK_MONOTONIC ns time of the loader on the run's epoch-ms base (arrival time before the clock record). */
  time(monoNs: number): number {
    return this.clock ? monoToEpochMs(this.clock, monoNs) : now();
  }

  /** "code N" or the signal that ended the process. */
  exitText(): string {
    return this.exit?.signal ?? `code ${this.exit?.code}`;
  }

  /** The last n lines the loader wrote on stderr (libbpf's and the kernel verifier's messages). */
  stderr(n: number): string[] {
    return this.stderrLines.slice(-n);
  }

  /** Resolves when the loader attached (its ready record), refused, exited or took longer than timeoutMs (then it is killed). */
  ready(timeoutMs: number): Promise<ReadyOutcome<R>> {
    if (this.outcome) return Promise.resolve(this.outcome);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        this.settle({ ok: false, reason: `did not attach within ${Math.round(timeoutMs / 1000)} s` });
      }, timeoutMs);
      this.readyWaiter = (o) => {
        clearTimeout(timer);
        resolve(o);
      };
    });
  }

  /** Writes one line on the loader's stdin (a loader started with `commands`). */
  write(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  /** Closes stdin, sends SIGTERM after termAfterMs and SIGKILL after killAfterMs; resolves once the loader has exited. */
  async stop(termAfterMs: number, killAfterMs: number): Promise<void> {
    this.stopping = true;
    if (this.exit) return;
    this.child.stdin?.end();
    const term = setTimeout(() => this.child.kill('SIGTERM'), termAfterMs);
    const kill = setTimeout(() => this.child.kill('SIGKILL'), killAfterMs);
    await this.closed;
    clearTimeout(term);
    clearTimeout(kill);
  }

  private onLine(line: string): void {
    this.lines++;
    const r = this.opts.parse(line);
    if (!r) {
      this.malformed++;
      return;
    }
    if (r.t === 'clock') this.clock ??= r as unknown as ClockRecord;
    else if (r.t === 'ready') this.settle({ ok: true, record: r as ReadyOf<R> });
    else if (r.t === 'error') {
      this.errorMsg = String((r as unknown as { msg: unknown }).msg);
      this.settle({ ok: false, reason: this.errorMsg });
    }
    this.opts.onRecord(r);
  }

  private onStderr(chunk: string): void {
    const parts = (this.stderrPartial + chunk).split('\n');
    this.stderrPartial = parts.pop()!.slice(-4096);
    for (const l of parts) if (l.trim()) this.stderrLines.push(l);
    if (this.stderrLines.length > 40) this.stderrLines.splice(0, this.stderrLines.length - 40);
  }

  private stderrHint(): string {
    const last = this.stderr(1)[0] ?? this.stderrPartial.trim();
    return last ? `: ${last}` : '';
  }

  private settle(o: ReadyOutcome<R>): void {
    if (this.outcome) return;
    this.outcome = o;
    const fn = this.readyWaiter;
    this.readyWaiter = undefined;
    fn?.(o);
  }
}
