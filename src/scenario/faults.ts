import { z } from 'zod';
import type { FaultKind, FaultPlan } from '../core/faults.ts';
import { boundedDuration, LIMITS, safeName } from './limits.ts';

// The scenario's `faults:` list: scheduled faults, each with a name, a kind, a target (a service or
// `service/pod-N`), a start offset and, where it applies, a duration. Checks that need the rest of the
// scenario (services, run length, overlaps, autoscaler, cluster mode) are in checkFaults. docs/faults.md.

const duration = boundedDuration(LIMITS.totalDurationMs);
const TARGET_RE = /^([a-z][a-z0-9-]*)(?:\/([a-z][a-z0-9-]*-\d+))?$/;

const target = z
  .string()
  .regex(TARGET_RE, { message: 'a target is a service ("backend") or one of its pods ("backend/backend-2")' })
  .meta({ description: 'A service, or one of its pods as service/pod ("backend/backend-2").' });

const common = {
  name: safeName.meta({ description: 'The fault\'s name on the timeline and in results.json.' }),
  target,
  at: duration.meta({ description: 'Offset from the start of the run.' }),
};
const lasting = { ...common, duration: duration.meta({ description: 'How long the fault lasts; it is undone then (and at the run end at the latest).' }) };

/** A bandwidth such as "1mbit", "500kbit", "2gbit" (tc's units: k = 1000) or a number of bits/s. */
const bandwidth = z
  .union([z.string(), z.number()])
  .meta({ description: 'Rate cap as tc writes it: "800kbit", "10mbit", or bits/s as a number.' })
  .transform((v, ctx) => {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(bit|kbit|mbit|gbit)?\s*$/.exec(String(v));
    const bits = m ? Number(m[1]) * { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 }[(m[2] ?? 'bit') as 'bit'] : NaN;
    if (!(bits >= 8000 && bits <= 100e9)) {
      ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not a rate between 8kbit and 100gbit; write e.g. "1mbit"` });
      return z.NEVER;
    }
    return Math.round(bits);
  });

const share = z.number().gt(0, { message: 'must be in (0, 1]' }).max(1, { message: 'must be in (0, 1]' });

const fault = z.discriminatedUnion('kind', [
  z.strictObject({ ...common, kind: z.literal('pod-kill').meta({ description: 'SIGKILL one pod (the first of the service, or the named one); the replica set replaces it.' }) }),
  z.strictObject({ ...lasting, kind: z.literal('pod-pause').meta({ description: 'SIGSTOP one pod for the duration (a hung pod); readiness takes it out of routing, SIGCONT at the end.' }) }),
  z.strictObject({ ...lasting, kind: z.literal('packet-loss'), probability: share.meta({ description: 'Share of packets dropped both ways on the pods\' veths, (0, 1].' }) }),
  z.strictObject({ ...lasting, kind: z.literal('bandwidth'), rate: bandwidth }),
  z.strictObject({ ...lasting, kind: z.literal('partition'), peer: z.string().meta({ description: 'The other service: every packet between the two is dropped.' }) }),
  z.strictObject({
    ...lasting,
    kind: z.literal('http-errors'),
    share: share.meta({ description: 'Share of requests the backend answers with `status`, (0, 1].' }),
    status: z.number().int().min(400).max(599).default(503),
  }),
  z.strictObject({
    ...lasting,
    kind: z.literal('http-delay'),
    delay: duration.meta({ description: 'Latency added to each response.' }),
    jitter: z.union([z.literal(0), duration]).default(0).meta({ description: 'Uniform extra latency in [0, jitter).' }),
  }),
  z.strictObject({ ...lasting, kind: z.literal('metrics-outage').meta({ description: 'The autoscaler\'s metric source fails: FailedGetResourceMetric, no rescale.' }) }),
]);

export const faultsSchema = z.array(fault).max(100).default([]).meta({ description: 'Scheduled faults (docs/faults.md): pod-kill, pod-pause, packet-loss, bandwidth, partition, http-errors, http-delay, metrics-outage.' });

export type FaultSpec = z.output<typeof fault>;

/** Kinds that act on the backend's own request handling (its fault endpoint): bundled backends only. */
const HTTP_KINDS: readonly string[] = ['http-errors', 'http-delay'];
/** Kinds that share one switch per target, so two of them must not overlap there. */
const family = (k: FaultKind) => (HTTP_KINDS.includes(k) ? 'http' : k === 'packet-loss' || k === 'partition' ? 'drop' : k);

/**
 * Problems of the faults against the rest of the scenario: unknown services, starts at or after the end
 * of the run, two faults of one family overlapping on one target, partition peers, metrics-outage
 * without an autoscaler on its target, names used twice, a pod target in Kubernetes mode (`mode`).
 * `add(path, message)` reports each.
 */
export function checkFaults(
  faults: readonly FaultSpec[],
  s: { services: string[]; totalMs: number; autoscaled?: string; mode?: string },
  add: (path: (string | number)[], message: string) => void,
): void {
  const names = new Map<string, number>();
  faults.forEach((f, i) => {
    const [, service, pod] = TARGET_RE.exec(f.target) ?? [];
    if (names.has(f.name)) add([i, 'name'], `fault name "${f.name}" is already used by fault ${names.get(f.name)! + 1}`);
    names.set(f.name, i);
    if (!s.services.includes(service)) add([i, 'target'], s.services.length ? `no service is named "${service}" (services: ${s.services.join(', ')})` : 'faults need the bundled services (this scenario targets a URL)');
    else if (pod !== undefined && s.mode === 'kubernetes') add([i, 'target'], `in Kubernetes mode a ReplicaSet names the pods (${service}-<hash>-<suffix>): target the service "${service}" (pod-kill and pod-pause take its first ready pod by name)`);
    else if (pod !== undefined && !pod.startsWith(`${service}-`)) add([i, 'target'], `pod "${pod}" is not a pod of ${service} (its pods are ${service}-1, ${service}-2, …)`);
    if (f.at >= s.totalMs) add([i, 'at'], `the fault starts at ${f.at / 1000}s, at or after the end of the run (${s.totalMs / 1000}s)`);
    if (f.kind === 'partition') {
      if (!s.services.includes(f.peer)) add([i, 'peer'], `no service is named "${f.peer}" (services: ${s.services.join(', ')})`);
      else if (f.peer === service) add([i, 'peer'], 'a partition is between two different services');
    }
    if (HTTP_KINDS.includes(f.kind) && service !== 'backend' && s.services.includes(service)) add([i, 'target'], `${f.kind} acts on the backend's responses; target backend or one of its pods`);
    if (f.kind === 'metrics-outage') {
      if (s.autoscaled === undefined) add([i, 'kind'], 'metrics-outage needs an autoscaler section');
      else if (service !== s.autoscaled) add([i, 'target'], `metrics-outage targets the autoscaled service (${s.autoscaled})`);
    }
    if (f.kind === 'pod-kill' || f.kind === 'metrics-outage') {
      if (f.kind === 'metrics-outage' && pod !== undefined) add([i, 'target'], 'metrics-outage targets a service, not a pod');
    }
  });
  // overlaps: same family on targets that share a pod, at overlapping times
  for (let i = 0; i < faults.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = faults[j];
      const b = faults[i];
      if (a.kind === 'pod-kill' || b.kind === 'pod-kill' || family(a.kind) !== family(b.kind)) continue;
      const [, sa, pa] = TARGET_RE.exec(a.target) ?? [];
      const [, sb, pb] = TARGET_RE.exec(b.target) ?? [];
      if (sa !== sb || (pa !== undefined && pb !== undefined && pa !== pb)) continue;
      const endA = a.at + ('duration' in a ? a.duration : 0);
      const endB = b.at + ('duration' in b ? b.duration : 0);
      if (a.at < endB && b.at < endA) add([i, 'at'], `fault "${b.name}" overlaps fault "${a.name}" (${a.kind}) on ${sb}: two ${family(b.kind) === 'http' ? 'http-errors/http-delay faults' : `${b.kind} faults`} cannot act on one target at once`);
    }
  }
}

/** The faults as the run plans them: durations scaled like the stages, targets split. */
export function planFaults(faults: readonly FaultSpec[], scale: number): FaultPlan[] {
  return faults.map((f) => {
    const [, service, pod] = TARGET_RE.exec(f.target)!;
    const p: FaultPlan = { name: f.name, kind: f.kind, target: { service, ...(pod !== undefined ? { pod } : {}) }, atMs: f.at * scale };
    if ('duration' in f) p.durationMs = Math.max(1, f.duration * scale);
    if (f.kind === 'packet-loss') p.probability = f.probability;
    if (f.kind === 'bandwidth') p.rateBitsPerSecond = f.rate;
    if (f.kind === 'partition') p.peer = f.peer;
    if (f.kind === 'http-errors') Object.assign(p, { share: f.share, status: f.status });
    if (f.kind === 'http-delay') Object.assign(p, { delayMs: f.delay, jitterMs: f.jitter });
    return p;
  });
}
