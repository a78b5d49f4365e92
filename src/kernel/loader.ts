import { spawn, type ChildProcess } from 'node:child_process';
import type { Sink } from '../core/types.ts';
import { ProbeRecordMapper } from './mapper.ts';
import { LineSplitter, parseProbeLine } from './ndjson.ts';
import type { LoaderReport, ProbeRecord } from './types.ts';

/** How a loader's start ended: measuring, refused (its error record or exit), or timed out. */
export type ReadyOutcome = { ok: true; progs: string[] } | { ok: false; reason: string };

/**
 * One loader process: spawned with its arguments, its stdout parsed line by line into the sink.
 * The process owns every BPF link it makes; killing it detaches everything.
 */
export class LoaderProcess {
  readonly child: ChildProcess;
  readonly mapper: ProbeRecordMapper;
  private lines = 0;
  private malformed = 0;
  private stderrTail = '';
  private end?: Extract<ProbeRecord, { t: 'end' }>;
  private lostSeen = 0;
  private errorMsg?: string;
  private readyResolve?: (o: ReadyOutcome) => void;
  private exitInfo?: { code: number | null; signal: string | null };
  private stopping = false;
  readonly closed: Promise<void>;

  constructor(
    readonly name: string,
    path: string,
    args: string[],
    sink: Sink,
    private readonly onUnexpectedExit: (name: string, why: string) => void,
  ) {
    this.mapper = new ProbeRecordMapper(sink, name);
    this.child = spawn(path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const splitter = new LineSplitter((line) => this.onLine(line));
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: string) => splitter.push(chunk));
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-4096);
    });
    this.closed = new Promise((resolve) => {
      this.child.on('error', (err) => {
        this.errorMsg ??= `cannot start ${path}: ${err.message}`;
        this.exitInfo ??= { code: null, signal: null };
        this.settleReady({ ok: false, reason: this.errorMsg });
        resolve();
      });
      this.child.on('close', (code, signal) => {
        splitter.end();
        this.exitInfo = { code, signal };
        const why = this.errorMsg ?? `exited (${signal ?? `code ${code}`}) before attaching${this.stderrHint()}`;
        this.settleReady({ ok: false, reason: why });
        if (!this.end && !this.stopping) this.onUnexpectedExit(name, this.errorMsg ?? `exited (${signal ?? `code ${code}`})`);
        resolve();
      });
    });
  }

  private onLine(line: string): void {
    this.lines++;
    const r = parseProbeLine(line);
    if (!r) {
      this.malformed++;
      return;
    }
    if (r.t === 'ready') this.settleReady({ ok: true, progs: r.progs });
    else if (r.t === 'error') {
      this.errorMsg = r.msg;
      this.settleReady({ ok: false, reason: r.msg });
    } else if (r.t === 'end') this.end = r;
    else if (r.t === 'lost') this.lostSeen += r.n;
    this.mapper.handle(r);
  }

  private stderrHint(): string {
    const last = this.stderrTail.trim().split('\n').filter(Boolean).pop();
    return last ? `: ${last}` : '';
  }

  private settleReady(o: ReadyOutcome): void {
    const fn = this.readyResolve;
    this.readyResolve = undefined;
    fn?.(o);
  }

  /** Resolves when the loader attached, refused, exited or took longer than timeoutMs. */
  ready(timeoutMs: number): Promise<ReadyOutcome> {
    if (this.exitInfo) return Promise.resolve({ ok: false, reason: this.errorMsg ?? 'exited before attaching' });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.readyResolve = undefined;
        this.child.kill('SIGKILL');
        resolve({ ok: false, reason: `did not attach within ${Math.round(timeoutMs / 1000)} s` });
      }, timeoutMs);
      this.readyResolve = (o) => {
        clearTimeout(timer);
        resolve(o);
      };
    });
  }

  /** SIGTERM, then SIGKILL after graceMs; resolves with the loader's report once it has exited. */
  async stop(graceMs = 5000): Promise<LoaderReport> {
    this.stopping = true;
    if (!this.exitInfo) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
      await this.closed;
      clearTimeout(timer);
    }
    return this.report();
  }

  report(): LoaderReport {
    const e = this.end;
    return {
      exitCode: this.exitInfo?.code ?? null,
      signal: this.exitInfo?.signal ?? null,
      lostEvents: e ? Math.max(this.lostSeen, e.lost.ringbuf + e.lost.map_full) : this.lostSeen,
      cpuSeconds: e?.cpu_s ?? 0,
      linesParsed: this.lines - this.malformed,
      malformedLines: this.malformed,
      ...(e?.progs ? { progs: e.progs } : {}),
      ...(e ? {} : { incomplete: true }),
    };
  }
}
