// `loadscope compare`: per metric a verdict — regressed, improved or unchanged — from two runs'
// journals, with the change, its bootstrap interval and the minimum detectable change
// (stats.ts; the method in docs/compare.md).
import { LoadscopeError } from '../core/errors.ts';
import { formatChange, type CompareDoc, type CompareMetric, type CompareRun, type CompareTimeline, type MetricVerdict, type Verdict } from '../render/compare.ts';
import { histStrata, histStrataByPlan, OUTSIDE, planStage, ratioStrata, readRun, type RunData } from './compare-read.ts';
import { bootstrapQuantiles, bootstrapRatio, CONFIDENCE, estimateChange, histSeries, mdcCritical, planDraws, POWER, quantilesOfWindows, RESAMPLES, ratioOf, ratioSeries, SEED, seedOf, type ChangeKind, type HistStratum, type RatioStratum, type Replicates } from './stats.ts';

export type { CompareDoc, CompareMetric, MetricVerdict, Verdict } from '../render/compare.ts';

/** A kind of metric compare judges: its name (results.json-like path), unit, which way is better, how change is measured and the default threshold. */
export interface MetricKind {
  name: string;
  unit: string;
  better: 'lower' | 'higher';
  change: ChangeKind;
  /**
   * How large a change in the bad direction counts as a regression: a fraction of the baseline (relative) or of the unit
   * (absolute). null: reported with its change, interval and MDC, judged only when --threshold gives it one.
   */
  threshold: number | null;
  /** Why a metric has no default threshold (said in its note). */
  unjudged?: string;
  what: string;
}

/** Every metric compare knows, with its default threshold. Per-stage, per-interface and per-service metrics add a tag: `http.latencyMs.p99{stage:peak}`. */
export const METRICS: readonly MetricKind[] = [
  { name: 'http.latencyMs.p50', unit: 'ms', better: 'lower', change: 'relative', threshold: 0.2, what: 'median request latency, overall and per stage' },
  { name: 'http.latencyMs.p90', unit: 'ms', better: 'lower', change: 'relative', threshold: 0.35, what: '90th percentile latency, overall and per stage' },
  { name: 'http.latencyMs.p99', unit: 'ms', better: 'lower', change: 'relative', threshold: 0.35, what: '99th percentile latency, overall and per stage' },
  { name: 'http.rps', unit: 'req/s', better: 'higher', change: 'relative', threshold: 0.05, what: 'responses per second in the load stages (mean over windows)' },
  { name: 'http.errorRate', unit: 'ratio', better: 'lower', change: 'absolute', threshold: 0.005, what: 'errors over attempts (change in percentage points)' },
  { name: 'http.droppedRate', unit: 'ratio', better: 'lower', change: 'absolute', threshold: 0.005, what: 'open-model arrivals never sent over all arrivals (change in percentage points)' },
  { name: 'packet.latencyUs.p50', unit: 'µs', better: 'lower', change: 'relative', threshold: 0.5, what: 'median packet latency per interface (eBPF probes)' },
  {
    name: 'packet.latencyUs.p99',
    unit: 'µs',
    better: 'lower',
    change: 'relative',
    threshold: null,
    what: '99th percentile packet latency per interface (reported; judged with --threshold)',
    unjudged: 'not judged by default: a run-to-run shift of a few tenths of a percent of packets in the slow tail moves it several-fold (docs/compare.md); --threshold packet.latencyUs.p99=N% judges it',
  },
  { name: 'hpa.reactionS', unit: 's', better: 'lower', change: 'relative', threshold: 0.25, what: 'load step → first scale-up, per load step' },
  { name: 'service.cpuMsPerRequest', unit: 'ms', better: 'lower', change: 'relative', threshold: 0.25, what: 'CPU time per request served, per service' },
];

const KIND = new Map(METRICS.map((m) => [m.name, m]));

/** Fewer windows than this (in either run) give no interval and no verdict: a block bootstrap needs several blocks. */
export const MIN_WINDOWS = 10;

/** Thresholds by metric name, with or without a tag (the tagged one wins). */
export type Thresholds = Map<string, number>;

function distance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return d[b.length];
}

/** Parses `--threshold NAME=N%` options (NAME a metric of METRICS, optionally with `{tag:value}`); bad ones are a USAGE error naming the nearest metric. */
export function parseThresholds(specs: readonly string[]): Thresholds {
  const out: Thresholds = new Map();
  for (const spec of specs) {
    const m = /^\s*([A-Za-z0-9_.]+)(\{[^{}=]+:[^{}=]+\})?\s*=\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(spec);
    if (!m) throw new LoadscopeError('USAGE', `--threshold ${spec}: not NAME=N%`, { hint: 'e.g. --threshold http.latencyMs.p99=10% or --threshold "http.latencyMs.p50{stage:peak}=5%"' });
    if (!KIND.has(m[1])) {
      const near = [...KIND.keys()].sort((a, b) => distance(m[1], a) - distance(m[1], b))[0];
      throw new LoadscopeError('USAGE', `--threshold ${spec}: no metric "${m[1]}"`, { hint: `did you mean ${near}? compare knows ${[...KIND.keys()].join(', ')}` });
    }
    out.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]) / 100);
  }
  return out;
}

export interface CompareOptions {
  thresholds?: Thresholds;
  /** Accept runs that crashed (no end record) or failed. */
  allowCrashed?: boolean;
  resamples?: number;
}

/** The comparison and what its page draws. */
export interface Comparison {
  doc: CompareDoc;
  timelines: { baseline: CompareTimeline; candidate: CompareTimeline };
}

function runInfo(r: RunData): CompareRun {
  return {
    dir: r.dir,
    runId: r.header.runId,
    scenario: r.header.scenarioName,
    engine: r.header.engine,
    outcome: r.result.outcome,
    startedAt: r.result.startedAt,
    durationS: r.result.durationS,
    stages: r.result.stages.map((s) => ({ name: s.name, startS: s.startS, durationS: s.durationS ?? null })),
  };
}

/** Refuses a run that did not finish normally unless allowed; returns notes for runs that are usable but partial. */
function checkOutcome(r: RunData, role: string, allow: boolean): string[] {
  const o = r.result.outcome;
  if (o === 'crashed' || o === 'failed') {
    if (!allow) {
      throw new LoadscopeError('JOURNAL', `the ${role} run ${r.dir} ${o === 'crashed' ? 'crashed (its journal has no end record)' : 'failed'}`, {
        hint: 'compare complete runs; pass --allow-crashed to compare what it measured anyway',
      });
    }
    return [`the ${role} run ${o === 'crashed' ? 'crashed (no end record)' : 'failed'}: compared as far as it measured (--allow-crashed)`];
  }
  if (o === 'interrupted') return [`the ${role} run was interrupted: it covers less than its plan`];
  return [];
}

/** Compares two run directories. Throws a LoadscopeError for unusable input (exit 2). */
export function compareRunDirs(baselineDir: string, candidateDir: string, opts: CompareOptions = {}): Comparison {
  const base = readRun(baselineDir, 'baseline');
  const cand = readRun(candidateDir, 'candidate');
  return compareRuns(base, cand, opts);
}

/** Compares two runs already read. */
export function compareRuns(base: RunData, cand: RunData, opts: CompareOptions = {}): Comparison {
  const notes = [...checkOutcome(base, 'baseline', Boolean(opts.allowCrashed)), ...checkOutcome(cand, 'candidate', Boolean(opts.allowCrashed))];
  if (base.header.scenarioName !== cand.header.scenarioName) notes.push(`different scenarios: baseline ${base.header.scenarioName}, candidate ${cand.header.scenarioName} (compared anyway, stages matched by name)`);
  else if (base.header.scenarioText !== cand.header.scenarioText) notes.push(`same scenario name, different scenario text (${base.header.scenarioName}): compared anyway`);
  if (base.header.engine !== cand.header.engine) notes.push(`different engines: baseline ${base.header.engine}, candidate ${cand.header.engine}`);
  if (base.header.durationScale !== cand.header.durationScale) notes.push(`different --duration-scale: baseline ×${base.header.durationScale}, candidate ×${cand.header.durationScale}`);
  const B = opts.resamples ?? RESAMPLES;
  const thresholds = opts.thresholds ?? new Map();
  const metrics: CompareMetric[] = [];
  const onlyOne: string[] = [];

  const machine = machineShift(base, cand);
  const add = (kindName: string, tag: string | undefined, b: number | null, c: number | null, rb: Float64Array | undefined, rc: Float64Array | undefined, extra: { note?: string; samples?: { baseline: number; candidate: number }; mdcFloor?: number; windows?: number; machine?: boolean } = {}) => {
    const kind = KIND.get(kindName)!;
    const name = `${kind.name}${tag ? `{${tag}}` : ''}`;
    if (b === null || c === null || !Number.isFinite(b) || !Number.isFinite(c)) {
      if ((b === null || !Number.isFinite(b)) !== (c === null || !Number.isFinite(c))) onlyOne.push(`${name} (${b === null || !Number.isFinite(b) ? 'candidate' : 'baseline'} only)`);
      return;
    }
    const threshold = thresholds.get(name) ?? thresholds.get(kind.name) ?? kind.threshold;
    const reported = threshold === null;
    const est = rb && rc ? estimateChange(b, c, rb, rc, kind.change) : { change: kind.change === 'relative' ? (b > 0 ? c / b - 1 : c === b ? 0 : null) : c - b, interval: null, mdc: null };
    let mdc = est.mdc;
    if (extra.mdcFloor !== undefined) mdc = Math.max(mdc ?? 0, extra.mdcFloor);
    const m: CompareMetric = {
      name,
      unit: kind.unit,
      better: kind.better,
      baseline: b,
      candidate: c,
      change: est.change,
      changeKind: kind.change,
      interval: est.interval,
      mdc,
      threshold,
      verdict: 'unchanged',
      method: rb && rc ? 'block bootstrap' : 'one value per run',
      ...(extra.samples ? { samples: extra.samples } : {}),
    };
    const few = extra.windows !== undefined && extra.windows < MIN_WINDOWS;
    if (few) {
      m.interval = null;
      m.mdc = null;
    }
    const judged: { verdict: MetricVerdict; note?: string } = reported
      ? { verdict: 'reported', note: kind.unjudged }
      : few
        ? { verdict: 'unchanged', note: `${extra.windows} window(s): too few to judge (at least ${MIN_WINDOWS})` }
        : judge({ ...m, threshold }, { floor: extra.mdcFloor !== undefined && mdc === extra.mdcFloor });
    // CPU per request moves with the machine's cost of a wake-up (machineShift): a change is called only beyond the threshold plus that shift
    if (extra.machine && machine && threshold !== null && (judged.verdict === 'regressed' || judged.verdict === 'improved') && m.change !== null && Math.abs(m.change) <= threshold + Math.abs(machine.change)) {
      judged.verdict = 'unchanged';
      judged.note = `within the threshold plus the machine's own shift (its CPU per wake-up ${formatChange(machine.change, { changeKind: 'relative', unit: 'µs' })}): not called`;
    }
    m.verdict = judged.verdict;
    const note = [extra.note, judged.note].filter(Boolean).join('; ');
    if (note) m.note = note;
    metrics.push(m);
  };

  // HTTP latency: overall and per stage, one bootstrap per run
  const qs = [50, 90, 99];
  const qNames = ['http.latencyMs.p50', 'http.latencyMs.p90', 'http.latencyMs.p99'];
  const latB = histStrata(base.header, base.latency);
  const latC = histStrata(cand.header, cand.latency);
  const latPlan = planDraws(histSeries(latB), histSeries(latC), B, seedOf('http.latency'));
  const repB = inMs(bootstrapQuantiles(latB, qs, latPlan));
  const repC = inMs(bootstrapQuantiles(latC, qs, latPlan));
  const allB = latB.flatMap((s) => s.windows);
  const allC = latC.flatMap((s) => s.windows);
  const count = (ws: HistStratum['windows']) => ws.reduce((a, w) => a + w.total, 0);
  const tailNote = (q: number, nb: number, nc: number) => (Math.min(nb, nc) * (1 - q / 100) < 10 ? `p${q} rests on fewer than 10 requests beyond it` : undefined);
  if (allB.length || allC.length) {
    const vb = allB.length ? quantilesOfWindows(allB, qs) : null;
    const vc = allC.length ? quantilesOfWindows(allC, qs) : null;
    qs.forEach((q, i) =>
      add(qNames[i], undefined, vb && vb[i] / 1000, vc && vc[i] / 1000, repB.overall[i], repC.overall[i], { samples: { baseline: count(allB), candidate: count(allC) }, note: tailNote(q, count(allB), count(allC)), windows: Math.min(allB.length, allC.length) }),
    );
  }
  const stageNames = [...new Set([...latB.map((s) => s.name), ...latC.map((s) => s.name)])].filter((n) => n !== OUTSIDE);
  for (const st of stageNames) {
    const sb = latB.find((s) => s.name === st && s.windows.length);
    const sc = latC.find((s) => s.name === st && s.windows.length);
    const vb = sb ? quantilesOfWindows(sb.windows, qs) : null;
    const vc = sc ? quantilesOfWindows(sc.windows, qs) : null;
    const nb = sb ? count(sb.windows) : 0;
    const nc = sc ? count(sc.windows) : 0;
    qs.forEach((q, i) =>
      add(qNames[i], `stage:${st}`, vb && vb[i] / 1000, vc && vc[i] / 1000, repB.byStratum.get(st)?.[i], repC.byStratum.get(st)?.[i], { samples: { baseline: nb, candidate: nc }, note: tailNote(q, nb, nc), windows: Math.min(sb?.windows.length ?? 0, sc?.windows.length ?? 0) }),
    );
  }

  // throughput (load stages only) and error rate
  const ratio = (name: string, sb: RatioStratum[], sc: RatioStratum[], scale = 1, mdcFloor?: number) => {
    const plan = planDraws(ratioSeries(sb), ratioSeries(sc), B, seedOf(name));
    const rb = bootstrapRatio(sb, plan);
    const rc = bootstrapRatio(sc, plan);
    const scaled = (r: Replicates) => Float64Array.from(r.overall[0], (x) => x * scale);
    const vb = sb.some((s) => s.num.length) ? ratioOf(sb) * scale : null;
    const vc = sc.some((s) => s.num.length) ? ratioOf(sc) * scale : null;
    const n = (ss: RatioStratum[]) => ss.reduce((a, x) => a + x.num.length, 0);
    return { vb, vc, rb: scaled(rb), rc: scaled(rc), mdcFloor, windows: Math.min(n(sb), n(sc)) };
  };
  const inStage = (n: string) => n !== OUTSIDE;
  const ones = (m: Map<string, Map<number, number>>) => new Map([...m].map(([k, inner]) => [k, new Map([...inner.keys()].map((w) => [w, 1]))]));
  {
    const t = ratio('http.rps', ratioStrata(base.header, base.reqs, ones(base.reqs), inStage), ratioStrata(cand.header, cand.reqs, ones(cand.reqs), inStage));
    add('http.rps', undefined, t.vb, t.vc, t.rb, t.rc, { windows: t.windows });
  }
  {
    const attempts = (r: RunData) => {
      const m = new Map<string, Map<number, number>>();
      for (const src of [r.reqs, r.unanswered])
        for (const [st, inner] of src) {
          let o = m.get(st);
          if (!o) m.set(st, (o = new Map()));
          for (const [w, v] of inner) o.set(w, (o.get(w) ?? 0) + v);
        }
      return m;
    };
    const e = ratio('http.errorRate', ratioStrata(base.header, base.errors, attempts(base)), ratioStrata(cand.header, cand.errors, attempts(cand)));
    add('http.errorRate', undefined, e.vb, e.vc, e.rb, e.rc, { windows: e.windows });
  }
  {
    const dropped = (r: RunData) => {
      const h = r.result.http;
      const arrivals = h.requestsSent + h.dropped;
      return arrivals > 0 ? h.dropped / arrivals : null;
    };
    const db = dropped(base);
    const dc = dropped(cand);
    if ((db ?? 0) > 0 || (dc ?? 0) > 0) add('http.droppedRate', undefined, db ?? 0, dc ?? 0, undefined, undefined, { note: 'one count per run (no per-window data): judged by the threshold alone' });
  }

  // packet latency per interface
  for (const iface of [...new Set([...base.packet.keys(), ...cand.packet.keys()])].sort()) {
    const sb = base.packet.has(iface) ? histStrataByPlan(base.header, base.packet.get(iface)!) : [];
    const sc = cand.packet.has(iface) ? histStrataByPlan(cand.header, cand.packet.get(iface)!) : [];
    const wb = sb.flatMap((s) => s.windows);
    const wc = sc.flatMap((s) => s.windows);
    const pq = [50, 99];
    const plan = planDraws(histSeries(sb), histSeries(sc), B, seedOf(`packet ${iface}`));
    const rb = inMs(bootstrapQuantiles(sb, pq, plan, { perStage: false }));
    const rc = inMs(bootstrapQuantiles(sc, pq, plan, { perStage: false }));
    const vb = wb.length ? quantilesOfWindows(wb, pq) : null;
    const vc = wc.length ? quantilesOfWindows(wc, pq) : null;
    const samples = { baseline: count(wb), candidate: count(wc) };
    const windows = Math.min(wb.length, wc.length);
    add('packet.latencyUs.p50', `iface:${iface}`, vb && vb[0] / 1000, vc && vc[0] / 1000, rb.overall[0], rc.overall[0], { samples, windows });
    add('packet.latencyUs.p99', `iface:${iface}`, vb && vb[1] / 1000, vc && vc[1] / 1000, rb.overall[1], rc.overall[1], { samples, windows, note: tailNote(99, samples.baseline, samples.candidate) });
  }

  // HPA reaction per load step
  const steps = (r: RunData) => new Map((r.result.analysis?.scaleUp ?? []).map((s) => [s.stage, s.reactionS]));
  const hb = steps(base);
  const hc = steps(cand);
  for (const st of [...new Set([...hb.keys(), ...hc.keys()])]) {
    const b = hb.get(st) ?? null;
    const c = hc.get(st) ?? null;
    const sync = Math.max(base.hpaSyncS ?? 0, cand.hpaSyncS ?? 0);
    if (b === null && c === null) continue;
    if (b === null || c === null) {
      notes.push(`hpa.reactionS{stage:${st}}: the ${b === null ? 'baseline' : 'candidate'} did not scale up in this step`);
      continue;
    }
    add('hpa.reactionS', `stage:${st}`, b, c, undefined, undefined, { note: 'one value per run: judged by the threshold and one HPA sync period', mdcFloor: b > 0 && sync > 0 ? sync / b : undefined });
  }

  // CPU per request of each service
  for (const svc of [...new Set([...base.services.keys(), ...cand.services.keys()])].sort()) {
    const strata = (r: RunData): RatioStratum[] => {
      const s = r.services.get(svc);
      if (!s) return [];
      const num = new Map<string, Map<number, number>>();
      const den = new Map<string, Map<number, number>>();
      for (const [w, v] of s.served) {
        const st = planStage(r.header, w);
        if (!den.has(st)) den.set(st, new Map());
        if (!num.has(st)) num.set(st, new Map());
        den.get(st)!.set(w, v);
        num.get(st)!.set(w, (s.cpuS.get(w) ?? 0) * 1000);
      }
      return ratioStrata(r.header, num, den);
    };
    const sb = strata(base);
    const sc = strata(cand);
    const c = ratio(`cpu ${svc}`, sb, sc);
    const served = (ss: RatioStratum[]) => ss.reduce((a, s) => a + s.den.reduce((x, y) => x + y, 0), 0);
    add('service.cpuMsPerRequest', `service:${svc}`, c.vb, c.vc, c.rb, c.rc, { samples: { baseline: served(sb), candidate: served(sc) }, windows: c.windows, machine: true });
  }

  if (onlyOne.length) notes.push(`measured in one run only (no verdict): ${onlyOne.join(', ')}`);
  if (machine && Math.abs(machine.change) >= MACHINE_NOTE) {
    notes.push(`the machine's CPU per wake-up (machine.wake_cpu_us, median ${machine.baseline} → ${machine.candidate} µs) moved ${formatChange(machine.change, { changeKind: 'relative', unit: 'µs' })} between the runs: a service's CPU per request is called only beyond its threshold plus that (docs/compare.md)`);
  } else if (!machine) notes.push('no machine gauge in one of the runs (a run from before it, or of services not on this machine: a URL target, a remote cluster): CPU per request judged without the machine\'s own shift');
  const counts = { regressed: 0, improved: 0, unchanged: 0, reported: 0 };
  for (const m of metrics) counts[m.verdict]++;
  const doc: CompareDoc = {
    schemaVersion: 1,
    verdict: counts.regressed ? 'regressed' : counts.improved ? 'improved' : 'unchanged',
    counts,
    method: {
      name: 'block bootstrap',
      detail: `paired stage-stratified circular block bootstrap over 1 s windows (blocks drawn at the same places of each stage in both runs; ${B} resamples, seed ${SEED}); tails from the merged histograms; ${Math.round(CONFIDENCE * 100)}% percentile intervals of the change; minimum detectable change at ${Math.round(POWER * 100)}% power from the baseline's own window-to-window spread (its replicates' spread less the part the shared draws explain); a change is called beyond the MDC's critical value z_conf·√2·s (for relative changes z_conf/(z_conf + z_power) of the MDC's log, each direction on its own; absolute ones linearly; a one-value floor such as hpa.reactionS's sync period is its own critical value)`,
      resamples: B,
      confidence: CONFIDENCE,
      power: POWER,
      seed: SEED,
    },
    baseline: runInfo(base),
    candidate: runInfo(cand),
    machine,
    notes,
    metrics,
  };
  return { doc, timelines: { baseline: timeline(base), candidate: timeline(cand) } };
}

/** A shift of the machine's CPU per wake-up at least this large is named in the notes. */
const MACHINE_NOTE = 0.1;

/**
 * The machine's own shift between two runs: the change of the median of machine.wake_cpu_us (src/run/wake-gauge.ts)
 * over each run's windows inside its stages; null when a run has fewer than MIN_WINDOWS of them.
 */
export function machineShift(base: RunData, cand: RunData): CompareDoc['machine'] {
  const med = (r: RunData): number | null => {
    const v = [...r.wake].filter(([w]) => planStage(r.header, w) !== OUTSIDE).map(([, x]) => x).sort((a, b) => a - b);
    if (v.length < MIN_WINDOWS) return null;
    const h = v.length >> 1;
    return v.length % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
  };
  const b = med(base);
  const c = med(cand);
  if (b === null || c === null || b <= 0) return null;
  const round = (x: number) => Math.round(x * 10) / 10;
  return { metric: 'machine.wake_cpu_us', baseline: round(b), candidate: round(c), change: Math.round((c / b - 1) * 10000) / 10000 };
}

/** Replicates of a histogram in µs (or ns) as ms (or µs): the unit of the figures beside them. */
function inMs(r: Replicates): Replicates {
  const div = (xs: Float64Array[]) => xs.map((x) => x.map((v) => v / 1000));
  return { overall: div(r.overall), byStratum: new Map([...r.byStratum].map(([k, v]) => [k, div(v)])) };
}

/**
 * The verdict rule: a change in the bad direction is a regression when it exceeds both the threshold
 * and the MDC's critical value in that direction (mdcCritical: a true change of the MDC's size is then
 * called with 80% power), and (with an interval) the whole interval lies on the bad side of zero; the
 * same in the good direction is an improvement; anything else is unchanged. `floor`: the MDC is a
 * floor given for a one-value metric (one HPA sync period) and is its own critical value.
 */
export function judge(
  m: Pick<CompareMetric, 'better' | 'change' | 'interval' | 'mdc'> & { threshold: number } & Partial<Pick<CompareMetric, 'changeKind' | 'unit'>>,
  opts: { floor?: boolean } = {},
): { verdict: Verdict; note?: string } {
  if (m.change === null) return { verdict: 'unchanged', note: 'baseline is 0: no relative change' };
  const kind = m.changeKind ?? 'relative';
  const sign = m.better === 'lower' ? 1 : -1;
  const bad = sign * m.change;
  // the critical value for a change of direction `dir` (+1 up, −1 down), as a magnitude
  const critical = (dir: number) => (m.mdc === null ? 0 : opts.floor ? m.mdc : mdcCritical(m.mdc, kind, dir));
  const outside = (dir: number) => !m.interval || (dir > 0 ? Math.min(sign * m.interval[0], sign * m.interval[1]) > 0 : Math.max(sign * m.interval[0], sign * m.interval[1]) < 0);
  const crit = critical(Math.sign(m.change));
  const limit = Math.max(m.threshold, crit);
  if (bad > limit && outside(1)) return { verdict: 'regressed' };
  if (-bad > limit && outside(-1)) return { verdict: 'improved' };
  if (Math.abs(bad) <= m.threshold) return { verdict: 'unchanged' };
  const shown = formatChange(Math.sign(m.change) * crit, { changeKind: kind, unit: m.unit ?? '' });
  if (Math.abs(bad) <= crit) {
    return { verdict: 'unchanged', note: opts.floor ? `under ${shown}: one value per run, a change within its floor is not called` : `noise: a change under ${shown} (the critical value of this MDC) cannot be told from noise in these runs` };
  }
  return { verdict: 'unchanged', note: 'the 95% interval holds no change: not called' };
}

function timeline(r: RunData): CompareTimeline {
  const s = r.result.analysis?.series;
  const t = s?.t ?? r.result.windows.map((w) => w.t);
  const n = t.length;
  const cpu = [...r.services].sort(([a], [b]) => a.localeCompare(b)).map(([service, sw]) => ({
    service,
    values: t.map((w) => {
      const served = sw.served.get(w) ?? 0;
      return served > 0 ? Math.round(((sw.cpuS.get(w) ?? 0) * 1000 * 1000) / served) / 1000 : null;
    }),
  }));
  return {
    t,
    rps: s?.rps ?? r.result.windows.map((w) => w.rps),
    errors: s?.errors ?? r.result.windows.map((w) => w.errors),
    p50Ms: s?.p50Ms ?? r.result.windows.map((w) => w.latencyMs.p50),
    p99Ms: s?.p99Ms ?? r.result.windows.map((w) => w.latencyMs.p99),
    cpuMsPerRequest: cpu.map((c) => ({ service: c.service, values: c.values.slice(0, n) })),
    stages: r.result.stages.map((st) => ({ name: st.name, start: st.startS, end: st.startS + (st.durationS ?? 0) })),
  };
}
