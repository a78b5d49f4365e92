// Probe overhead: the same load with all probes on and with none, interleaved. Four ways: paired runs of
// the autocannon engine against nginx, one continuous load against nginx whose phases alternate, one
// continuous load through the local cluster of a saturating scenario whose phases alternate, and paired
// `loadscope run`s of that scenario (what a user's run pays, start-up and all).
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { measureLoad, type LoadMeasurement } from '../lib/measure.ts';
import { nginxBinary, startNginx } from '../lib/nginx.ts';
import { spread } from '../lib/stats.ts';
import { engineChild } from '../lib/tools.ts';
import { collect, killGroup, machineBusySeconds, spawnTracked, waitExit } from '../lib/proc.ts';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchContext, Suite } from '../lib/types.ts';
import type { RunEvent, Sample, Sink } from '../../src/core/types.ts';
import { clusters } from '../../src/cluster/clusters.ts';
import { localUnavailable } from '../../src/cluster/local/resolve.ts';
import { balancer } from '../../src/kernel/balancer.ts';
import { startProbes, URL_TARGET_FILTER } from '../../src/kernel/probes.ts';
import type { LoaderReport, ProbeFidelity, ProbeFilter } from '../../src/kernel/types.ts';
import { probeCost, type ProbeCost } from '../../src/analyze/probes.ts';
import { now } from '../../src/core/clock.ts';
import { Ledger } from '../../src/core/ledger.ts';
import { loadScenario } from '../../src/scenario/load.ts';

type ProgStats = Record<string, { run_cnt: number; run_ns: number }>;
type Filter = ProbeFilter;
type StartProbes = typeof startProbes;

const CONNECTIONS = 16;
/** Pause after each attach or detach before a run or a continuous-load phase is measured. */
const SETTLE_MS = 700;

/** BPF programs report their run time only with kernel.bpf_stats_enabled=1 (which costs a little itself). */
function bpfStatsEnabled(): boolean {
  try {
    return readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

const suite: Suite = {
  name: 'probes',
  description: 'probe overhead: all probes vs none, same load',
  quick: true,
  async run(ctx: BenchContext) {
    if (!nginxBinary()) return ctx.skip('probe overhead', 'nginx not installed');
    // the filter `loadscope run` gives the probes for a URL target: the port, lo and 127.0.0.0/8
    const extra = URL_TARGET_FILTER;
    const filterFor = (port: number): Filter => ({ ports: [port], ifaces: [...extra.ifaces], cidrs: [...extra.cidrs] });
    const filterText = `filter: nginx port, ${[...extra.ifaces, ...extra.cidrs].join(', ')}, as a run against a URL`;
    // many short pairs rather than a few long ones: on a shared machine one slow run moves a mean of
    // two a lot, a median of eight pairs little
    const durationS = ctx.quick ? 3 : 4;
    const reps = ctx.quick ? 3 : 8;
    const nginx = await startNginx();
    try {
      const tool = engineChild(ctx.root, 'loadscope autocannon engine', { engine: 'autocannon', url: nginx.fileUrl, connections: CONNECTIONS, durationMs: durationS * 1000 });
      const bpfStats = bpfStatsEnabled();
      const pairs: { off?: LoadMeasurement; on?: LoadMeasurement; probeCpu?: number; records?: number; benchCpuOff?: number; benchCpuOn?: number; loaderCpu?: number; progs?: ProgStats }[] = [];
      for (let r = 0; r < reps; r++) {
        const pair: (typeof pairs)[number] = {};
        for (const on of r % 2 ? [true, false] : [false, true]) {
          if (!on) {
            await sleep(SETTLE_MS); // after the previous run's detach, as the continuous load does
            const c0 = process.cpuUsage();
            pair.off = await measureLoad(nginx, tool, { durationMs: durationS * 1000 });
            const c = process.cpuUsage(c0);
            pair.benchCpuOff = (c.user + c.system) / 1e6 / pair.off.wallS;
            continue;
          }
          let records = 0;
          const sink: Sink = { sample: (_s: Sample) => void records++, event: (_e: RunEvent) => void records++ };
          const ac = new AbortController();
          const cpu0 = process.cpuUsage();
          const handle = await startProbes({ sink, filter: filterFor(nginx.port), mode: 'auto', signal: ac.signal });
          if (!handle.status.enabled) {
            await handle.stop();
            return ctx.skip('probe overhead', `probes off: ${handle.status.reason ?? 'unknown reason'}`);
          }
          try {
            await sleep(SETTLE_MS); // measured from SETTLE_MS after the attach, as the continuous load does
            pair.on = await measureLoad(nginx, tool, { durationMs: durationS * 1000 });
          } finally {
            const report = await handle.stop();
            const cpu = process.cpuUsage(cpu0);
            pair.loaderCpu = report.cpuSeconds ?? 0;
            // the statistics counted for 1/N of every window (sampled fidelity): scaled by the loader's time over theirs, as probes.cost is
            const scaled = (l: LoaderReport): ProgStats => {
              const k = (l.statsEvery ?? 1) > 1 && l.statsOnSeconds && l.wallS && l.wallS > l.statsOnSeconds ? l.wallS / l.statsOnSeconds : 1;
              return Object.fromEntries(Object.entries(l.progs ?? {}).map(([n, p]) => [n, { run_cnt: p.run_cnt * k, run_ns: p.run_ns * k }]));
            };
            pair.progs = Object.assign({}, ...Object.values(report.loaders ?? {}).map(scaled)) as ProgStats;
            pair.benchCpuOn = (cpu.user + cpu.system) / 1e6;
            pair.records = records;
          }
        }
        // Probes' CPU: the loaders' own (from their reports) plus what this process spent beyond
        // its CPU in the run without probes (the reader and mapper; polling costs the same in both).
        if (pair.on && pair.benchCpuOn !== undefined && pair.benchCpuOff !== undefined) {
          pair.probeCpu = (pair.loaderCpu ?? 0) + Math.max(0, pair.benchCpuOn - pair.benchCpuOff * pair.on.wallS);
        }
        pairs.push(pair);
        ctx.log(`rep ${r + 1}/${reps}: none ${Math.round(pair.off?.rps ?? NaN)} req/s, all probes ${Math.round(pair.on?.rps ?? NaN)} req/s, probes CPU ${pair.probeCpu?.toFixed(2)} s, ${pair.records} records`);
        if (bpfStats && pair.progs) {
          const per = Object.entries(pair.progs).filter(([, p]) => p.run_cnt > 0);
          ctx.log(`  in-kernel: ${per.map(([n, p]) => `${n} ${Math.round(p.run_ns / p.run_cnt)} ns × ${p.run_cnt}`).join(', ')}`);
        }
      }
      const ok = pairs.filter((p) => p.on?.ok && p.off?.ok);
      if (ok.length === 0) return ctx.skip('probe overhead', 'no repetition where both runs succeeded');
      const how = `loadscope autocannon engine, ${CONNECTIONS} connections, ${durationS} s against nginx on loopback, all probes (${filterText}) vs none, paired and interleaved, each run started ${SETTLE_MS} ms after the previous attach or detach`;
      ctx.line({ name: 'throughput with all probes ÷ none', compared: how, unit: '×', spread: spread(ok.map((p) => p.on!.rps / p.off!.rps)), goal: { op: '>=', value: 0.95 } });
      ctx.line({ name: 'probes CPU per 100k requests', compared: `${how}; loader processes' CPU (their end reports) plus the bench process's extra CPU with probes on (reader, mapper) over its CPU in the paired run without, per 100k requests served in the run`, unit: 'CPU-s', spread: spread(ok.map((p) => (p.probeCpu! / p.on!.servedTotal) * 1e5)) });
      ctx.line({ name: 'probes CPU share', compared: `${how}; probes CPU seconds per second of run`, unit: 'cores', spread: spread(ok.map((p) => p.probeCpu! / p.on!.wallS)) });
      if (bpfStats) {
        const kernelS = (p: (typeof pairs)[number]) => Object.values(p.progs ?? {}).reduce((a, x) => a + x.run_ns, 0) / 1e9;
        ctx.line({ name: 'probes in-kernel CPU per 100k requests', compared: `${how}; run time of the probes' BPF programs (kernel.bpf_stats_enabled=1, which adds a little itself) per 100k requests served in the run`, unit: 'CPU-s', spread: spread(ok.map((p) => (kernelS(p) / p.on!.servedTotal) * 1e5)) });
      }
      // attaching all probes takes ~80 ms, so phases can be short: many short phases follow the
      // machine's drift more closely than a few long ones, and the median of many ratios moves little
      // 20 phases of each arm at least (the acceptance of issue 17), interleaved with none
      await nginxToggled(ctx, nginx, startProbes, filterFor(nginx.port), filterText, ctx.quick ? 20 : 32, 1000);
    } finally {
      await nginx.stop();
    }
    await clusterToggled(ctx, startProbes, ctx.quick ? 12 : 40, 2);
    await scenarioPairs(ctx, ctx.quick ? 2 : 8);
  },
};

/** One phase of a continuous load: its throughput, and the machine's busy CPU per request over it. */
interface Phase {
  rps: number;
  cpuPerReq: number;
}

/** How one continuous load's phase is read: `measure` waits out the phase and returns it. */
interface PhaseMeter {
  measure(phaseMs: number): Promise<Phase>;
}

/** nginx's own request counter (stub_status), over exactly the phase. */
function nginxMeter(nginx: Awaited<ReturnType<typeof startNginx>>): PhaseMeter {
  return {
    async measure(phaseMs) {
      const s0 = await nginx.served();
      const [t0, c0] = [performance.now(), machineBusySeconds()];
      await sleep(phaseMs);
      const s1 = await nginx.served();
      const [t1, c1] = [performance.now(), machineBusySeconds()];
      return { rps: (s1 - s0) / ((t1 - t0) / 1000), cpuPerReq: (c1 - c0) / (s1 - s0) };
    },
  };
}

/**
 * The engine's own 1 s windows (engine-child `windows: true`), for a target with no counter of its
 * own: a phase is the whole windows that start after `measure` is called and fit in phaseMs.
 */
function windowMeter(child: ChildProcess): PhaseMeter {
  const windows = new Map<number, number>();
  let origin: number | undefined;
  let buf = '';
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const text = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!text.startsWith('{"window"')) continue;
      const w = (JSON.parse(text) as { window: { start: number; responses: number } }).window;
      origin ??= w.start;
      windows.set(Math.round((w.start - origin) / 1000), w.responses);
    }
  });
  return {
    async measure(phaseMs) {
      const deadline = now() + 5000;
      while (origin === undefined && now() < deadline) await sleep(50);
      if (origin === undefined) throw new Error('the engine reported no 1 s window');
      const n = Math.max(1, Math.floor(phaseMs / 1000));
      const first = Math.ceil((now() - origin) / 1000);
      await sleep(origin + first * 1000 - now());
      const c0 = machineBusySeconds();
      await sleep(origin + (first + n) * 1000 - now());
      const c1 = machineBusySeconds();
      const idx = Array.from({ length: n }, (_, i) => first + i);
      // a window is emitted within 250 ms of its end (src/load/windows.ts)
      const wait = now() + 3000;
      while (idx.some((i) => !windows.has(i)) && now() < wait) await sleep(50);
      if (idx.some((i) => !windows.has(i))) throw new Error(`the engine did not report windows ${idx.join(', ')} within 3 s of their end`);
      const served = idx.reduce((a, i) => a + windows.get(i)!, 0);
      return { rps: served / n, cpuPerReq: (c1 - c0) / served };
    },
  };
}

/** One way of running the probes in a toggled load: a label and the fidelity it starts them at. */
interface Arm {
  label: string;
  fidelity: ProbeFidelity;
}

/** The probes' CPU per second of their life, as results.json `probes.cost` gives it (start-up left out). */
function reportedCores(c: ProbeCost): number {
  return c.wallS > 0 ? (c.cpuSeconds - c.loaderStartSeconds) / c.wallS : NaN;
}

/** Mean and 95% interval of the mean (t ≈ 1.96·sd/√n), as text. */
function interval(xs: number[]): string {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / Math.max(1, n);
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, n - 1));
  const half = (1.96 * sd) / Math.sqrt(Math.max(1, n));
  return `mean ${mean.toFixed(3)}, 95% interval ${(mean - half).toFixed(3)}–${(mean + half).toFixed(3)} (n=${n}, sd ${sd.toFixed(3)})`;
}

/**
 * The same comparison inside one continuous load (the engine `child`, started by the caller):
 * phases go none, arm 1, none, arm 2, none, arm 1, … (each arm's probes attached before its phase is
 * measured, detached after), and each arm's phase is divided by the mean of the "none" phases beside
 * it. One engine process and one connection pool throughout, so run-to-run differences (start-up,
 * scheduling, where the pool lands) drop out. For each arm also: the machine's busy CPU per request
 * over none's, and the probes' CPU as results.json `probes.cost` reports it (BPF run time + loaders)
 * against the machine's extra busy CPU in the phase ((CPU per request on − off) × requests).
 */
async function toggled(
  ctx: BenchContext,
  o: { name: string; compared: string; child: ChildProcess; meter: PhaseMeter; startProbes: StartProbes; filter: Filter; arms: Arm[]; phasesPerArm: number; phaseMs: number },
): Promise<void> {
  const { child, meter } = o;
  const rates: (Phase & { arm?: Arm; cost?: ProbeCost; every?: number[] })[] = [];
  const seq: (Arm | undefined)[] = [undefined];
  for (let k = 0; k < o.phasesPerArm; k++) for (const a of o.arms) seq.push(a, undefined);
  await sleep(1500);
  for (let k = 0; k < seq.length && child.exitCode === null; k++) {
    const arm = seq[k];
    const ends: RunEvent[] = [];
    const every: number[] = [];
    const sink: Sink = {
      sample: (x: Sample) => void (x.metric === 'probe.pkt_timed' && every.push(Number((x.meta as { every?: number } | undefined)?.every))),
      event: (e: RunEvent) => void (e.kind === 'probe.end' && ends.push(e)),
    };
    const handle = arm ? await o.startProbes({ sink, filter: o.filter, mode: 'auto', fidelity: arm.fidelity }) : undefined;
    let phase: Phase;
    try {
      if (handle && !handle.status.enabled) return ctx.skip(o.name, `probes off: ${handle.status.reason ?? 'unknown reason'}`);
      // Attaching and detaching disturb the machine for a moment (tracepoint code patching, JIT
      // memory, the loaders' start and exit); a run attaches once, before its load. So every phase,
      // "on" and "off" alike, starts SETTLE_MS after its transition, and measures steady state.
      await sleep(SETTLE_MS);
      try {
        phase = await meter.measure(o.phaseMs);
      } catch (err) {
        return ctx.skip(o.name, `phase ${k + 1} could not be measured: ${(err as Error).message}`);
      }
    } finally {
      await handle?.stop();
    }
    const cost = arm ? probeCost(ends) : undefined;
    rates.push({ ...phase, ...(arm ? { arm } : {}), ...(cost ? { cost } : {}), every });
  }
  ctx.log(`${o.name}: ${rates.map((r) => `${r.arm?.label ?? 'none'} ${Math.round(r.rps)}`).join(', ')} req/s`);
  for (const arm of o.arms) {
    const idx = rates.map((r, i) => (r.arm === arm ? i : -1)).filter((i) => i > 0);
    const offMean = (i: number, f: (p: Phase) => number) => {
      const off = [rates[i - 1], rates[i + 1]].filter((x) => x !== undefined && !x.arm).map(f);
      return off.reduce((a, b) => a + b, 0) / off.length;
    };
    const ratios = idx.map((i) => rates[i].rps / offMean(i, (p) => p.rps));
    if (!ratios.length) return ctx.skip(`${o.name}, ${arm.label}`, 'the load ended before a phase with probes');
    const cpu = idx.map((i) => rates[i].cpuPerReq / offMean(i, (p) => p.cpuPerReq));
    // the probes' CPU two ways, in cores (CPU-s per s): the machine's extra busy CPU over the phase, and probes.cost
    const independent = idx.map((i) => (rates[i].cpuPerReq - offMean(i, (p) => p.cpuPerReq)) * rates[i].rps);
    const reported = idx.map((i) => (rates[i].cost ? reportedCores(rates[i].cost!) : NaN));
    const sumI = independent.reduce((a, b) => a + b, 0);
    const sumR = reported.reduce((a, b) => a + b, 0);
    const everies = idx.flatMap((i) => rates[i].every ?? []).filter((x) => Number.isFinite(x));
    ctx.log(`${o.name}, ${arm.label}: throughput ÷ none ${interval(ratios)}`);
    ctx.log(`${o.name}, ${arm.label}: CPU per request ÷ none ${interval(cpu)}`);
    ctx.log(`${o.name}, ${arm.label}: probes' CPU, machine's extra busy CPU ${(sumI / idx.length).toFixed(4)} cores vs probes.cost ${(sumR / idx.length).toFixed(4)} cores (ratio ${(sumI / sumR).toFixed(2)}); 1 in N timed: ${everies.length ? `${Math.min(...everies)}–${Math.max(...everies)}` : 'n/a'}`);
    const lastCost = rates[idx.at(-1)!].cost;
    if (lastCost) ctx.log(`${o.name}, ${arm.label}: last phase's probes.cost per program: ${lastCost.programs.filter((p) => p.runs).map((p) => `${p.program} ${p.nsPerRun} ns × ${p.runs}`).join(', ')}`);
    ctx.line({
      name: `${o.name}, ${arm.label}`,
      compared: `${o.compared}; the ${arm.label} phases (${arm.fidelity} fidelity), each over the mean of the "none" phases beside it; ${interval(ratios)}`,
      unit: '×',
      spread: spread(ratios),
      goal: { op: '>=', value: arm.fidelity === 'sampled' ? 0.98 : 0.95 },
    });
    // Where the load is not CPU-bound throughout (stalls leave CPUs idle), throughput shows only part
    // of the probes' CPU; the machine's busy CPU per request shows all of it, whoever spends it.
    ctx.line({
      name: `${o.name}, ${arm.label}: CPU per request`,
      compared: `the same phases; the machine's busy CPU (/proc/stat user, nice, system, irq, softirq; all CPUs) per request served, ${arm.label} ÷ none; ${interval(cpu)}`,
      unit: '×',
      spread: spread(cpu),
    });
    // one phase's extra CPU is a small difference of two noisy figures: compare sums over blocks of 5 phases
    const blocks: number[] = [];
    for (let b = 0; b + 5 <= idx.length; b += 5) {
      const i5 = independent.slice(b, b + 5).reduce((a, x) => a + x, 0);
      const r5 = reported.slice(b, b + 5).reduce((a, x) => a + x, 0);
      blocks.push(i5 / r5);
    }
    ctx.line({
      name: `${o.name}, ${arm.label}: the machine's extra CPU ÷ probes.cost`,
      compared: `the same phases; the machine's extra busy CPU over none's ((CPU per request − none's) × requests per second, /proc/stat) over the probes' CPU per second as results.json probes.cost gives it (BPF run time from the kernel's run-time statistics + the tracepoints' dispatch estimated at 55 ns a run + the loaders' CPU since attach), in blocks of 5 phases; all phases together ${(sumI / sumR).toFixed(2)}; goal: within a factor of 1.5`,
      unit: '×',
      spread: spread(blocks),
      goal: { op: '<=', value: 1.5 },
    });
    ctx.raw?.(`${o.name}, ${arm.label}`, { ratios, cpu, independent, reported, everies });
  }
}

/** One continuous load against nginx on loopback: phases of `phaseMs` (nginx's counter). */
async function nginxToggled(ctx: BenchContext, nginx: Awaited<ReturnType<typeof startNginx>>, startProbes: StartProbes, filter: Filter, filterText: string, phasesPerArm: number, phaseMs: number): Promise<void> {
  const arms: Arm[] = [
    { label: 'default (sampled) probes', fidelity: 'sampled' },
    { label: 'full-fidelity probes', fidelity: 'full' },
  ];
  const phases = phasesPerArm * arms.length * 2 + 1;
  const durationMs = phases * (phaseMs + SETTLE_MS + 1500) + 5000;
  const tool = engineChild(ctx.root, 'loadscope autocannon engine', { engine: 'autocannon', url: nginx.fileUrl, connections: CONNECTIONS, durationMs });
  const child = spawnTracked(tool.cmd, tool.args, { cwd: tool.cwd });
  const exited = waitExit(child, durationMs + 60_000);
  try {
    await toggled(ctx, {
      name: 'throughput with all probes ÷ none, one continuous load',
      compared: `one loadscope autocannon engine process, ${CONNECTIONS} connections against nginx on loopback, ${phases} phases of ${phaseMs / 1000} s going none, sampled, none, full, … (${phasesPerArm} of each arm; ${filterText}; attach and detach outside the phases, each phase measured from ${SETTLE_MS} ms after its transition)`,
      child,
      meter: nginxMeter(nginx),
      startProbes,
      filter,
      arms,
      phasesPerArm,
      phaseMs,
    });
  } finally {
    killGroup(child, 'SIGKILL');
    await exited;
  }
}

/**
 * The scenario's load through the local cluster, in one continuous load whose phases alternate: the
 * cluster of bench/scenarios/probes-cluster.yaml (frontend and backend pods, eBPF load balancing), the
 * engine in its own process at the scenario's request, and the probes with the filter the cluster
 * gives a run (its ports, bridge and veths, its two /24s). Throughput from the engine's own 1 s
 * windows; each phase is `windowsPerPhase` whole windows after its transition and SETTLE_MS.
 */
async function clusterToggled(ctx: BenchContext, startProbes: StartProbes, phases: number, windowsPerPhase: number): Promise<void> {
  const name = 'throughput with all probes ÷ none, local cluster, one continuous load';
  const why = localUnavailable(balancer);
  if (why) return ctx.skip(name, `the local cluster cannot run here: ${why}`);
  const scenario = loadScenario(join(ctx.root, 'bench', 'scenarios', 'probes-cluster.yaml'));
  const runId = `bench-probes-${randomBytes(3).toString('hex')}`;
  const ledger = new Ledger(runId);
  const cluster = clusters.local(scenario.spec, { runId, sink: { sample() {}, event() {} }, ledger, onStatus: (l) => ctx.log(`local cluster: ${l}`), balancer });
  try {
    let target: Awaited<ReturnType<typeof cluster.start>>;
    try {
      target = await cluster.start(ctx.signal);
    } catch (err) {
      return ctx.skip(name, `the local cluster did not start: ${(err as Error).message}`);
    }
    const request = scenario.spec.requests[0];
    const connections = scenario.spec.stages.at(-1)?.connections ?? CONNECTIONS;
    const phaseMs = windowsPerPhase * 1000;
    const durationMs = phases * (phaseMs + SETTLE_MS + 2500) + 5000;
    const tool = engineChild(ctx.root, 'loadscope autocannon engine', { engine: 'autocannon', url: `${target.url}${request.path}`, connections, durationMs, windows: true });
    const child = spawnTracked(tool.cmd, tool.args, { cwd: tool.cwd });
    const exited = waitExit(child, durationMs + 60_000);
    try {
      await toggled(ctx, {
        name,
        compared: `bench/scenarios/probes-cluster.yaml's local cluster (harness → frontend pod → backend pod over veth and bridge, eBPF load balancing) under one loadscope autocannon engine process, ${connections} connections to ${request.path}; ${phases} phases of ${windowsPerPhase} whole 1 s windows of the engine, alternating none / all probes with the run's own filter (its ports, bridge and veths, its two /24s), each measured from ${SETTLE_MS} ms after its transition; each "on" phase over the mean of the "off" phases beside it`,
        child,
        meter: windowMeter(child),
        startProbes,
        filter: { ports: target.ports, ifaces: target.ifaces, cidrs: target.cidrs },
        arms: [{ label: 'default (sampled) probes', fidelity: 'sampled' }],
        phasesPerArm: Math.ceil(phases / 2),
        phaseMs,
      });
    } finally {
      killGroup(child, 'SIGKILL');
      await exited;
    }
  } finally {
    await cluster.stop();
    for (const l of ledger.close()) ctx.log(`cleanup: ${l}`);
  }
}

/**
 * What a user's run pays: `loadscope run` of bench/scenarios/probes-cluster.yaml (the local cluster, a
 * saturating closed-model load through frontend and backend pods) with `probes: required` and with
 * `probes: off`, paired and interleaved; the ratio of the steady stage's throughput. Everything the
 * probes cost is in it: the programs on every hop (veth, bridge, both namespaces), the loaders, and
 * the harness reading their output in the process that also generates the load.
 */
async function scenarioPairs(ctx: BenchContext, reps: number): Promise<void> {
  const name = 'throughput with all probes ÷ none, local-cluster scenario';
  const src = join(ctx.root, 'bench', 'scenarios', 'probes-cluster.yaml');
  if (process.getuid?.() !== 0) return ctx.skip(name, 'the local cluster needs root');
  const text = readFileSync(src, 'utf8');
  if (!/^probes: required$/m.test(text)) return ctx.skip(name, `${src} must say "probes: required" on a line of its own (the other arm replaces it with "probes: off")`);
  const files = { on: join(ctx.tmp, 'probes-cluster-on.yaml'), off: join(ctx.tmp, 'probes-cluster-off.yaml') };
  writeFileSync(files.on, text);
  writeFileSync(files.off, text.replace(/^probes: required$/m, 'probes: off'));
  const ratios: number[] = [];
  const loaderCpu: number[] = [];
  for (let r = 0; r < reps; r++) {
    const rps: Partial<Record<'on' | 'off', number>> = {};
    for (const arm of r % 2 ? (['on', 'off'] as const) : (['off', 'on'] as const)) {
      const out = join(ctx.tmp, `probes-cluster-${arm}-${r}`);
      const child = spawnTracked(process.execPath, [join(ctx.root, 'bin', 'loadscope.js'), 'run', files[arm], '--out', out], { cwd: ctx.root });
      const io = collect(child);
      const code = await waitExit(child, 180_000);
      if (code !== 0) return ctx.skip(name, `loadscope run (probes ${arm}) exited ${code}: ${io.stderr().trim().split('\n').slice(-3).join(' ')}`);
      const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
        stages: { name: string; rps: number; errors: number }[];
        probes?: { status?: { enabled?: boolean; reason?: string }; loaders?: { cpuSeconds?: number }[] };
      };
      rmSync(out, { recursive: true, force: true });
      const steady = res.stages.find((x) => x.name === 'steady');
      if (!steady || steady.errors > 0) return ctx.skip(name, `the steady stage of the run with probes ${arm} ${steady ? `had ${steady.errors} errors` : 'is missing'}`);
      if (arm === 'on') {
        if (!res.probes?.status?.enabled) return ctx.skip(name, `probes off: ${res.probes?.status?.reason ?? 'unknown reason'}`);
        loaderCpu.push((res.probes.loaders ?? []).reduce((a, l) => a + (l.cpuSeconds ?? 0), 0));
      }
      rps[arm] = steady.rps;
    }
    ratios.push(rps.on! / rps.off!);
    ctx.log(`scenario pair ${r + 1}/${reps}: none ${Math.round(rps.off!)} req/s, all probes ${Math.round(rps.on!)} req/s, loaders ${loaderCpu.at(-1)!.toFixed(2)} CPU-s`);
  }
  ctx.line({
    name,
    compared: `\`loadscope run bench/scenarios/probes-cluster.yaml\` (local cluster: harness → frontend pod → backend pod over veth and bridge; closed model, 16 connections; steady stage of 8 s after 2 s warm-up) with probes required vs off, paired and interleaved; the run's own filter (its ports, bridge and veths, its two /24s)`,
    unit: '×',
    spread: spread(ratios),
    goal: { op: '>=', value: 0.95 },
  });
}

export default suite;
