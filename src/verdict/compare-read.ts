// Reads one run directory for `loadscope compare`: results.json's figures and the per-window data the
// statistics resample (analyze/windows.ts). A run writes both at its end (results.json and
// windows.json, and `loadscope report` rewrites them), so compare reads two small files; when
// windows.json is missing, of another version, or was not written with the journal and results.json
// that are there now, one streamed pass over the journal gives the same data.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LoadscopeError } from '../core/errors.ts';
import type { RunResult } from '../core/result.ts';
import type { RunHeader } from '../core/types.ts';
import { scanJournal } from '../journal/journal.ts';
import { ResultBuilder } from '../analyze/results.ts';
import { mergeSparse } from '../analyze/hist.ts';
import { decodeWindows, OUTSIDE, WINDOWS_FILE, WindowCollector, type RunWindows } from '../analyze/windows.ts';
import type { HistStratum, RatioStratum } from './stats.ts';
import type { SparseHist } from '../core/histogram.ts';

export { ifaceKey, OUTSIDE, type ServiceWindows } from '../analyze/windows.ts';

/** One run as compare sees it: the header, results.json's figures, and the per-window data by window index (seconds since the start). */
export interface RunData extends RunWindows {
  dir: string;
  header: RunHeader;
  result: RunResult;
  /** Where the per-window data came from: the run's windows.json, or its journal. */
  source: 'windows.json' | 'journal';
}

/**
 * Reads a run directory: results.json with windows.json when both are there and current, else the
 * journal (events.ndjson). Throws a LoadscopeError (exit 2) when the directory holds neither.
 */
export function readRun(dirArg: string, role: string): RunData {
  const dir = resolve(dirArg);
  if (!existsSync(dir)) throw new LoadscopeError('FILE_NOT_FOUND', `${role} ${dirArg}: no such directory`, { hint: 'pass a run directory made by `loadscope run` (it holds events.ndjson)' });
  if (!statSync(dir).isDirectory()) throw new LoadscopeError('USAGE', `${role} ${dirArg} is not a directory`, { hint: 'pass a run directory made by `loadscope run`, not a file in it' });
  const journal = join(dir, 'events.ndjson');
  const saved = readSaved(dir, journal);
  if (saved) return saved;
  if (!existsSync(journal)) {
    const only = existsSync(join(dir, 'results.json'));
    throw new LoadscopeError('JOURNAL', `${role} ${dirArg} holds no events.ndjson${only ? ' (only results.json)' : ''}`, {
      hint: only
        ? `compare resamples per-window histograms, which results.json lacks: keep events.ndjson with the run, or ${WINDOWS_FILE} (written beside results.json by \`loadscope run\` and \`loadscope report\`)`
        : 'pass a run directory made by `loadscope run`',
    });
  }
  const b = new ResultBuilder();
  const c = new WindowCollector();
  scanJournal(
    journal,
    (r) => {
      b.add(r);
      c.add(r);
    },
    b.raw(),
  );
  const { header, windows } = c.finish();
  if (!header) throw new LoadscopeError('JOURNAL', `${role} ${dirArg}: the journal has no run header`, { hint: 'the run failed before it started; nothing was measured' });
  let result: RunResult;
  try {
    result = b.finish();
  } catch (cause) {
    throw new LoadscopeError('JOURNAL', `${role} ${dirArg}: the journal cannot be analysed`, { cause, hint: 'rebuild it with `loadscope report` to see what is wrong, or re-run the scenario' });
  }
  return { dir, header, result, ...windows, source: 'journal' };
}

const sizeOf = (path: string): number | undefined => {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
};

/**
 * results.json and windows.json, when windows.json is this version's and was written with the
 * results.json and the journal that are there now (their sizes as it recorded them; a run without
 * its journal any more is read from the two files alone). Undefined otherwise: read the journal.
 */
function readSaved(dir: string, journal: string): RunData | undefined {
  const resultsPath = join(dir, 'results.json');
  let text: string;
  let resultsText: string;
  try {
    text = readFileSync(join(dir, WINDOWS_FILE), 'utf8');
    resultsText = readFileSync(resultsPath, 'utf8');
  } catch {
    return undefined;
  }
  const saved = decodeWindows(text);
  if (!saved || Buffer.byteLength(resultsText) !== saved.meta.resultsBytes) return undefined;
  const journalBytes = sizeOf(journal);
  if (journalBytes !== undefined && journalBytes !== saved.meta.journalBytes) return undefined;
  let result: RunResult;
  try {
    result = JSON.parse(resultsText) as RunResult;
  } catch {
    return undefined;
  }
  if (result?.runId !== saved.meta.header.runId) return undefined;
  return { dir, header: saved.meta.header, result, ...saved.windows, source: 'windows.json' };
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
