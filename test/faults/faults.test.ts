// Scheduled faults (the scenario's faults:) on the real kernel and real pods of the local cluster:
// pod-kill and pod-pause against readiness and routing, packet loss seen by the probes and by the pods'
// own TCP counters, HTTP errors at the share asked for, a metrics outage the HPA reports as upstream
// does, and nothing left behind — after the run, and after a harness that died mid-fault.
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { localUnavailable } from '../../src/cluster/local/resolve.ts';
import { balancer } from '../../src/kernel/balancer.ts';
import { TCFAULT_BINARY, tcfaultUnavailable } from '../../src/kernel/faults.ts';
import { sweepStale } from '../../src/core/ledger.ts';
import type { JournalRecord, RunEvent, Sample } from '../../src/core/types.ts';
import { runScenario } from '../../src/run/run.ts';
import { parseScenario } from '../../src/scenario/load.ts';
import { needs } from '../helpers/needs.ts';
import { tempDir } from '../helpers/tmp.ts';

const LEDGERS = tempDir('ls-faults-ledger-');
process.env.LOADSCOPE_LEDGER_DIR = LEDGERS;
const kernel = needs('the fault tests', localUnavailable(balancer) ?? tcfaultUnavailable());

/** The run's journal, read back. */
function journal(dir: string): { events: (k: string) => RunEvent[]; samples: (m: string) => Sample[] } {
  const all = readFileSync(join(dir, 'events.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as JournalRecord);
  return {
    events: (k) => all.filter((r): r is RunEvent & { type: 'event' } => r.type === 'event' && r.kind === k),
    samples: (m) => all.filter((r): r is Sample & { type: 'sample' } => r.type === 'sample' && r.metric === m),
  };
}

/** Processes whose executable is the fault loader. */
function tcfaultPids(): number[] {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return readlinkSync(`/proc/${p}/exe`) === TCFAULT_BINARY;
    } catch {
      return false;
    }
  }).map(Number);
}

/** The state letter of a process (R, S, T: stopped …), or undefined when it is gone. */
function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/** Sum of a TCP counter of /proc/net/snmp inside a network namespace. */
function snmpTcp(netns: string, field: string): number {
  const text = execFileSync('ip', ['netns', 'exec', netns, 'cat', '/proc/net/snmp'], { encoding: 'utf8' });
  const [head, values] = text.split('\n').filter((l) => l.startsWith('Tcp:'));
  return Number(values.split(/\s+/)[head.split(/\s+/).indexOf(field)]);
}

/** The run's pod namespaces, from the bridge tag its notice names. */
function podNamespaces(records: JournalRecord[]): string[] {
  const header = records.find((r) => r.type === 'run');
  const tag = header && header.type === 'run' ? /bridge lsb([0-9a-f]{6})/.exec(header.notices.join(' '))?.[1] : undefined;
  return tag ? readdirSync('/run/netns').filter((n) => n.startsWith(`ls-${tag}-`)) : [];
}

kernel('pod-kill and pod-pause: routing drops the dead pod at once and the hung pod after its probe fails; the kill is replaced, the pause undone', async (t) => {
  const dir = tempDir('ls-faults-pods-');
  const text = `name: faults-pods
cluster: { mode: local }
services:
  backend:
    replicas: 3
    routes: { /: { cpuMs: 0.2 } }
    readinessProbe: { periodSeconds: 0.5, timeoutSeconds: 0.3, failureThreshold: 2 }
stages: [{ duration: 14s, rate: 120, maxConnections: 64 }]
probes: off
faults:
  - { name: kill-one, kind: pod-kill, target: backend/backend-1, at: 3s }
  - { name: hang-one, kind: pod-pause, target: backend/backend-2, at: 6s, duration: 3s }
  - { name: slow-all, kind: http-delay, target: backend, at: 11s, duration: 2.5s, delay: 250ms }
`;
  // Routing picks a pod when a connection is made (as kube-proxy does), and the frontend keeps its
  // upstream connections alive: once the pool covers the load, a pod that rejoins gets no new
  // connection until the pool grows. slow-all makes it grow after the pod is back (120/s held 250 ms:
  // about 30 connections in flight, a handful before), so new connections must reach backend-2.

  let pausedState: string | undefined;
  let pausedPid: number | undefined;
  const out = await runScenario(parseScenario(text, join(dir, 'faults-pods.yaml')), {
    outDir: dir,
    onRecord: (r) => {
      if (r.type === 'event' && r.kind === 'pod.ready' && r.attrs.pod === 'backend-2' && !r.attrs.recovered) pausedPid = Number(r.attrs.pid);
      if (r.type === 'event' && r.kind === 'pod.unready' && pausedPid) pausedState = procState(pausedPid);
    },
  });
  const j = journal(dir);
  const start = (name: string) => j.events('fault.start').find((e) => e.attrs.name === name)!;
  const end = (name: string) => j.events('fault.end').find((e) => e.attrs.name === name)!;
  const period = 500;

  // kill: the pod dies, routing leaves it within one readiness period, a replacement becomes ready and routed
  const kill = start('kill-one');
  t.deepEqual(kill.attrs.pods, ['backend-1']);
  const died = j.events('pod.failed').find((e) => e.attrs.pod === 'backend-1');
  t.truthy(died, 'the killed pod is journalled as failed');
  t.is(died!.attrs.signal, 'SIGKILL');
  const without1 = j.events('routing.update').find((e) => e.time >= kill.time && e.attrs.service === 'backend' && !(e.attrs.pods as string[]).includes('backend-1'));
  t.truthy(without1);
  t.true(without1!.time - kill.time < period, `routing left backend-1 ${without1!.time - kill.time} ms after the kill`);
  const replacement = j.events('pod.ready').find((e) => e.time > kill.time && e.attrs.service === 'backend' && !['backend-1', 'backend-2', 'backend-3'].includes(String(e.attrs.pod)));
  t.truthy(replacement, 'a replacement pod became ready');
  const decisionsTo = (pod: string, from: number, to: number) => j.samples('routing.decision').filter((s) => s.tags.pod === pod && s.time > from && s.time < to).length;
  t.is(decisionsTo('backend-1', kill.time + period, Infinity), 0, 'no connection was routed to the dead pod after one readiness period');

  // pause: stopped (state T) while it hangs, out of routing after failureThreshold probes, back after SIGCONT
  const pause = start('hang-one');
  t.is(pausedState, 'T', 'the paused pod was stopped when its readiness failed');
  const unready = j.events('pod.unready').find((e) => e.attrs.pod === 'backend-2');
  t.truthy(unready, 'the hung pod was taken out by its readiness probe');
  const bound = period + 2 * period + 300;
  t.true(unready!.time - pause.time <= bound, `unready ${Math.round(unready!.time - pause.time)} ms after the pause (bound ${bound} ms)`);
  t.true(unready!.time - pause.time >= period, 'not before a probe could fail');
  const out2 = j.events('routing.update').find((e) => e.time >= unready!.time && e.attrs.service === 'backend' && !(e.attrs.pods as string[]).includes('backend-2'));
  t.truthy(out2);
  const pauseEnd = end('hang-one');
  t.is(decisionsTo('backend-2', out2!.time, pauseEnd.time), 0, 'no connection was routed to the hung pod while it was out');
  const back = j.events('pod.ready').find((e) => e.attrs.pod === 'backend-2' && e.attrs.recovered === true);
  t.truthy(back, 'the pod rejoined after it answered again');
  t.true(back!.time >= pauseEnd.time);
  t.true(j.events('routing.update').some((e) => e.time >= back!.time && (e.attrs.pods as string[]).includes('backend-2')));
  const slow = start('slow-all');
  t.true(back!.time < slow.time, `backend-2 back at ${Math.round(back!.time - pause.time)} ms after its pause, before the pool grows`);
  const after = j.samples('routing.decision').filter((s) => s.time > back!.time && s.tags.service === 'backend');
  const per = (pod: string) => after.filter((s) => s.tags.pod === pod).length;
  t.log(`decisions after backend-2 rejoined: ${after.length} (${after.filter((s) => s.time < slow.time).length} before slow-all), ${per('backend-2')} to backend-2`);
  t.true(after.length >= 6, `the pool grew by ${after.length} connection(s)`);
  t.true(per('backend-2') >= Math.floor(after.length / 3) - 1, 'connections reach it again, in its round-robin share');

  // results.json
  const f = out.result.faults!;
  t.deepEqual(f.map((x) => x.name), ['kill-one', 'hang-one', 'slow-all']);
  t.true(f[0].detectS! < period / 1000);
  t.not(f[0].recoverS, null);
  t.true(f[0].requests > 0);
  t.true(f[0].failedByFault <= f[0].errors && f[0].failedByFault < 0.05 * f[0].requests, `the kill failed ${f[0].failedByFault} of ${f[0].requests} requests`);
  t.true(f[1].detectS! >= period / 1000 && f[1].detectS! <= bound / 1000);
  t.not(f[1].recoverS, null);
  t.true(out.result.events.some((e) => e.kind === 'fault.start'));
  // nothing stopped or attached is left
  for (const e of j.events('pod.ready')) t.is(procState(Number(e.attrs.pid)), undefined, `pod ${String(e.attrs.pod)} is gone`);
  t.deepEqual(readdirSync(LEDGERS).filter((x) => x.endsWith('.json')), []);
});

kernel('packet-loss 5%: retransmits in the probes match the pods\' RetransSegs, latency rises; http-errors answer the share asked; the wire is clean after each fault', async (t) => {
  const dir = tempDir('ls-faults-net-');
  const text = `name: faults-net
cluster: { mode: local }
services:
  backend:
    replicas: 2
    routes: { /: { payloadBytes: 16384 } }
stages: [{ duration: 14s, rate: 150 }]
probes: auto
faults:
  - { name: lossy, kind: packet-loss, target: backend, at: 3s, duration: 4s, probability: 0.05 }
  - { name: errors, kind: http-errors, target: backend, at: 8s, duration: 4s, share: 0.3, status: 503 }
`;
  const records: JournalRecord[] = [];
  const snmp: Record<string, number> = {};
  const leftovers: string[] = [];
  const out = await runScenario(parseScenario(text, join(dir, 'faults-net.yaml')), {
    outDir: dir,
    onRecord: (r) => {
      records.push(r);
      if (r.type !== 'event' || r.attrs.name !== 'lossy') return;
      if (r.kind === 'fault.start' || r.kind === 'fault.end') {
        snmp[r.kind] = podNamespaces(records).reduce((a, ns) => a + snmpTcp(ns, 'RetransSegs'), 0);
      }
      if (r.kind === 'fault.end') {
        leftovers.push(...tcfaultPids().map((p) => `tcfault process ${p}`));
        for (const veth of readdirSync('/sys/class/net').filter((n) => /^lsv[0-9a-f]{6}\d+$/.test(n))) {
          const q = execFileSync('tc', ['qdisc', 'show', 'dev', veth], { encoding: 'utf8' });
          if (/tbf|clsact|ingress/.test(q)) leftovers.push(`${veth}: ${q.trim()}`);
        }
      }
    },
  });
  const f = out.result.faults!;
  const loss = f.find((x) => x.name === 'lossy')!;
  const retransSegs = snmp['fault.end'] - snmp['fault.start'];
  t.log(`packet-loss: ${loss.packetsDropped} dropped, probes ${loss.retransmits} retransmits, pods' RetransSegs +${retransSegs}, p99 ${loss.p99Ms} ms vs ${loss.baseline.p99Ms} ms`);
  t.true(loss.packetsDropped! > 0);
  t.true(retransSegs > 0, 'the pods retransmitted');
  t.true(loss.retransmits! > 0, 'the probes saw retransmits');
  // the probes count what crosses the run's interfaces; /proc/net/snmp what the pods' stacks sent again
  t.true(loss.retransmits! >= 0.5 * retransSegs && loss.retransmits! <= 2 * retransSegs + 5, `probes ${loss.retransmits} vs RetransSegs ${retransSegs}`);
  t.true(loss.baseline.retransmitsPerS! * 4 < loss.retransmits!, 'more than the baseline');
  t.true(loss.p99Ms! > loss.baseline.p99Ms!, 'latency rose');
  t.not(loss.detectS, null);

  const errs = f.find((x) => x.name === 'errors')!;
  const inside = out.result.windows.filter((w) => w.t >= Math.ceil(errs.startS) && w.t + 1 <= Math.floor(errs.endS!));
  const share = inside.reduce((a, w) => a + w.errors, 0) / inside.reduce((a, w) => a + w.rps, 0);
  t.log(`http-errors: ${(share * 100).toFixed(1)}% of ${inside.reduce((a, w) => a + w.rps, 0)} requests failed in the windows inside the fault (asked 30%)`);
  t.true(Math.abs(share - 0.3) < 0.08, `observed share ${share}`);
  t.deepEqual(out.result.http.errorsByKind, { http_5xx: out.result.http.errors }, 'every error is a 5xx');
  t.true(errs.failedByFault > 0);
  t.deepEqual(leftovers, [], 'no fault program or qdisc outlived its fault');
  t.deepEqual(tcfaultPids(), []);
});

kernel('bandwidth and partition: a 1 mbit cap slows the responses, a partition fails requests until it ends; both leave the wire clean', async (t) => {
  const dir = tempDir('ls-faults-wire-');
  const text = `name: faults-wire
cluster: { mode: local }
services:
  backend:
    replicas: 2
    routes: { /: { payloadBytes: 16384 } }
stages: [{ duration: 16s, rate: 40 }]
requestTimeout: 2s
probes: off
faults:
  - { name: narrow, kind: bandwidth, target: backend, at: 4s, duration: 3s, rate: 1mbit }
  - { name: cut, kind: partition, target: frontend, at: 9s, duration: 2s, peer: backend }
`;
  const qdiscs: string[] = [];
  const records: JournalRecord[] = [];
  const out = await runScenario(parseScenario(text, join(dir, 'faults-wire.yaml')), {
    outDir: dir,
    onRecord: (r) => {
      records.push(r);
      if (r.type !== 'event' || r.attrs.name !== 'narrow' || (r.kind !== 'fault.start' && r.kind !== 'fault.end')) return;
      for (const veth of readdirSync('/sys/class/net').filter((n) => /^lsv[0-9a-f]{6}\d+$/.test(n))) {
        if (/tbf/.test(execFileSync('tc', ['qdisc', 'show', 'dev', veth], { encoding: 'utf8' }))) qdiscs.push(`${r.kind} ${veth}`);
      }
      for (const ns of podNamespaces(records).filter((n) => /-backend-\d+$/.test(n))) {
        if (/tbf/.test(execFileSync('tc', ['-n', ns, 'qdisc', 'show', 'dev', 'eth0'], { encoding: 'utf8' }))) qdiscs.push(`${r.kind} ${ns}/eth0`);
      }
    },
  });
  const [narrow, cut] = out.result.faults!;
  t.log(`bandwidth: p99 ${narrow.p99Ms} ms vs ${narrow.baseline.p99Ms} ms; partition: ${cut.errors} errors of ${cut.requests}, ${cut.packetsDropped} packets dropped, recovered ${cut.recoverS} s after`);
  t.deepEqual(qdiscs.map((q) => q.split(' ')[0]), Array(4).fill('fault.start'), `a tbf on both ends of each backend veth while on, none once undone: ${qdiscs.join(', ')}`);
  t.true(narrow.baseline.windows >= 2);
  t.true(narrow.p99Ms! > 5 * narrow.baseline.p99Ms!, 'the cap slowed the responses');
  t.true(cut.errors > 0 && cut.failedByFault > 0, 'the partition failed requests');
  t.true(cut.packetsDropped! > 0);
  t.not(cut.recoverS, null, 'requests succeed again after it');
  t.deepEqual(tcfaultPids(), []);
});

kernel('metrics-outage: the HPA reports FailedGetResourceMetric, ScalingActive False, and keeps its size until the metrics return', async (t) => {
  const dir = tempDir('ls-faults-hpa-');
  const text = `name: faults-hpa
cluster: { mode: local }
services:
  backend:
    replicas: 1
    routes: { /: { cpuMs: 4 } }
    resources: { requests: { cpu: 50m } }
stages: [{ duration: 11s, rate: 60 }]
probes: off
autoscaler:
  scaleTargetRef: { apiVersion: apps/v1, kind: Deployment, name: backend }
  minReplicas: 1
  maxReplicas: 4
  metrics:
    - type: Resource
      resource: { name: cpu, target: { type: Utilization, averageUtilization: 50 } }
  syncPeriod: 1s
  metricResolution: 1s
faults:
  - { name: no-metrics, kind: metrics-outage, target: backend, at: 0.5s, duration: 5s }
`;
  const out = await runScenario(parseScenario(text, join(dir, 'faults-hpa.yaml')), { outDir: dir });
  const j = journal(dir);
  const on = j.events('fault.start')[0];
  const off = j.events('fault.end')[0];
  const during = j.events('hpa.status').filter((e) => e.time > on.time && e.time < off.time);
  t.true(during.length >= 3, `${during.length} syncs during the outage`);
  for (const s of during) {
    const active = (s.attrs.conditions as { type: string; status: string; reason: string }[]).find((c) => c.type === 'ScalingActive');
    t.deepEqual([active?.status, active?.reason], ['False', 'FailedGetResourceMetric']);
    t.is(s.attrs.desiredReplicas, 1);
  }
  t.true(j.events('hpa.warning').some((e) => e.attrs.reason === 'FailedGetResourceMetric' && e.time > on.time && e.time < off.time));
  t.is(j.events('service.scaled').filter((e) => e.time < off.time).length, 0, 'no scale change during the outage');
  const rescale = j.events('service.scaled').find((e) => e.time >= off.time);
  t.truthy(rescale, 'the HPA scales up once its metrics return: the outage held back a real decision');
  const f = out.result.faults![0];
  t.is(f.detectedBy, 'ScalingActive False (FailedGetResourceMetric)');
  // detected by the first sync after the outage began (the sync period itself is the HPA's, tested
  // with it): a bound in seconds here would be the event loop's lateness on a busy machine
  const firstSync = j.events('hpa.status').find((e) => e.time > on.time)!;
  t.is(f.detectS, Math.round(firstSync.time - on.time) / 1000, `detected ${f.detectS} s after the start; the first sync after it at ${((firstSync.time - on.time) / 1000).toFixed(3)} s`);
  t.regex(f.recoveredBy ?? '', /ScalingActive True/);
});

kernel('after a harness dies mid-fault, the next sweep continues the stopped pod, deletes the qdisc and the namespaces', async (t) => {
  const ledgers = tempDir('ls-faults-crash-');
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./helpers/crash-run.ts', import.meta.url))], {
    env: { ...process.env, LOADSCOPE_LEDGER_DIR: ledgers, LS_CRASH_RUN_DIR: tempDir('ls-faults-crash-run-') },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const seen: Record<string, unknown>[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the run never had both faults on')), 30_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      seen.push(JSON.parse(line) as Record<string, unknown>);
      if (seen.filter((r) => r.event === 'fault.start').length === 2) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const pid = Number(seen.find((r) => r.event === 'pod.ready' && r.pod === 'backend-1')!.pid);
  const veth = readdirSync('/sys/class/net').find((n) => /^lsv[0-9a-f]{6}\d+$/.test(n) && /tbf/.test(execFileSync('tc', ['qdisc', 'show', 'dev', n], { encoding: 'utf8' })));
  t.is(procState(pid), 'T', 'the paused pod is stopped');
  t.truthy(veth, 'a veth has the bandwidth fault\'s tbf');
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  await new Promise((r) => setTimeout(r, 300));
  t.is(procState(pid), 'T', 'the dead harness left its pod stopped');
  const swept = sweepStale(ledgers);
  t.log(swept.join('\n'));
  t.true(swept.some((l) => l.startsWith(`continued stopped process ${pid}`)));
  t.true(swept.some((l) => l.startsWith(`deleted the root qdisc of ${veth}`)));
  await new Promise((r) => setTimeout(r, 300));
  t.not(procState(pid), 'T');
  t.false(existsSync(`/sys/class/net/${veth}`));
  t.deepEqual(tcfaultPids(), [], 'the fault program died with its harness');
  t.deepEqual(readdirSync(ledgers).filter((x) => x.endsWith('.json')), []);
});

test.serial('on the loopback cluster: pod-kill, pod-pause (readiness takes the hung process out of the frontend\'s list) and http-errors act on backend processes; wire faults are skipped with a notice', async (t) => {
  const dir = tempDir('ls-faults-loopback-');
  const text = `name: faults-loopback
cluster: { mode: loopback }
services:
  backend:
    replicas: 3
    readinessProbe: { periodSeconds: 0.5, timeoutSeconds: 0.3, failureThreshold: 2 }
stages: [{ duration: 9s, rate: 100 }]
probes: off
faults:
  - { name: kill-one, kind: pod-kill, target: backend/backend-1, at: 1s }
  - { name: hang-one, kind: pod-pause, target: backend/backend-2, at: 1.5s, duration: 2.5s }
  - { name: errors, kind: http-errors, target: backend, at: 5s, duration: 3s, share: 0.5, status: 502 }
  - { name: lossy, kind: packet-loss, target: backend, at: 2s, duration: 1s, probability: 0.1 }
`;
  const out = await runScenario(parseScenario(text, join(dir, 'faults-loopback.yaml')), { outDir: dir });
  const j = journal(dir);
  t.is(j.events('pod.failed')[0]?.attrs.signal, 'SIGKILL');
  t.true(j.events('pod.ready').some((e) => e.attrs.pod === 'backend-4'), 'the killed process was replaced');
  t.deepEqual(out.result.faults!.map((f) => f.name), ['kill-one', 'hang-one', 'errors']);
  // the hung process: out of the frontend's list after its probe failed twice, back once it answers
  const pause = j.events('fault.start').find((e) => e.attrs.name === 'hang-one')!;
  const unready = j.events('pod.unready').find((e) => e.attrs.pod === 'backend-2');
  t.truthy(unready, 'the hung process was taken out by its readiness probe');
  const bound = 500 + 2 * 500 + 300;
  t.true(unready!.time - pause.time >= 500 && unready!.time - pause.time <= bound, `unready ${Math.round(unready!.time - pause.time)} ms after the pause (bound ${bound} ms)`);
  t.true(j.events('routing.update').some((e) => e.time >= unready!.time && !(e.attrs.pods as string[]).includes('backend-2')), 'the frontend\'s list left it');
  const back = j.events('pod.ready').find((e) => e.attrs.pod === 'backend-2' && e.attrs.recovered === true);
  t.truthy(back, 'it rejoined after SIGCONT');
  t.true(j.events('routing.update').some((e) => e.time >= back!.time && (e.attrs.pods as string[]).includes('backend-2')), 'the frontend\'s list has it again');
  const hang = out.result.faults![1];
  t.true(hang.detectS! >= 0.5 && hang.detectS! <= bound / 1000, `detected after ${hang.detectS} s`);
  t.not(hang.recoverS, null);
  const errs = out.result.faults![2];
  const inside = out.result.windows.filter((w) => w.t >= Math.ceil(errs.startS) && w.t + 1 <= Math.floor(errs.endS!));
  const share = inside.reduce((a, w) => a + w.errors, 0) / inside.reduce((a, w) => a + w.rps, 0);
  t.true(Math.abs(share - 0.5) < 0.12, `observed share ${share}`);
  t.true(out.result.notices.some((n) => /fault lossy \(packet-loss on backend\) skipped: its pods have no interface of their own/.test(n)), out.result.notices.join('\n'));
});
