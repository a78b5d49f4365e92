// Probe overhead by arm, inside one continuous load: a closer look than the bench's probes suite.
// Run (root): npx tsx bench/probes-phases.ts ARMS [CYCLES] [PHASE_MS] [SETTLE_MS]
//   ARMS       comma-separated: all | probe:pktlat | probe:tcpwatch+fibroute | none (nothing attached:
//              the control, shows the noise) — e.g. all,probe:pktlat,none. ARM@DIR runs the loaders
//              built in DIR (make -C bpf OUTPUT=DIR), to compare two builds side by side, e.g.
//              probe:pktlat,probe:pktlat@/tmp/variant; ARM#full or ARM#sampled picks the fidelity
//              (default sampled), e.g. all,all#full,none; ARM%N the kernel's run-time statistics on in 1
//              window in N (default: 10 at sampled fidelity, 1 at full), e.g. all,all%1,none
//   CYCLES     how often each arm comes (default 8); PHASE_MS (default 1000); SETTLE_MS (default 700)
//   PIN=1      pins the engine to CPU 0 and nginx to CPU 1 (taskset), against scheduler placement
// One loadscope autocannon engine (16 connections) against nginx on loopback throughout; the probes get
// the filter a run gives a URL target (nginx port, lo, 127.0.0.0/8); steal time is printed. Phases go
// off, arm1, off, arm2, off, … ; each phase is measured from SETTLE_MS after its attach or detach.
// Per arm: the median ratio of its phases' throughput over the mean of the "off" phases beside them,
// and the same for CPU per request (schedstat run time of the engine, nginx, the loaders, this
// process and ksoftirqd over requests served), which a saturated machine turns into throughput.
// Then per arm the median user and system time per request of the engine and of nginx (from
// /proc/PID/task/*/stat, which the kernel splits by tick samples: a rough split of an exact sum).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { startProbes, URL_TARGET_FILTER } from '../src/kernel/probes.ts';
import type { ProbeName } from '../src/kernel/types.ts';
import { startNginx } from './lib/nginx.ts';
import { descendants, killGroup, spawnTracked, waitExit } from './lib/proc.ts';
import { spread } from './lib/stats.ts';
import { engineChild } from './lib/tools.ts';

const [armsArg, cyclesArg = '8', phaseArg = '1000', settleArg = '700'] = process.argv.slice(2);
if (!armsArg) {
  console.error('usage: npx tsx bench/probes-phases.ts ARMS [CYCLES] [PHASE_MS] [SETTLE_MS]   (ARMS e.g. all,probe:pktlat,none)');
  process.exit(2);
}
const arms = armsArg.split(',');
const [cycles, phaseMs, settleMs] = [cyclesArg, phaseArg, settleArg].map(Number);
const root = new URL('..', import.meta.url).pathname;

const nginx = await startNginx();
const seq = ['off'];
for (let c = 0; c < cycles; c++) for (const a of arms) seq.push(a, 'off');
const durationMs = seq.length * (phaseMs + settleMs + 500) + 5000;
const tool = engineChild(root, 'loadscope autocannon engine', { engine: 'autocannon', url: nginx.fileUrl, connections: 16, durationMs });
const child = spawnTracked(tool.cmd, tool.args, { cwd: tool.cwd });
const exited = waitExit(child, durationMs + 60_000);

const ksoftirqd = readdirSync('/proc')
  .filter((d) => /^\d+$/.test(d))
  .filter((d) => {
    try {
      return readFileSync(`/proc/${d}/comm`, 'utf8').startsWith('ksoftirqd');
    } catch {
      return false;
    }
  })
  .map(Number);

/** Calls read with the text of /proc/PID/task/TID/FILE for every task of these processes. */
function eachTask(pids: Iterable<number>, file: string, read: (text: string) => void): void {
  for (const p of pids) {
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        read(readFileSync(`/proc/${p}/task/${t}/${file}`, 'utf8'));
      } catch {
        // the task ended
      }
    }
  }
}

/** Run time (ns) of every task the load or the probes run in. */
function runtimeNs(): number {
  const pids = new Set([child.pid!, ...descendants(child.pid!), nginx.pid, ...descendants(nginx.pid), process.pid, ...descendants(process.pid), ...ksoftirqd]);
  let ns = 0;
  eachTask(pids, 'schedstat', (text) => (ns += Number(text.split(' ')[0])));
  return ns;
}

async function attach(arm: string): Promise<() => Promise<unknown>> {
  if (arm === 'off' || arm === 'none') return async () => undefined;
  const [armSpec, statsEvery] = arm.split('%');
  const [spec, fidelity] = armSpec.split('#') as [string, 'full' | 'sampled' | undefined];
  const [which, loaderDir] = spec.split('@');
  const probes = which === 'all' ? undefined : (which.replace(/^probe:/, '').split('+') as ProbeName[]);
  const h = await startProbes({
    sink: { sample() {}, event() {} },
    filter: { ports: [nginx.port], ifaces: [...URL_TARGET_FILTER.ifaces], cidrs: [...URL_TARGET_FILTER.cidrs] }, // as a run against a URL
    mode: 'required',
    ...(probes ? { probes } : {}),
    ...(loaderDir ? { loaderDir } : {}),
    ...(fidelity ? { fidelity } : {}),
    ...(statsEvery ? { statsEvery: Number(statsEvery) } : {}),
  });
  return () => h.stop();
}

/** User and system time (clock ticks) of the tasks of these processes. */
function ticks(pids: number[]): [number, number] {
  let user = 0;
  let sys = 0;
  eachTask(pids, 'stat', (text) => {
    // the fields after the command: state is [0], utime [11], stime [12]
    const f = text.split(') ')[1].split(' ');
    user += Number(f[11]);
    sys += Number(f[12]);
  });
  return [user, sys];
}
const TICK_NS = 1e9 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
/** Engine and nginx: [user, sys] ticks each. */
const split = () => [[child.pid!, ...descendants(child.pid!)], [nginx.pid, ...descendants(nginx.pid)]].map(ticks);

/** Steal time of all CPUs (ns): the host running something else on our vCPUs. */
function stealNs(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  return Number(f[8]) * TICK_NS;
}

const phases: { arm: string; rps: number; cpuPerReq: number; userSys: number[]; steal: number }[] = [];
try {
  await sleep(1000);
  if (process.env.PIN) {
    for (const p of [child.pid!, ...descendants(child.pid!)]) execFileSync('taskset', ['-a', '-cp', '0', String(p)], { stdio: 'ignore' });
    for (const p of [nginx.pid, ...descendants(nginx.pid)]) execFileSync('taskset', ['-a', '-cp', '1', String(p)], { stdio: 'ignore' });
  }
  await sleep(500);
  for (const arm of seq) {
    if (child.exitCode !== null) break;
    const detach = await attach(arm);
    await sleep(settleMs);
    const s0 = await nginx.served();
    const r0 = runtimeNs();
    const u0 = split().flat();
    const st0 = stealNs();
    const t0 = performance.now();
    await sleep(phaseMs);
    const s1 = await nginx.served();
    const r1 = runtimeNs();
    const u1 = split().flat();
    phases.push({
      arm,
      rps: (s1 - s0) / ((performance.now() - t0) / 1000),
      steal: (stealNs() - st0) / ((performance.now() - t0) * 1e6 * availableParallelism()),
      cpuPerReq: (r1 - r0) / (s1 - s0),
      userSys: u1.map((v, i) => ((v - u0[i]) * TICK_NS) / (s1 - s0)),
    });
    await detach();
  }
} finally {
  killGroup(child, 'SIGKILL');
  await exited;
  await nginx.stop();
}

console.log(phases.map((p) => `${p.arm} ${Math.round(p.rps)}`).join(', '), 'req/s');
console.log(`steal (share of both CPUs, per phase): median ${spread(phases.map((p) => p.steal)).median.toFixed(3)}, max ${Math.max(...phases.map((p) => p.steal)).toFixed(3)}`);
const ratios = new Map<string, { rps: number[]; cpu: number[] }>();
for (let k = 1; k + 1 < phases.length; k += 2) {
  const [before, on, after] = [phases[k - 1], phases[k], phases[k + 1]];
  const r = ratios.get(on.arm) ?? { rps: [], cpu: [] };
  r.rps.push(on.rps / ((before.rps + after.rps) / 2));
  r.cpu.push((before.cpuPerReq + after.cpuPerReq) / 2 / on.cpuPerReq);
  ratios.set(on.arm, r);
}
for (const [arm, r] of ratios) {
  const t = spread(r.rps);
  const c = spread(r.cpu);
  console.log(`${arm.padEnd(24)} throughput ÷ off: median ${t.median.toFixed(3)} (${t.min.toFixed(3)}–${t.max.toFixed(3)}, n=${t.n}); CPU per request, off ÷ on: median ${c.median.toFixed(3)}`);
}
console.log('ns per request (median of phases): engine user / sys, nginx user / sys, all tasks');
for (const arm of new Set(phases.map((p) => p.arm))) {
  const of = phases.filter((p) => p.arm === arm);
  const med = (f: (p: (typeof phases)[number]) => number) => spread(of.map(f)).median.toFixed(0);
  const [eu, es, nu, ns] = [0, 1, 2, 3].map((i) => med((p) => p.userSys[i]));
  console.log(`  ${arm.padEnd(24)} engine ${eu} / ${es}, nginx ${nu} / ${ns}, all ${med((p) => p.cpuPerReq)}`);
}
process.exit(0);
