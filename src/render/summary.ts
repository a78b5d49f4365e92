import type { RunResult } from '../core/result.ts';
import { observedText } from './junit.ts';

// summary.md of a run, fit for a CI job summary (GitHub's GITHUB_STEP_SUMMARY): verdict, key
// figures, failed thresholds and a table of every threshold. No links: the run directory's files
// are not where the summary is read, and text from the run cannot make one (see mdText).

/** Text for markdown: no markup, no HTML, no link, one line (table cells stay cells). */
export function mdText(s: string): string {
  return s
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ')
    .replace(/[\\`*_[\]|~]/g, (c) => `\\${c}`)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/:\/\//g, ': //')
    .replace(/\bwww\./gi, (w) => `${w.slice(0, 3)} .`);
}

const num = (x: number, digits = 3) => String(Math.round(x * 10 ** digits) / 10 ** digits);

/** The verdict in words: PASS, FAIL (thresholds), or the run's outcome. */
export function verdict(r: RunResult): { pass: boolean; text: string } {
  const bad = r.thresholds.filter((t) => !t.ok);
  const aborted = r.thresholds.find((t) => t.aborted);
  if (aborted) return { pass: false, text: `FAIL: stopped early by ${aborted.metric} ${aborted.expression} at ${aborted.aborted!.t} s` };
  if (r.outcome !== 'completed') return { pass: false, text: `FAIL: the run ${r.outcome}` };
  if (bad.length) return { pass: false, text: `FAIL: ${bad.length} of ${r.thresholds.length} thresholds did not pass` };
  return { pass: true, text: r.thresholds.length ? `PASS: all ${r.thresholds.length} thresholds passed` : 'PASS: completed (no thresholds)' };
}

/** The summary.md text of a finished run. Pure. */
export function renderSummary(r: RunResult): string {
  const h = r.http;
  const v = verdict(r);
  const lines: string[] = [];
  lines.push(`## loadscope ${mdText(r.scenario.name)}: ${mdText(v.text)}`, '');
  lines.push(`Run ${mdText(r.runId)}, engine ${mdText(r.engine)}, ${num(r.durationS, 1)} s, outcome ${mdText(r.outcome)}.`, '');
  const figures: [string, string][] = [
    ['requests', `${h.requests} responses, ${h.errors} errors (${num(h.errorRate * 100, 2)} %)`],
    ['throughput', `${num(h.rps, 1)} req/s`],
    ['latency (ms)', h.latencyMs ? `p50 ${h.latencyMs.p50}, p90 ${h.latencyMs.p90}, p99 ${h.latencyMs.p99}, max ${h.latencyMs.max}` : 'n/a (no request finished)'],
    ['dropped arrivals', String(h.dropped)],
  ];
  const a = r.analysis;
  if (a?.violation) figures.push(['seconds over the SLO', `${num(a.violation.seconds, 1)} (${mdText(a.slo?.expression ?? '')})`]);
  for (const [name, s] of Object.entries(r.services)) figures.push([`served by ${mdText(name)}`, String(s.requestsServed)]);
  lines.push('| figure | value |', '|---|---|', ...figures.map(([k, x]) => `| ${k} | ${x} |`), '');

  const failed = r.thresholds.filter((t) => !t.ok);
  if (failed.length) {
    lines.push('### Failed thresholds', '');
    for (const t of failed) {
      const abort = t.aborted ? `; stopped the run at ${t.aborted.t} s` : '';
      lines.push(`- ${mdText(t.metric)} ${mdText(t.expression)}: ${t.status === 'fail' ? 'observed' : ''} ${mdText(observedText(t) + abort)}`.replace(/: {2}/, ': '));
    }
    lines.push('');
  }
  if (r.thresholds.length) {
    lines.push('### Thresholds', '', '| result | metric | expression | observed |', '|---|---|---|---|');
    for (const t of r.thresholds) {
      const result = t.ok ? 'pass' : t.status === 'fail' ? (t.aborted ? '**FAIL** (aborted the run)' : '**FAIL**') : `**${t.status.toUpperCase()}**`;
      lines.push(`| ${result} | ${mdText(t.metric)} | ${mdText(t.expression)} | ${mdText(observedText(t))} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}
