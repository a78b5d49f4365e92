import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { now } from '../../core/clock.ts';
import { LoadscopeError } from '../../core/errors.ts';
import { withDeathSignal } from '../../core/pdeathsig.ts';
import type { PlannedStage, Sink } from '../../core/types.ts';
import type { EngineSummary, LatencyBasis, LoadEngine, LoadPlan } from '../types.ts';
import { K6Collector, type StageMap } from './collector.ts';
import { blacklistFor } from './guard.ts';
import { inspectScript, type K6ScenarioInfo } from './inspect.ts';
import { locateK6, type K6Binary, type LocateOptions } from './locate.ts';
import { endNotices } from '../notices.ts';
import { RemoteWriteReceiver } from './receiver.ts';
import { generateScript, type GeneratedScript } from './script.ts';
import { mergeChecks, readSummaryExport, type K6Summary } from './summary.ts';

// The k6 engine: runs the real, stock k6 (one process, or several splitting the load with k6's own
// execution segments) and folds what k6 aggregates in-process into the run's windows while k6 runs.
//
// Results: each k6 process pushes its metrics with k6's built-in Prometheus remote-write output
// (`-o experimental-prometheus-rw`, trends as native histograms, every PUSH_MS) to a receiver on
// 127.0.0.1 (receiver.ts), each to its own path (/write/<index>) with the run's bearer token. The
// receiver turns k6's cumulative series into per-push deltas and one K6Collector folds the deltas
// of every process into shared windows (collector.ts), so the processes merge exactly. Windows are
// emitted WINDOW_LAG_MS after they end. k6 writes no per-request output.
//
// Stages: a generated script's setup() adds 1 to the loadscope_start counter right before k6 starts
// its scenarios; stage.start/stage.end are scheduled from that sample's time at the planned offsets. A user script
// (`script:`) has one stage per k6 scenario, named after it: a stage starts where the span of its
// first pushed requests begins and ends at its last response. Name the scenario's YAML stages after the script's k6
// scenarios (a script with plain vus/duration has one scenario, "default") so results.json's stages
// line up; samples without a scenario tag (setup/teardown requests) go to stage "k6".
//
// Outcome: exit 0 and 99 (k6's thresholds crossed) are normal ends — loadscope's own verdict is
// computed on the merged journal data; any other exit is LoadscopeError('ENGINE') with k6's stderr.

/** k6's push interval (k6 hands samples to outputs every 50 ms): a request lands about half a push from its window at most (collector.ts). */
export const PUSH_MS = 100;
/** Windows are emitted this long after they end, so every process's push of them has arrived. */
const WINDOW_LAG_MS = 1500;
/** After an abort (SIGINT, k6 stops gracefully) k6 gets this long before SIGKILL. */
const KILL_AFTER_MS = 15_000;
const STDERR_KEEP = 200;
const CLK_TCK = 100;

/** k6 exit codes (errext/exitcodes). */
const EXIT_CODES: Record<number, string> = {
  97: 'cloud test run failed',
  98: 'cloud failed to get progress',
  99: 'thresholds crossed',
  100: 'setup timeout',
  101: 'teardown timeout',
  102: 'generic timeout',
  103: 'generic engine error',
  104: 'invalid configuration',
  105: 'aborted by signal',
  106: 'cannot start the REST API',
  107: 'script exception',
  108: 'script aborted (test.abort())',
  109: 'Go panic',
  110: 'test marked as failed (test.fail())',
  255: 'error',
};

/**
 * Latency basis for arrival-rate stages. k6 measures from the actual send and does no coordinated-
 * omission correction; it never queues a late arrival either: it drops it (dropped_iterations, in
 * `dropped`). Pending a member of its own in LatencyBasis (types.ts).
 */
export const K6_OPEN_BASIS: LatencyBasis = 'actual-send (open model, k6: late arrivals dropped, not queued; no CO correction)';

/** How the k6 engine runs: how many k6 processes share the load, and where k6 is. */
export interface K6EngineOptions {
  /** k6 processes splitting the load by execution segment; default $LOADSCOPE_K6_INSTANCES or 1. */
  instances?: number;
  /**
   * Per-request detail: each k6 process also writes `--out json` (every sample, ~14 lines per
   * request) to k6-requests.json (k6-requests-<i>.json) in the run directory. Costs k6 most of its
   * speed; default $LOADSCOPE_K6_REQUEST_LOG=1 or off.
   */
  requestLog?: boolean;
  /** k6's remote-write push interval in ms; default PUSH_MS. */
  pushMs?: number;
  locate?: LocateOptions;
}

interface Instance {
  index: number;
  /** Its remote-write sender id (the path it writes to). */
  sender: string;
  segment?: string;
  child: ChildProcess;
  summaryPath: string;
  logPath: string;
  stderr: string[];
  errors: string[];
  requestFailedLogs: number;
  cpuSeconds: number;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError?: Error }>;
}

/** The k6 engine. Each run needs a fresh engine (engines.ts makes one per run). */
export class K6Engine implements LoadEngine {
  readonly name = 'k6';
  private instances: Instance[] = [];
  private collector?: K6Collector;
  private receiver?: RemoteWriteReceiver;

  constructor(private readonly opts: K6EngineOptions = {}) {}

  async run(plan: LoadPlan, signal: AbortSignal): Promise<EngineSummary> {
    const count = checkInstances(this.opts.instances ?? instancesFromEnv());
    const k6 = await locateK6(this.opts.locate);
    mkdirSync(plan.workDir, { recursive: true });
    const env = { ...process.env, K6_NO_USAGE_REPORT: 'true' };
    const envArgs = ['-e', `LOADSCOPE_BASE_URL=${plan.baseUrl}`, '-e', `BASE_URL=${plan.baseUrl}`];

    let script: string;
    let gen: GeneratedScript | undefined;
    let userScenarios: K6ScenarioInfo[] | undefined;
    let stageMap: StageMap;
    if (plan.script === undefined) {
      gen = generateScript(plan);
      script = join(plan.workDir, 'k6-script.js');
      writeFileSync(script, gen.source);
      const spans = gen.spans;
      const open = new Set(plan.stages.filter((s) => s.model === 'open').map((s) => s.name));
      stageMap = {
        stageOf: (tags) => tags.stage ?? spans[tags.scenario]?.[0][1] ?? tags.scenario ?? 'k6',
        isOpen: (stage) => open.has(stage),
      };
    } else {
      script = resolve(plan.script);
      if (!existsSync(script)) {
        throw new LoadscopeError('FILE_NOT_FOUND', `k6 script ${plan.script} not found (resolved to ${script})`, { hint: 'give `script:` as a path to a k6 script (absolute, or relative to the working directory)' });
      }
      userScenarios = await inspectScript(k6.path, script, { cwd: plan.workDir, env, args: envArgs });
      const open = new Set((userScenarios ?? []).filter((s) => s.model === 'open').map((s) => s.name));
      stageMap = { stageOf: (tags) => tags.scenario ?? 'k6', isOpen: (stage) => open.has(stage) };
    }

    const blacklist = await blacklistFor(plan.baseUrl);
    const clockOffset = now() - Date.now();
    const schedule = gen ? new StageSchedule(plan.stages, plan.sink, gen) : undefined;
    const userStages = new Map<string, number>();
    const onFirst = gen
      ? undefined
      : (stage: string, time: number) => {
          if (userStages.has(stage)) return;
          userStages.set(stage, time);
          const info = userScenarios?.find((s) => s.name === stage);
          plan.sink.event({ kind: 'stage.start', time, source: 'load', attrs: { stage, model: info?.model ?? 'closed', ...(info?.model === 'open' ? { rate: info.rate, connections: info.vus } : { connections: info?.vus }), k6: { scenario: stage, executor: info?.executor } } });
        };

    const pushMs = this.opts.pushMs ?? PUSH_MS;
    const collector = new K6Collector(plan.sink, plan.runStart, stageMap, clockOffset, pushMs, onFirst, (t) => schedule?.begin(t));
    const receiver = new RemoteWriteReceiver((d) => collector.delta(d));
    this.collector = collector;
    this.receiver = receiver;
    await receiver.start();
    const lag = setInterval(() => collector.flush(now() - WINDOW_LAG_MS), 250);
    lag.unref();

    const sequence = Array.from({ length: count + 1 }, (_, i) => fraction(i, count)).join(',');
    let cancelling = false;
    const cancelAll = () => {
      cancelling = true;
      for (const inst of this.instances) if (inst.child.exitCode === null && inst.child.signalCode === null) stop(inst.child);
    };
    const onAbort = () => cancelAll();
    signal.addEventListener('abort', onAbort, { once: true });

    try {
      for (let index = 0; index < count; index++) {
        const segment = count > 1 ? `${fraction(index, count)}:${fraction(index + 1, count)}` : undefined;
        const sender = String(index);
        const summaryPath = join(plan.workDir, count > 1 ? `k6-summary-${index}.json` : 'k6-summary.json');
        const logPath = join(plan.workDir, count > 1 ? `k6-${index}.log` : 'k6.log');
        const requestLog = (this.opts.requestLog ?? process.env.LOADSCOPE_K6_REQUEST_LOG === '1') ? ['--out', `json=${join(plan.workDir, count > 1 ? `k6-requests-${index}.json` : 'k6-requests.json')}`] : [];
        const args = [
          'run', '--no-usage-report', '--quiet', '--address', '', '--log-format', 'json',
          '--out', 'experimental-prometheus-rw', ...requestLog, '--summary-export', summaryPath,
          '--blacklist-ip', blacklist.join(','),
          ...envArgs,
          ...(segment ? ['--execution-segment', segment, '--execution-segment-sequence', sequence] : []),
          script,
        ];
        const rwEnv = {
          K6_PROMETHEUS_RW_SERVER_URL: receiver.urlFor(sender),
          K6_PROMETHEUS_RW_BEARER_TOKEN: receiver.token,
          K6_PROMETHEUS_RW_PUSH_INTERVAL: `${pushMs}ms`,
          K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM: 'true',
          // at its end k6 sends every series once more (a stale marker): its histograms' final state
          K6_PROMETHEUS_RW_STALE_MARKERS: 'true',
        };
        // A loadscope killed outright (SIGKILL, OOM) takes its k6 processes with it (src/core/pdeathsig.ts).
        const [file, argv] = withDeathSignal(k6.path, args);
        collector.started(sender, now());
        const child = spawn(file, argv, { cwd: plan.workDir, env: { ...env, ...rwEnv }, stdio: ['ignore', 'ignore', 'pipe'] });
        const inst: Instance = {
          index, sender, segment, child, summaryPath, logPath,
          stderr: [], errors: [], requestFailedLogs: 0, cpuSeconds: 0,
          exit: new Promise((res) => {
            child.once('error', (spawnError) => res({ code: null, signal: null, spawnError }));
            child.once('close', (code, sig) => res({ code, signal: sig }));
          }),
        };
        this.watchStderr(inst);
        watchCpu(inst);
        this.instances.push(inst);
        void inst.exit.then((e) => {
          if (!cancelling && !okExit(e, signal.aborted)) cancelAll();
        });
      }
      if (signal.aborted) cancelAll();
      // k6 posts its last push (and waits for our answer) before it exits: after the exits, every delta is in
      const exits = await Promise.all(this.instances.map((i) => i.exit));

      const ended = now();
      const truncated = signal.aborted || exits.some((e) => !okExit(e, signal.aborted));
      schedule?.finish(truncated);
      if (!gen) emitUserStageEnds(plan.sink, collector, userStages);
      clearInterval(lag);
      collector.flush(Infinity);
      const dropped = [...collector.senders.values()].reduce((a, t) => a + t.dropped, 0);
      for (const n of endNotices({ totals: collector.kinds, runStart: plan.runStart, requestTimeoutMs: gen ? plan.requestTimeoutMs : undefined, dropped, droppedWhy: 'k6 found no free VU for them (its dropped_iterations)', conn: true, coarse: true })) {
        plan.sink.event({ kind: 'load.notice', time: ended, source: 'load', attrs: { notice: n.notice, message: n.message } });
      }

      const summaries = this.instances.map((i) => readSummaryExport(i.summaryPath));
      this.instances.forEach((inst, k) => {
        writeFileSync(inst.logPath, inst.stderr.join('\n') + (inst.stderr.length ? '\n' : ''));
        plan.sink.event({ kind: 'k6.summary', time: now(), source: 'load', attrs: instanceAttrs(inst, exits[k], summaries[k], count) });
      });

      const failed = exits.findIndex((e) => !okExit(e, signal.aborted) && !(cancelling && isCancelled(e)));
      if (failed !== -1) throw engineError(this.instances[failed], exits[failed], k6);
      return this.summary(plan, k6, script, gen, userScenarios, exits, summaries, count);
    } finally {
      signal.removeEventListener('abort', onAbort);
      clearInterval(lag);
      schedule?.finish(true);
      for (const inst of this.instances) if (inst.child.exitCode === null && inst.child.signalCode === null) inst.child.kill('SIGKILL');
      await receiver.stop();
    }
  }

  private summary(
    plan: LoadPlan,
    k6: K6Binary,
    script: string,
    gen: GeneratedScript | undefined,
    userScenarios: K6ScenarioInfo[] | undefined,
    exits: { code: number | null }[],
    summaries: (K6Summary | undefined)[],
    count: number,
  ): EngineSummary {
    let responses = 0;
    let failures = 0;
    let sent = 0;
    let dropped = 0;
    let vusMax = 0;
    for (const [k, i] of this.instances.entries()) {
      const t = this.collector!.totals(i.sender);
      responses += t.responses;
      failures += t.failures;
      sent += t.sent;
      dropped += t.dropped;
      vusMax += summaries[k]?.metrics.vus_max?.max ?? summaries[k]?.metrics.vus_max?.value ?? 0;
    }
    const models = new Set<string>(gen ? plan.stages.map((s) => s.model) : (userScenarios ?? []).map((s) => s.model));
    const basis: LatencyBasis = models.size > 1 ? 'mixed' : models.has('open') ? K6_OPEN_BASIS : 'actual-send (closed model, not corrected)';
    return {
      engine: this.name,
      requestsSent: gen ? sent : responses + failures,
      responses,
      errors: failures,
      inFlightAtCutoff: gen ? Math.max(0, sent - responses - failures) : 0,
      dropped,
      latencyBasis: basis,
      connectionsMax: vusMax,
      extra: {
        k6: {
          version: k6.version,
          binary: k6.path,
          script: gen ? 'generated' : script,
          scriptFile: script,
          instances: count,
          ...(count > 1 ? { executionSegments: this.instances.map((i) => i.segment) } : {}),
          exitCodes: exits.map((e) => e.code),
          thresholds: summaries.flatMap((s, k) => (s?.thresholds ?? []).map((t) => ({ instance: k, ...t }))),
          thresholdsNote: count > 1
            ? 'k6 judged each process on its own share; loadscope\'s verdict (results.thresholds) is computed on the merged data'
            : 'k6\'s own verdict; loadscope\'s verdict (results.thresholds) is computed from the journal',
          skippedThresholds: gen?.skippedThresholds ?? [],
          checks: mergeChecks(summaries.map((s) => s?.checks ?? [])),
          droppedIterations: dropped,
          inFlightNote: gen ? 'requests sent (loadscope_sent) minus responses and failures' : 'not measured for a user script (k6 reports no request starts)',
          cpuSeconds: this.instances.map((i) => round(i.cpuSeconds, 2)),
          ...(userScenarios ? { scenarios: userScenarios } : {}),
          summaries: summaries.map((s) => s?.metrics ?? null),
          remoteWrite: {
            pushIntervalMs: this.opts.pushMs ?? PUSH_MS,
            ...this.receiver!.stats,
            // the cross-check: requests in the windows against k6's own summary (differ only if pushes were lost)
            windowRequests: responses + failures,
            k6SummaryRequests: summaries.some((s) => !s) ? null : summaries.reduce((a, s) => a + (s!.metrics.http_reqs?.count ?? 0), 0),
          },
        },
      },
    };
  }

  private watchStderr(inst: Instance): void {
    const rl = createInterface({ input: inst.child.stderr! });
    rl.on('line', (line) => {
      let rec: Record<string, unknown> | undefined;
      if (line.startsWith('{')) {
        try {
          rec = JSON.parse(line) as Record<string, unknown>;
        } catch {
          rec = undefined;
        }
      }
      let text = line;
      if (rec && typeof rec.msg === 'string') {
        const msg = rec.msg;
        if (msg === 'Request Failed') {
          inst.requestFailedLogs++;
          return;
        }
        const extra = Object.entries(rec)
          .filter(([k]) => k !== 'msg' && k !== 'level' && k !== 'time')
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ');
        text = `${String(rec.level ?? 'info')}: ${msg}${extra ? ` (${extra})` : ''}`;
        if (rec.level === 'error' || rec.level === 'fatal' || rec.level === 'panic') keep(inst.errors, text, 20);
      }
      keep(inst.stderr, text, STDERR_KEEP);
    });
  }
}

/** Stage events for a generated script: scheduled from k6's start at the planned offsets. */
class StageSchedule {
  private t0?: number;
  private timers: NodeJS.Timeout[] = [];
  private started = new Set<string>();
  private ended = new Set<string>();
  private done = false;

  constructor(private readonly stages: PlannedStage[], private readonly sink: Sink, private readonly gen: GeneratedScript) {}

  /** k6 started its scenarios at `t0` (run time base); the first process to report wins. */
  begin(t0: number): void {
    if (this.t0 !== undefined || this.done) return;
    this.t0 = t0;
    for (const s of this.stages) {
      this.at(t0 + s.startMs, () => this.start(s));
      this.at(t0 + s.startMs + s.durationMs, () => this.end(s, t0 + s.startMs + s.durationMs));
    }
  }

  /** k6 is done: emit what is left; a truncated run ends the running stage now and starts no other. */
  finish(truncated: boolean): void {
    if (this.done) return;
    this.done = true;
    for (const t of this.timers) clearTimeout(t);
    if (this.t0 === undefined) return;
    const t = now();
    for (const s of this.stages) {
      const start = this.t0 + s.startMs;
      const end = start + s.durationMs;
      if (truncated && start > t) break;
      this.start(s);
      this.end(s, truncated ? Math.min(end, t) : end);
    }
  }

  private at(time: number, fn: () => void): void {
    const delay = time - now();
    if (delay <= 0) fn();
    else this.timers.push(setTimeout(fn, delay));
  }

  private start(s: PlannedStage): void {
    if (this.started.has(s.name)) return;
    this.started.add(s.name);
    const scenario = Object.entries(this.gen.spans).find(([, sp]) => sp.some(([, name]) => name === s.name))?.[0];
    const executor = scenario ? this.gen.options.scenarios[scenario]?.executor : undefined;
    this.sink.event({ kind: 'stage.start', time: this.t0! + s.startMs, source: 'load', attrs: { stage: s.name, model: s.model, connections: s.connections, rate: s.rate, k6: { scenario, executor } } });
  }

  private end(s: PlannedStage, time: number): void {
    if (this.ended.has(s.name) || !this.started.has(s.name)) return;
    this.ended.add(s.name);
    this.sink.event({ kind: 'stage.end', time, source: 'load', attrs: { stage: s.name } });
  }
}

/** User script: each k6 scenario's stage ends at its last response (merged over processes), in time order. */
function emitUserStageEnds(sink: Sink, collector: K6Collector, started: Map<string, number>): void {
  const last = new Map<string, number>();
  for (const t of collector.senders.values()) for (const [stage, s] of t.spans) last.set(stage, Math.max(last.get(stage) ?? -Infinity, s.last));
  for (const [stage, time] of [...last].sort((a, b) => a[1] - b[1])) {
    if (started.has(stage)) sink.event({ kind: 'stage.end', time, source: 'load', attrs: { stage } });
  }
}

function watchCpu(inst: Instance): void {
  const pid = inst.child.pid;
  if (pid === undefined) return;
  const timer = setInterval(() => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      inst.cpuSeconds = (Number(f[11]) + Number(f[12])) / CLK_TCK;
    } catch {
      clearInterval(timer);
    }
  }, 250);
  timer.unref();
  inst.child.once('exit', () => clearInterval(timer));
}

function stop(child: ChildProcess): void {
  child.kill('SIGINT');
  const t = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }, KILL_AFTER_MS);
  t.unref();
  child.once('exit', () => clearTimeout(t));
}

function okExit(e: { code: number | null; signal: NodeJS.Signals | null; spawnError?: Error }, aborted: boolean): boolean {
  if (e.spawnError) return false;
  if (e.code === 0 || e.code === 99) return true;
  return aborted && isCancelled(e);
}

function isCancelled(e: { code: number | null; signal: NodeJS.Signals | null }): boolean {
  return e.code === 105 || e.signal !== null;
}

function engineError(inst: Instance, e: { code: number | null; signal: NodeJS.Signals | null; spawnError?: Error }, k6: K6Binary): LoadscopeError {
  if (e.spawnError) return new LoadscopeError('ENGINE', `cannot start k6 (${k6.path}): ${e.spawnError.message}`, { cause: e.spawnError, hint: 'run `npm run setup` to rebuild .tools/bin/k6' });
  const what = e.code !== null ? `exited with code ${e.code}${EXIT_CODES[e.code] ? ` (${EXIT_CODES[e.code]})` : ''}` : `was killed by ${e.signal}`;
  const lines = [...inst.errors];
  for (const l of inst.stderr.slice(-10)) if (!lines.includes(l)) lines.push(l);
  const who = inst.segment ? `k6 process ${inst.index + 1} (segment ${inst.segment})` : 'k6';
  return new LoadscopeError('ENGINE', `${who} ${what}${lines.length ? `:\n  ${lines.slice(-20).join('\n  ')}` : ' and printed nothing on stderr'}`, {
    hint: e.code === 107 || e.code === 104 ? 'fix the k6 script or its options (k6\'s message above names the line); the full k6 log is in the run directory' : `the full k6 log is in ${inst.logPath}`,
  });
}

function instanceAttrs(inst: Instance, e: { code: number | null; signal: NodeJS.Signals | null }, s: K6Summary | undefined, count: number): Record<string, unknown> {
  const crossed = (s?.thresholds ?? []).filter((t) => !t.ok).map((t) => `${t.metric} ${t.expression}`);
  const who = count > 1 ? `k6 process ${inst.index + 1}/${count}` : 'k6';
  const how = e.code !== null ? `exited ${e.code}${EXIT_CODES[e.code] ? ` (${EXIT_CODES[e.code]})` : ''}` : `killed by ${e.signal}`;
  return {
    instance: inst.index,
    ...(inst.segment ? { segment: inst.segment } : {}),
    exitCode: e.code,
    message: `${who} ${how}${crossed.length ? `; k6 thresholds crossed: ${crossed.join(', ')}` : ''}`,
    thresholds: s?.thresholds ?? [],
    checks: s?.checks ?? [],
    cpuSeconds: round(inst.cpuSeconds, 2),
    requestFailedLogs: inst.requestFailedLogs,
  };
}

function keep(list: string[], line: string, max: number): void {
  list.push(line);
  if (list.length > max) list.shift();
}

function fraction(i: number, n: number): string {
  return i === 0 ? '0' : i === n ? '1' : `${i}/${n}`;
}

function instancesFromEnv(): number {
  const text = process.env.LOADSCOPE_K6_INSTANCES;
  return text === undefined || text === '' ? 1 : Number(text);
}

function checkInstances(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > 64) {
    throw new LoadscopeError('USAGE', `${n} k6 processes asked for (LOADSCOPE_K6_INSTANCES): give a whole number from 1 to 64`, { hint: 'unset LOADSCOPE_K6_INSTANCES for one k6 process, or set e.g. LOADSCOPE_K6_INSTANCES=2' });
  }
  return n;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
