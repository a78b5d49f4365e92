// Reads one run directory for `loadscope compare`: a single pass over its journal feeds the
// ResultBuilder (the run-level figures results.json has) and keeps the per-window data the
// statistics resample — latency histograms per stage, responses and errors, packet latency per
// interface, CPU and requests served per service.
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { decodeSparse, type SparseHist } from '../core/histogram.ts';
import { LoadscopeError } from '../core/errors.ts';
import type { RunResult } from '../core/result.ts';
import type { JournalRecord, RunHeader, Sample } from '../core/types.ts';
import { scanJournal } from '../journal/journal.ts';
import { ResultBuilder } from '../analyze/results.ts';
import { mergeSparse } from '../analyze/hist.ts';
import { inDefaultLayout, type HistStratum, type RatioStratum } from './stats.ts';

/** The stratum of windows outside every stage (before the first, the drain after the last). */
export const OUTSIDE = '';

/** Per-window CPU seconds and requests served of one service (summed over its pods). */
export interface ServiceWindows {
  cpuS: Map<number, number>;
  served: Map<number, number>;
}

/** One run as compare sees it: the header, results.json's figures, and the per-window data by window index (seconds since the start). */
export interface RunData {
  dir: string;
  header: RunHeader;
  result: RunResult;
  /** http.latency_us per stage tag, per window. */
  latency: Map<string, Map<number, SparseHist[]>>;
  /** Responses per stage tag, per window. */
  reqs: Map<string, Map<number, number>>;
  /** Errors per stage tag, per window; `unanswered` are those that were never answered (timeouts, connection errors). */
  errors: Map<string, Map<number, number>>;
  unanswered: Map<string, Map<number, number>>;
  /** probe.pkt_latency_ns per interface (the local cluster's run tag taken out of its name), per window. */
  packet: Map<string, Map<number, SparseHist[]>>;
  services: Map<string, ServiceWindows>;
  /** The HPA's sync period in seconds (null: no autoscaler). */
  hpaSyncS: number | null;
}

/** An interface name without the local cluster's per-run tag (lsb<tag>, lsv<tag><n>: src/cluster/local/net.ts), so two runs' interfaces match. */
export function ifaceKey(iface: string): string {
  return iface.replace(/^(ls[bv])[0-9a-f]{6}/, '$1*');
}

const UNANSWERED = new Set(['timeout', 'conn']);

const bump = (m: Map<string, Map<number, number>>, key: string, w: number, v: number) => {
  let inner = m.get(key);
  if (!inner) m.set(key, (inner = new Map()));
  inner.set(w, (inner.get(w) ?? 0) + v);
};

const push = (m: Map<string, Map<number, SparseHist[]>>, key: string, w: number, h: SparseHist) => {
  let inner = m.get(key);
  if (!inner) m.set(key, (inner = new Map()));
  const list = inner.get(w);
  if (!list) inner.set(w, [h]);
  else {
    list.push(h);
    if (list.length > 8) inner.set(w, [mergeSparse(list)]);
  }
};

/**
 * Reads a run directory (events.ndjson is what counts; results.json is not needed). Throws a
 * LoadscopeError (exit 2) when the directory or its journal is missing or unreadable.
 */
export function readRun(dirArg: string, role: string): RunData {
  const dir = resolve(dirArg);
  if (!existsSync(dir)) throw new LoadscopeError('FILE_NOT_FOUND', `${role} ${dirArg}: no such directory`, { hint: 'pass a run directory made by `loadscope run` (it holds events.ndjson)' });
  if (!statSync(dir).isDirectory()) throw new LoadscopeError('USAGE', `${role} ${dirArg} is not a directory`, { hint: 'pass a run directory made by `loadscope run`, not a file in it' });
  const journal = join(dir, 'events.ndjson');
  if (!existsSync(journal)) {
    const only = existsSync(join(dir, 'results.json'));
    throw new LoadscopeError('JOURNAL', `${role} ${dirArg} holds no events.ndjson${only ? ' (only results.json)' : ''}`, {
      hint: only ? 'compare resamples the per-window histograms of the journal; results.json alone lacks them — keep events.ndjson with the run' : 'pass a run directory made by `loadscope run`',
    });
  }
  const b = new ResultBuilder();
  let header: (RunHeader & { type: 'run' }) | undefined;
  const early: Sample[] = [];
  const data = {
    latency: new Map<string, Map<number, SparseHist[]>>(),
    reqs: new Map<string, Map<number, number>>(),
    errors: new Map<string, Map<number, number>>(),
    unanswered: new Map<string, Map<number, number>>(),
    packet: new Map<string, Map<number, SparseHist[]>>(),
    services: new Map<string, ServiceWindows>(),
  };
  const prev = new Map<string, number>();
  let hpaSyncS: number | null = null;

  const counter = (s: Sample, w: number, field: 'cpuS' | 'served') => {
    const key = `${s.metric}\u0000${s.tags.service}\u0000${s.tags.pod}`;
    const last = prev.get(key);
    prev.set(key, s.value);
    if (last === undefined) return;
    const delta = s.value >= last ? s.value - last : s.value;
    let sw = data.services.get(s.tags.service);
    if (!sw) data.services.set(s.tags.service, (sw = { cpuS: new Map(), served: new Map() }));
    sw[field].set(w, (sw[field].get(w) ?? 0) + delta);
  };

  const sample = (s: Sample) => {
    const w = Math.floor((s.time - header!.startedAt) / 1000);
    if (w < 0) return;
    const stage = s.tags.stage ?? OUTSIDE;
    switch (s.metric) {
      case 'http.latency_us':
        if (s.hist) push(data.latency, stage, w, inDefaultLayout(decodeSparse(s.hist)));
        return;
      case 'http.reqs':
        bump(data.reqs, stage, w, s.value);
        return;
      case 'http.errors':
        bump(data.errors, stage, w, s.value);
        if (UNANSWERED.has(s.tags.kind ?? '')) bump(data.unanswered, stage, w, s.value);
        return;
      case 'probe.pkt_latency_ns':
        if (s.hist && s.tags.iface) push(data.packet, ifaceKey(s.tags.iface), w, inDefaultLayout(decodeSparse(s.hist)));
        return;
      case 'pod.cpu_seconds':
        if (s.tags.service && s.tags.pod) counter(s, w, 'cpuS');
        return;
      case 'pod.requests_served':
        if (s.tags.service && s.tags.pod) counter(s, w, 'served');
        return;
    }
  };

  const onRecord = (r: JournalRecord) => {
    b.add(r);
    if (r.type === 'run') {
      if (header) return;
      header = r;
      for (const s of early.splice(0)) sample(s);
    } else if (r.type === 'sample') {
      if (header) sample(r);
      else early.push(r);
    } else if (r.type === 'event' && r.kind === 'hpa.start' && typeof r.attrs.syncPeriodMs === 'number') {
      hpaSyncS ??= r.attrs.syncPeriodMs / 1000;
    }
  };
  scanJournal(journal, onRecord, b.raw());
  if (!header) throw new LoadscopeError('JOURNAL', `${role} ${dirArg}: the journal has no run header`, { hint: 'the run failed before it started; nothing was measured' });
  let result: RunResult;
  try {
    result = b.finish();
  } catch (cause) {
    throw new LoadscopeError('JOURNAL', `${role} ${dirArg}: the journal cannot be analysed`, { cause, hint: 'rebuild it with `loadscope report` to see what is wrong, or re-run the scenario' });
  }
  return { dir, header, result, ...data, hpaSyncS };
}

/** The stage a window belongs to by the run's plan (its middle), or OUTSIDE. */
export function planStage(header: RunHeader, w: number): string {
  const mid = w * 1000 + 500;
  return header.plan.find((p) => mid >= p.startMs && mid < p.startMs + p.durationMs)?.name ?? OUTSIDE;
}

/** Stage names in the plan's order, then OUTSIDE. */
function stageOrder(header: RunHeader, names: Iterable<string>): string[] {
  const plan = header.plan.map((p) => p.name);
  const rank = (n: string) => (n === OUTSIDE ? plan.length + 1 : plan.includes(n) ? plan.indexOf(n) : plan.length);
  return [...names].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

const byWindow = <T>(m: Map<number, T>): [number, T][] => [...m].sort((a, b) => a[0] - b[0]);

/** Histogram strata from per-stage window lists (windows without counts left out). */
export function histStrata(header: RunHeader, m: Map<string, Map<number, SparseHist[]>>): HistStratum[] {
  return stageOrder(header, m.keys()).map((name) => ({
    name,
    windows: byWindow(m.get(name)!)
      .map(([, list]) => (list.length === 1 ? list[0] : mergeSparse(list)))
      .filter((h) => h.total > 0),
  }));
}

/** Histogram strata by the plan's stages from one per-window map (signals that carry no stage tag). */
export function histStrataByPlan(header: RunHeader, m: Map<number, SparseHist[]>): HistStratum[] {
  const by = new Map<string, Map<number, SparseHist[]>>();
  for (const [w, list] of m) {
    const st = planStage(header, w);
    let inner = by.get(st);
    if (!inner) by.set(st, (inner = new Map()));
    inner.set(w, list);
  }
  return histStrata(header, by);
}

/** Ratio strata: per stage, one entry per window that has a denominator entry. */
export function ratioStrata(header: RunHeader, num: Map<string, Map<number, number>>, den: Map<string, Map<number, number>>, stages?: (name: string) => boolean): RatioStratum[] {
  return stageOrder(header, den.keys())
    .filter((name) => !stages || stages(name))
    .map((name) => {
      const ws = byWindow(den.get(name)!);
      const n = num.get(name);
      return { name, num: ws.map(([w]) => n?.get(w) ?? 0), den: ws.map(([, d]) => d) };
    });
}
