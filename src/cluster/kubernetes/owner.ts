// Who owns a run's objects in a cluster, and whether that owner still lives: what the next run's sweep
// decides on. The resource ledger (core/ledger.ts) knows local things only; a cluster keeps its own
// record, on the objects themselves.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { processStartTime } from '../../core/ledger.ts';

/** Annotation: the owning process as JSON ({ host, boot, pid, startTime }). */
export const OWNER_ANNOTATION = 'loadscope.io/owner';
/** Annotation: when the owner last said it is alive (ISO time), renewed every HEARTBEAT_MS. */
export const HEARTBEAT_ANNOTATION = 'loadscope.io/heartbeat';
export const HEARTBEAT_MS = 30_000;
/** A run on another machine whose heartbeat is older than this is taken for dead. */
export const STALE_MS = 5 * 60_000;

/** The process that runs: machine (hostname and boot id, so a reboot is a new machine) and pid with its start time. */
export interface Owner {
  host: string;
  boot: string;
  pid: number;
  startTime: string;
}

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}

/** This process as an owner. */
export function self(): Owner {
  return { host: hostname(), boot: bootId(), pid: process.pid, startTime: processStartTime(process.pid) ?? '' };
}

/**
 * Whether the run that wrote these annotations is gone: on this machine (same host and boot), when
 * its process no longer runs (pid and start time); elsewhere, when its heartbeat is older than
 * STALE_MS. Objects without an owner annotation are never taken for dead (not ours to judge).
 */
export function ownerDead(annotations: Record<string, string> | undefined, nowMs = Date.now()): { dead: boolean; why: string } {
  const raw = annotations?.[OWNER_ANNOTATION];
  if (!raw) return { dead: false, why: 'no owner recorded' };
  let o: Partial<Owner>;
  try {
    o = JSON.parse(raw) as Partial<Owner>;
  } catch {
    return { dead: false, why: 'owner unreadable' };
  }
  const me = self();
  if (o.host === me.host && o.boot === me.boot && typeof o.pid === 'number') {
    const alive = processStartTime(o.pid) === o.startTime;
    return alive ? { dead: false, why: `process ${o.pid} still runs` } : { dead: true, why: `process ${o.pid} on this machine is gone` };
  }
  const beat = Date.parse(annotations?.[HEARTBEAT_ANNOTATION] ?? '');
  if (Number.isFinite(beat) && nowMs - beat <= STALE_MS) return { dead: false, why: `heartbeat ${Math.round((nowMs - beat) / 1000)} s ago` };
  const host = o.host ?? 'another machine';
  return { dead: true, why: Number.isFinite(beat) ? `no heartbeat from ${host} for ${Math.round((nowMs - beat) / 1000)} s` : `no heartbeat from ${host}` };
}
