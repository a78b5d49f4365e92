import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDuration } from '../../core/clock.ts';
import { LoadscopeError } from '../../core/errors.ts';
import { fig, renderCapacity } from '../../render/capacity.ts';
import { loadScenario } from '../../scenario/load.ts';
import type { CapacityDoc } from '../../verdict/capacity.ts';
import { OUTPUT_CLOSED, type Command } from '../command.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** A positive number option, or undefined when not given. */
function num(values: Record<string, unknown>, name: string, integer = false): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw new LoadscopeError('USAGE', `--${name} ${String(raw)} is not a ${integer ? 'whole ' : ''}number above 0`, { hint: 'run `loadscope capacity --help`' });
  }
  return v;
}

/** Prints the outcome of a search as a table and the figures. */
function printDoc(doc: CapacityDoc, log: (line: string) => void): void {
  const head = ['#', 'phase', 'offered/s', 'served/s', 'mean ms', 'p99 ms', 'N', 'verdict'];
  const rows = doc.steps.map((s) => [String(s.index), s.phase, fig(s.rate), fig(s.throughput), fig(s.latencyMs?.mean), fig(s.latencyMs?.p99), fig(s.concurrency), s.pass === null ? 'not judged' : s.pass ? 'pass' : 'FAIL']);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 || i === cells.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  log(line(head));
  for (const r of rows) log(line(r));
  log('');
  log(`max rate:  ${doc.maxRate === null ? 'none (no step passed)' : `${fig(doc.maxRate)} req/s`}${doc.firstFailingRate !== null ? ` (${fig(doc.firstFailingRate)} req/s failed)` : ''}, ${doc.replicas.service} at ${doc.replicas.count} replica(s)`);
  log(`knee:      ${doc.knee ? `${fig(doc.knee.rate)} req/s (mean latency ${fig(doc.knee.latencyMs)} ms)` : 'not reached in the steps'}`);
  const u = doc.usl;
  log(`USL:       ${u.ok ? `σ ${fig(u.sigma)}, κ ${fig(u.kappa)}, λ ${fig(u.lambda)}/s, peak ${u.peak ? `${fig(u.peak.throughput)} req/s at N=${fig(u.peak.concurrency)}` : 'none (κ ≈ 0)'}; R² ${fig(u.r2)}, RMSE ${fig(u.rmse)} req/s${u.note ? ` (${u.note})` : ''}` : `no fit: ${u.reason}`}`);
  const n = doc.replicasNeeded;
  if (n) {
    log(`replicas:  ${n.forThresholds} of ${n.service} for ${fig(n.rate)} req/s (${fig(n.perReplicaCapacity)} req/s each); the HPA would settle at ${n.hpa ? (n.hpa.desired ?? 'unknown') : 'n/a (no autoscaler)'}`);
    for (const m of n.hpa?.metrics ?? []) log(`             ${m.metric}: ${m.desired ?? '—'} (${m.note})`);
    log(`             assumption: ${n.assumption}`);
  }
  for (const note of doc.notes) log(`note:      ${note}`);
}

/** `loadscope capacity <scenario>`: the highest arrival rate meeting the scenario's thresholds (docs/capacity.md). */
export const capacity: Command = {
  name: 'capacity',
  usage: 'loadscope capacity <scenario.yaml> [--slo EXPR]… [--rate R] [--json] [--out DIR]',
  help: `loadscope capacity <scenario.yaml> [options]

Finds the highest open-model arrival rate at which the scenario's thresholds pass: short runs ("steps")
of the scenario at one constant rate each, the autoscaler off and the scaled service held at a fixed
replica count; the rate doubles until a step fails, then bisection narrows the bracket. Reports the
knee (where latency starts rising faster than throughput), a Universal Scalability Law fit of
throughput against concurrency, and with --rate how many replicas that rate needs. Writes
capacity.json and capacity.html, and every step's run directory under steps/.
  --slo EXPR          threshold judged per step (repeatable): "p(99) < 250" (http_req_duration) or
                      "metric=expression", e.g. "http_req_failed=rate < 0.01"; needed when the scenario
                      has no thresholds
  --step DURATION     length of each step (default 10s)
  --start R           first rate, req/s (default: the scenario's first open-model rate, else 10)
  --max-rate R        never offer more (default 20000)
  --precision P       stop bisecting when the bracket is narrower than P × its top (default 0.05)
  --max-steps N       at most N steps in all (default 14)
  --retries N         run a failed step that still served 95% of the offered rate again, up to N times
                      at the same rate; it fails only if every run fails (default 1: a busy machine
                      fails one step by accident, rarely two)
  --replicas N        replicas of the scaled service during the steps (default: its replicas: in the scenario)
  --keep-autoscaler   leave the scenario's autoscaler running during the steps
  --rate R            also say how many replicas R req/s needs and where the HPA spec would settle
  --out DIR           where to write (default reports/out/<UTC timestamp>-capacity-<name>)
  --json              print capacity.json to stdout (progress goes to stderr)
Ctrl-C stops the search and still writes what was found (exit 130).
Exit codes: 0 a passing rate was found, 99 no step passed, 2 unusable input, 130 interrupted.`,
  options: {
    slo: { type: 'string', multiple: true },
    step: { type: 'string' },
    start: { type: 'string' },
    'max-rate': { type: 'string' },
    precision: { type: 'string' },
    'max-steps': { type: 'string' },
    retries: { type: 'string' },
    replicas: { type: 'string' },
    'keep-autoscaler': { type: 'boolean' },
    rate: { type: 'string' },
    out: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run(positionals, values) {
    if (positionals.length !== 1) throw new LoadscopeError('USAGE', `capacity takes one scenario file, got ${positionals.length} argument(s)`, { hint: 'run `loadscope capacity --help`' });
    let stepMs: number | undefined;
    if (values.step !== undefined) {
      stepMs = parseDuration(String(values.step));
      if (stepMs === undefined) throw new LoadscopeError('USAGE', `--step ${String(values.step)} is not a duration`, { hint: 'write e.g. --step 10s or --step 1m' });
    }
    const opts = {
      stepMs,
      startRate: num(values, 'start'),
      maxRate: num(values, 'max-rate'),
      precision: num(values, 'precision'),
      maxSteps: num(values, 'max-steps', true),
      retries: values.retries === '0' ? 0 : num(values, 'retries', true),
      replicas: num(values, 'replicas', true),
      forRate: num(values, 'rate'),
      slo: (values.slo as string[] | undefined) ?? [],
      keepAutoscaler: Boolean(values['keep-autoscaler']),
    };
    const scenario = loadScenario(positionals[0]);
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    let out = resolve((values.out as string | undefined) ?? join(root, 'reports', 'out', `${stamp}-capacity-${scenario.spec.name}`));
    if (values.out === undefined) for (let n = 2; existsSync(out); n++) out = `${out.replace(/-\d+$/, '')}-${n}`;
    else if (existsSync(join(out, 'capacity.json'))) throw new LoadscopeError('USAGE', `${out} already holds a capacity search (capacity.json)`, { hint: 'choose another --out directory' });

    const json = Boolean(values.json);
    const log = json ? (l: string) => process.stderr.write(`${l}\n`) : (l: string) => console.log(l);
    const ac = new AbortController();
    // as `run`: the first SIGINT or SIGTERM stops, a second Ctrl-C quits without cleanup, SIGTERM never does
    let interrupts = 0;
    const onSigint = (signal: NodeJS.Signals) => {
      if (signal === 'SIGINT') interrupts++;
      if (interrupts >= 2) {
        process.stderr.write('quitting without cleanup; the next run removes what this one left\n');
        process.exit(130);
      }
      if (ac.signal.aborted) return;
      process.stderr.write('\ninterrupted: stopping the current step and writing what was found (Ctrl-C again to quit now)\n');
      ac.abort(new Error('interrupted'));
    };
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigint);
    const onOutputClosed = () => {
      if (!ac.signal.aborted) ac.abort(new Error('output closed'));
    };
    process.on(OUTPUT_CLOSED, onOutputClosed);
    let doc: CapacityDoc;
    try {
      log(`capacity: ${scenario.spec.name} (${positionals[0]}) → ${out}`);
      // loaded when the command runs: the search drives whole runs (run/, every part a run wires)
      const { capacitySearch } = await import('../../verdict/capacity.ts');
      doc = await capacitySearch(scenario, { ...opts, outDir: out, signal: ac.signal, onProgress: log, onStatus: (l) => process.stderr.write(`  ${l}\n`) });
    } finally {
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigint);
      process.off(OUTPUT_CLOSED, onOutputClosed);
    }
    mkdirSync(out, { recursive: true });
    const jsonPath = join(out, 'capacity.json');
    const html = join(out, 'capacity.html');
    writeFileSync(jsonPath, JSON.stringify(doc, null, 2) + '\n');
    writeFileSync(html, renderCapacity(doc));
    log('');
    printDoc(doc, log);
    log(`capacity: ${jsonPath}\npage:     ${html}`);
    if (json) console.log(JSON.stringify(doc, null, 2));
    if (doc.stopped === 'interrupted') return 130;
    return doc.maxRate === null ? 99 : 0;
  },
};
