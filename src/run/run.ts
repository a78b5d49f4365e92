import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { cpus, hostname, release, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Cluster } from '../cluster/cluster.ts';
import { clusters } from '../cluster/clusters.ts';
import { autoscalerFor, type HpaController } from '../autoscale/controller.ts';
import { resolveClusterMode } from '../cluster/local/resolve.ts';
import { balancer } from '../kernel/balancer.ts';
import { buildResult } from '../analyze/results.ts';
import { encodeWindows, WINDOWS_FILE, WindowCollector } from '../analyze/windows.ts';
import { attachShadow, buildResultFromJournal } from './rebuild.ts';
import { engines } from '../load/engines.ts';
import type { EngineSummary, LoadPlan } from '../load/types.ts';
import { now } from '../core/clock.ts';
import { LoadscopeError } from '../core/errors.ts';
import { Journal } from '../journal/journal.ts';
import type { RunResult } from '../core/result.ts';
import type { JournalRecord, PlannedStage, RunHeader } from '../core/types.ts';
import { startProbes, urlTargetFilter } from '../kernel/probes.ts';
import { startWakeGauge, type WakeGauge } from './wake-gauge.ts';
import type { ProbeHandle } from '../kernel/types.ts';
import { renderReport } from '../render/render.ts';
import type { ReportTrend } from '../render/trend.ts';
import { renderJunit } from '../render/junit.ts';
import { renderSummary } from '../render/summary.ts';
import { watchThresholds } from './abort.ts';
import type { Scenario } from '../scenario/load.ts';
import { stressName } from '../scenario/schema.ts';
import { CpuStressor } from '../stress/cpu.ts';
import type { StressPhase } from '../stress/types.ts';
import { Ledger, sweepStale } from '../core/ledger.ts';
import type { FaultablePods } from '../core/faults.ts';
import { FaultRunner } from '../faults/runner.ts';
import { KernelNetFaults } from '../kernel/faults.ts';
import { planFaults } from '../scenario/faults.ts';
import { KubernetesCluster } from '../cluster/kubernetes/cluster.ts';
import { startKubeSide, testControlPlaneOf, type KubeSide } from './kubernetes.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface RunOptions {
  outDir?: string;
  durationScale?: number;
  /** Aborting stops the run early; results and report are still written. */
  signal?: AbortSignal;
  /** Status lines for the user (service start, probes, cleanup). */
  onStatus?: (line: string) => void;
  /** Every journal record as it is written (progress display, live view). */
  onRecord?: (r: JournalRecord) => void;
}

export interface RunOutcome {
  runDir: string;
  result: RunResult;
  files: { journal: string; results: string; windows: string; report: string; junit: string; summary: string };
}

/** Runs a validated scenario end to end and writes the run directory. */
export async function runScenario(scenario: Scenario, opts: RunOptions = {}): Promise<RunOutcome> {
  const spec = scenario.spec;
  const scale = opts.durationScale ?? 1;
  const status = opts.onStatus ?? (() => {});
  // a failed abortOnFail threshold stops the run as the caller's signal would (watchThresholds)
  const thresholdStop = new AbortController();
  const signal = AbortSignal.any([opts.signal ?? new AbortController().signal, thresholdStop.signal]);
  let stopWatch = () => {};
  const runId = `${utcStamp()}-${spec.name}-${randomBytes(3).toString('hex')}`;
  const runDir = resolve(opts.outDir ?? freshDir(join(root, 'reports', 'out', `${utcStamp()}-${spec.name}`)));
  try {
    mkdirSync(runDir, { recursive: true });
  } catch (cause) {
    throw new LoadscopeError('USAGE', `cannot create the run directory ${runDir}: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`, {
      cause,
      hint: 'pass --out DIR in a directory you can write (reports/out/ belongs to the owner of the checkout)',
    });
  }
  if (existsSync(join(runDir, 'events.ndjson'))) {
    throw new LoadscopeError('USAGE', `${runDir} already holds a run (events.ndjson)`, {
      hint: 'choose another --out directory; a run never overwrites or appends to another run\'s journal',
    });
  }

  for (const line of sweepStale()) status(`cleanup: ${line}`);
  const ledger = new Ledger(runId);
  const journalPath = join(runDir, 'events.ndjson');
  const journal = new Journal(journalPath);
  if (opts.onRecord) journal.onRecord(opts.onRecord);

  const plan = planStages(spec.stages, scale);
  const stress: StressPhase[] = spec.stress.map((p, i) => ({
    name: stressName(p, i),
    startMs: p.start * scale,
    durationMs: p.duration * scale,
    cores: p.cores,
    utilization: p.utilization,
  }));
  const notices: string[] = [];
  let cluster: Cluster | undefined;
  let probes: ProbeHandle | undefined;
  let stressor: CpuStressor | undefined;
  let autoscaler: HpaController | undefined;
  let faults: FaultRunner | undefined;
  let kubeSide: KubeSide | undefined;
  let gauge: WakeGauge | undefined;
  let summary: EngineSummary | undefined;
  let outcome: 'completed' | 'interrupted' | 'failed' = 'completed';
  let failure: unknown;

  try {
    let baseUrl: string;
    let ports: number[];
    let ifaces: string[];
    let cidrs: string[];
    // whether the services run on this machine (the local cluster, or pods of loadscope's test control plane)
    let servicesHere = false;
    // mode kubernetes starts its cluster also for a target.url (deploy: false): it watches the services there
    const kube = spec.cluster.mode === 'kubernetes';
    if ('url' in spec.target && !kube) {
      baseUrl = spec.target.url;
      // the target's own addresses and the interfaces that reach them (not only lo and 127/8)
      ({ ports, ifaces, cidrs } = await urlTargetFilter(baseUrl));
      notices.push(`target ${baseUrl} was not started by loadscope: no service counters`);
    } else {
      const mode = spec.cluster.mode === 'auto' ? resolveClusterMode(notices, balancer) : spec.cluster.mode;
      // On loadscope's test control plane loadscope is the node and the metrics server (run/kubernetes.ts):
      // started before the cluster deploys, stopped after it removed its objects.
      const testCp = kube ? testControlPlaneOf(spec) : undefined;
      servicesHere = !kube || testCp !== undefined;
      if (testCp) kubeSide = await startKubeSide(spec, testCp.cp, testCp.kc, { runId, ledger, sink: journal, balancer, onStatus: status, namespace: () => (cluster instanceof KubernetesCluster ? cluster.runNamespace || undefined : undefined) });
      cluster = clusters[mode](spec, { runId, sink: journal, ledger, onStatus: status, balancer });
      const target = await cluster.start(signal);
      if (kubeSide && cluster instanceof KubernetesCluster && spec.cluster.mode === 'kubernetes' && spec.cluster.deploy) await kubeSide.ready(cluster.runNamespace, target.url, signal);
      notices.push(...cluster.notices());
      baseUrl = target.url;
      ports = [...new Set([...target.ports, ...(kubeSide?.ports() ?? [])])];
      ifaces = [...target.ifaces, ...(kubeSide?.ifaces ?? [])];
      cidrs = [...target.cidrs, ...(kubeSide?.cidrs ?? [])];
    }

    // The run's time base starts here, so the probes' 1 s windows line up with the load's.
    const runStart = now();
    // the machine's cost of a wake-up beside the load, where the services run here: what compare holds their CPU per request against
    if (servicesHere) gauge = startWakeGauge(journal, status);
    probes = await startProbes({ sink: journal, filter: { ports, ifaces, cidrs }, mode: spec.probes, signal, onStatus: status, windowOriginMs: runStart });
    if (!probes.status.enabled && (typeof spec.probes === 'string' ? spec.probes : spec.probes.mode) !== 'off') notices.push(`probes off: ${probes.status.reason}`);
    status(probes.status.enabled ? `probes on: ${probes.status.probes.join(', ')}` : `probes off: ${probes.status.reason}`);

    // In mode kubernetes the scenario's autoscaler spec was applied to the cluster as an HPA (cluster/kubernetes/manifests.ts):
    // the cluster's controller scales, its informers journal the decisions; no local controller runs beside it.
    if (kube && spec.autoscaler) {
      const { name, kind } = spec.autoscaler.scaleTargetRef;
      notices.push(`autoscaler: the scenario's HPA runs in the cluster (kube-controller-manager) on ${kind}/${name}; its status, conditions and Events are journalled with source horizontal-pod-autoscaler${kubeSide ? `; loadscope's metrics APIs scrape the pods every ${spec.autoscaler.metricResolution / 1000} s (metricResolution); syncPeriod is the control plane's` : '; syncPeriod and metricResolution apply to the local controller only'}`);
    }
    autoscaler = kube ? undefined : autoscalerFor(spec.autoscaler, cluster, journal, notices, status);
    const header: RunHeader = {
      runId,
      schemaVersion: 1,
      scenarioName: spec.name,
      scenarioFile: scenario.file,
      scenarioText: scenario.text,
      engine: spec.engine,
      startedAt: runStart,
      durationScale: scale,
      plan,
      thresholds: spec.thresholds as Record<string, string[]>,
      ...(spec.description !== undefined ? { description: spec.description } : {}),
      ...(spec.script !== undefined ? { script: spec.script } : {}),
      environment: environment(),
      notices,
    };
    stopWatch = watchThresholds(spec.thresholdAborts, journal, (reason) => {
      status(`stopping: ${reason} (abortOnFail)`);
      thresholdStop.abort(new DOMException(reason, 'AbortError'));
    });
    journal.append({ type: 'run', ...header });
    journal.event({ kind: 'probes.status', time: runStart, source: 'probes', attrs: { ...probes.status } });
    await autoscaler?.start(signal);
    stressor = new CpuStressor(stress, runStart, journal);
    await stressor.start(signal);
    if (spec.faults.length) {
      // on the test control plane the virtual node adds pause and pod wires to the cluster's pod-kill, its metrics APIs the outage
      const own = cluster && 'faultPods' in cluster ? (cluster as Cluster & FaultablePods) : undefined;
      const pods = kubeSide && cluster instanceof KubernetesCluster ? kubeSide.faults(cluster) : own;
      faults = new FaultRunner(planFaults(spec.faults, scale), { sink: journal, pods, net: new KernelNetFaults(ledger, journal), metrics: autoscaler ?? kubeSide?.metrics });
      faults.start(runStart);
      status(`faults: ${spec.faults.map((f) => `${f.name} (${f.kind} on ${f.target} at ${(f.at * scale) / 1000}s)`).join(', ')}`);
    }
    const engine = engines[spec.engine]({ pipelining: spec.pipelining });
    const loadPlan: LoadPlan = {
      baseUrl,
      requests: spec.requests,
      stages: plan,
      requestTimeoutMs: spec.requestTimeout,
      runStart,
      sink: journal,
      thresholds: spec.thresholds as Record<string, string[]>,
      script: spec.script === undefined ? undefined : resolve(dirname(resolve(scenario.file)), spec.script),
      workDir: runDir,
      ledger,
    };
    summary = await engine.run(loadPlan, signal);
    journal.event({ kind: 'engine.summary', time: now(), source: 'load', attrs: { ...summary } });
    if (signal.aborted) outcome = 'interrupted';
  } catch (err) {
    failure = err;
    outcome = signal.aborted ? 'interrupted' : 'failed';
  } finally {
    stopWatch();
    // faults first: a paused pod is continued and the wire is clean before anything else stops
    await faults?.stop();
    await stressor?.stop();
    await autoscaler?.stop();
    if (cluster) {
      await recordServiceCounters(journal, cluster, kubeSide).catch((e) => status(`service counters unavailable: ${String(e)}`));
      try {
        await cluster.stop();
      } finally {
        await kubeSide?.stop().catch((e: Error) => status(`kubernetes: ${e.message}`));
      }
    } else await kubeSide?.stop().catch((e: Error) => status(`kubernetes: ${e.message}`));
    if (probes) {
      const report = await probes.stop();
      journal.event({ kind: 'probes.stopped', time: now(), source: 'probes', attrs: { ...report } });
    }
    await gauge?.stop();
    journal.append({ type: 'end', endedAt: now(), outcome, ...(failure ? { reason: String((failure as Error).message ?? failure) } : {}) });
    journal.close();
    for (const line of ledger.close()) status(`cleanup: ${line}`);
  }
  if (failure && !(signal.aborted && isAbort(failure))) {
    if (!hasHeader(journalPath)) throw failure;
    const written = writeOutputs(runDir, journalPath);
    status(`partial results written to ${written.files.report}`);
    throw failure;
  }
  return writeOutputs(runDir, journalPath);
}

/**
 * (Re)builds results.json and report.html from a journal; the `report` command and a run both use it.
 * The journal is streamed (buildResultFromJournal), so a long run's report needs memory for its
 * windows, not for its records.
 */
export function writeOutputs(runDir: string, journalPath = join(runDir, 'events.ndjson'), records?: JournalRecord[]): RunOutcome {
  let result: RunResult;
  let header: RunHeader | undefined;
  const perWindow = new WindowCollector();
  if (records) {
    header = records.find((r) => r.type === 'run');
    if (header) {
      result = buildResult(records);
      attachShadow(result, records, header.startedAt);
      for (const r of records) perWindow.add(r);
    }
  } else ({ result, header } = buildResultFromJournal(journalPath, (r) => perWindow.add(r)));
  if (!header) throw new LoadscopeError('JOURNAL', `${journalPath}: no run header`, { hint: 'the run failed before it started; nothing was measured' });
  const results = join(runDir, 'results.json');
  const report = join(runDir, 'report.html');
  const resultsText = JSON.stringify(result!, null, 2) + '\n';
  atomicWrite(results, resultsText);
  // what `loadscope compare` resamples, so it need not read the journal again (analyze/windows.ts);
  // written after results.json, with both files' sizes: a reader uses it only beside those two
  const journalBytes = existsSync(journalPath) ? statSync(journalPath).size : 0;
  const windows = join(runDir, WINDOWS_FILE);
  atomicWrite(windows, encodeWindows({ header, journalBytes, resultsBytes: Buffer.byteLength(resultsText) }, perWindow.finish().windows));
  atomicWrite(report, renderReport(result!, header.scenarioText, { trend: readTrend(runDir) }));
  const junit = join(runDir, 'junit.xml');
  const summary = join(runDir, 'summary.md');
  atomicWrite(junit, renderJunit(result!));
  const md = renderSummary(result!);
  atomicWrite(summary, md);
  // a CI job summary (GitHub Actions): appended, as every step may add to it
  const step = process.env.GITHUB_STEP_SUMMARY;
  if (step) {
    try {
      appendFileSync(step, `${md}\n`);
    } catch (cause) {
      throw new LoadscopeError('FILE_NOT_FOUND', `cannot append summary.md to GITHUB_STEP_SUMMARY=${step}`, { cause, hint: `the run's files are written (${summary}); unset GITHUB_STEP_SUMMARY or point it at a writable file` });
    }
  }
  return { runDir, result: result!, files: { journal: journalPath, results, windows, report, junit, summary } };
}

/** The scenario's trend that `loadscope run` wrote beside the report from the history (trend.json), if any and readable. */
function readTrend(runDir: string): ReportTrend | undefined {
  try {
    const t = JSON.parse(readFileSync(join(runDir, 'trend.json'), 'utf8')) as ReportTrend;
    return Array.isArray(t?.metrics) && typeof t.runId === 'string' ? t : undefined;
  } catch {
    return undefined;
  }
}

/** True when the journal holds a run header (the run got as far as writing it; cluster events may come first). */
function hasHeader(path: string): boolean {
  try {
    const text = readFileSync(path);
    return text.indexOf('{"type":"run"') === 0 || text.indexOf('\n{"type":"run"') >= 0;
  } catch {
    return false;
  }
}

function atomicWrite(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

/** Stage plan after duration scaling, with offsets from the run start. */
export function planStages(stages: Scenario['spec']['stages'], scale: number): PlannedStage[] {
  let at = 0;
  return stages.map((s, i) => {
    const durationMs = Math.max(100, Math.round(s.duration * scale));
    const rate = s.rate === undefined ? undefined : typeof s.rate === 'number' ? { from: s.rate, to: s.rate } : s.rate;
    const p: PlannedStage = {
      name: s.name ?? `stage-${i + 1}`,
      startMs: at,
      durationMs,
      model: rate ? 'open' : 'closed',
      ...(s.connections !== undefined ? { connections: s.connections } : {}),
      ...(s.maxConnections !== undefined ? { connections: s.maxConnections } : {}),
      ...(rate ? { rate } : {}),
    };
    at += durationMs;
    return p;
  });
}

async function recordServiceCounters(journal: Journal, cluster: Cluster, kubeSide?: KubeSide): Promise<void> {
  const t = now();
  for (const c of [...(await cluster.counters()), ...((await kubeSide?.counters()) ?? [])]) {
    const tags = { service: c.service, role: c.role, pod: c.pod };
    journal.sample({ metric: 'service.requests_served', time: t, value: c.requestsServed, tags });
    journal.sample({ metric: 'service.requests_aborted', time: t, value: c.requestsAborted, tags });
    journal.sample({ metric: 'service.cpu_seconds', time: t, value: c.cpuSeconds, tags });
    journal.sample({ metric: 'service.rss_bytes', time: t, value: c.rssBytes, tags });
  }
}

function environment(): Record<string, unknown> {
  let gitRevision = 'unknown';
  try {
    gitRevision = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    // not a git checkout
  }
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  return {
    loadscope: pkg.version,
    gitRevision,
    node: process.version,
    kernel: release(),
    host: hostname(),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    root: process.getuid?.() === 0,
  };
}

/** `base`, or `base-2`, `base-3`, … when a run in the same second already took it. */
function freshDir(base: string): string {
  let dir = base;
  for (let n = 2; existsSync(dir); n++) dir = `${base}-${n}`;
  return dir;
}

function utcStamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

function isAbort(e: unknown): boolean {
  return e instanceof Error && (e.name === 'AbortError' || e.name === 'TimeoutError');
}
