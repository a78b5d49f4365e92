import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LoadscopeError } from '../../core/errors.ts';
import { formatMetric, renderCompare } from '../../render/compare.ts';
import { compareRunDirs, METRICS, parseThresholds } from '../../verdict/compare.ts';
import type { Command } from '../command.ts';

const pct = (x: number) => `${Number((x * 100).toPrecision(3))}%`;

/** `loadscope compare <baseline-rundir> <candidate-rundir>`: per-metric verdicts across two runs (docs/compare.md). */
export const compare: Command = {
  name: 'compare',
  usage: 'loadscope compare <baseline-rundir> <candidate-rundir> [--out DIR] [--threshold NAME=N%]… [--allow-crashed]',
  help: `loadscope compare <baseline-rundir> <candidate-rundir> [options]

Compares two runs from their journals (events.ndjson) and calls each metric regressed, improved or
unchanged (one without a threshold is reported, not judged), with the change, its 95% interval
(paired, stage-stratified block bootstrap over the 1 s windows) and the minimum detectable change
of the baseline. Prints a table and writes compare.json and compare.html (both runs' timelines
overlaid).
  --out DIR              where to write compare.json and compare.html (default: the candidate's run directory)
  --threshold NAME=N%    how large a change counts (repeatable); NAME is a metric, optionally with its tag,
                         e.g. http.latencyMs.p99=10% or "http.latencyMs.p50{stage:peak}=5%"; for rates
                         (errorRate, droppedRate) N% is percentage points. Defaults:
${METRICS.map((m) => `                           ${m.name.padEnd(26)} ${m.threshold === null ? 'none: reported, not judged' : `${pct(m.threshold)}${m.change === 'absolute' ? ' (points)' : ''}`}`).join('\n')}
  --allow-crashed        also compare a run that crashed (no end record) or failed
Exit codes: 0 nothing regressed, 99 something regressed, 2 unusable input. See docs/compare.md.`,
  options: {
    out: { type: 'string' },
    threshold: { type: 'string', multiple: true },
    'allow-crashed': { type: 'boolean' },
  },
  async run(positionals, values) {
    if (positionals.length !== 2) throw new LoadscopeError('USAGE', `compare takes a baseline and a candidate run directory, got ${positionals.length} argument(s)`, { hint: 'run `loadscope compare --help`' });
    const thresholds = parseThresholds((values.threshold as string[] | undefined) ?? []);
    const { doc, timelines } = compareRunDirs(positionals[0], positionals[1], { thresholds, allowCrashed: Boolean(values['allow-crashed']) });
    const out = resolve((values.out as string | undefined) ?? doc.candidate.dir);
    mkdirSync(out, { recursive: true });
    const json = join(out, 'compare.json');
    const html = join(out, 'compare.html');
    writeFileSync(json, JSON.stringify(doc, null, 2) + '\n');
    writeFileSync(html, renderCompare(doc, timelines));

    console.log(`baseline:  ${doc.baseline.dir} (${doc.baseline.scenario}, ${doc.baseline.outcome})`);
    console.log(`candidate: ${doc.candidate.dir} (${doc.candidate.scenario}, ${doc.candidate.outcome})`);
    console.log(`method:    ${doc.method.detail}`);
    for (const n of doc.notes) console.log(`note:      ${n}`);
    const head = ['metric', 'baseline', 'candidate', 'change', '95% interval', 'MDC', 'threshold', 'verdict'];
    const rows = doc.metrics.map((m) => {
      const f = formatMetric(m);
      return [f.name, f.baseline, f.candidate, f.change, f.interval, f.mdc, f.threshold, m.verdict === 'regressed' || m.verdict === 'improved' ? f.verdict.toUpperCase() : f.verdict];
    });
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells: string[]) => cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
    console.log('');
    console.log(line(head));
    for (const r of rows) console.log(line(r));
    console.log(`\n${doc.counts.regressed} regressed, ${doc.counts.improved} improved, ${doc.counts.unchanged} unchanged${doc.counts.reported ? `, ${doc.counts.reported} reported without a verdict (no threshold)` : ''}`);
    console.log(`compare: ${json}\npage:    ${html}`);
    return doc.counts.regressed > 0 ? 99 : 0;
  },
};
