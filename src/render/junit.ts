import type { RunResult } from '../core/result.ts';

// junit.xml of a run: one testsuite, one testcase per threshold. A failed threshold is a <failure>;
// one that could not be judged (no data, unknown) is an <error> (it fails the run as well, for
// another reason than the measured value). A run that did not complete (failed, crashed, or
// interrupted by anything but a threshold) adds one more testcase, "run outcome", as an <error>.

/** Text for XML 1.0 content and attribute values: markup escaped, characters XML cannot hold written as \uXXXX. */
export function xmlEscape(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '&') out += '&amp;';
    else if (ch === '<') out += '&lt;';
    else if (ch === '>') out += '&gt;';
    else if (ch === '"') out += '&quot;';
    else if (ch === "'") out += '&apos;';
    else if (ch === '\n') out += '&#10;';
    else if (ch === '\r') out += '&#13;';
    else if (ch === '\t') out += '&#9;';
    else if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || (c >= 0xd800 && c <= 0xdfff) || c === 0xfffe || c === 0xffff) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return out;
}

/** A threshold's observed value as text: the number, or why there is none. */
export function observedText(t: RunResult['thresholds'][number]): string {
  if (t.source === 'k6') return 'judged by k6';
  if (t.observed === null) return `no data${t.note ? ` (${t.note})` : ''}`;
  return String(t.observed);
}

/** The junit.xml text of a finished run. Pure. */
export function renderJunit(r: RunResult): string {
  const suite = `loadscope.${r.scenario.name}`;
  const cases: string[] = [];
  let failures = 0;
  let errors = 0;
  for (const t of r.thresholds) {
    const name = `${t.metric} ${t.expression}`;
    const open = `    <testcase classname="${xmlEscape(suite)}" name="${xmlEscape(name)}" time="0">`;
    const aborted = t.aborted ? `; stopped the run at ${t.aborted.t} s (observed then: ${t.aborted.observed ?? 'n/a'})` : '';
    if (t.status === 'pass') {
      cases.push(`${open}\n      <system-out>${xmlEscape(`observed ${observedText(t)}`)}</system-out>\n    </testcase>`);
    } else if (t.status === 'fail') {
      failures++;
      const msg = `observed ${observedText(t)}, which does not meet ${t.expression}${aborted}`;
      cases.push(`${open}\n      <failure type="threshold" message="${xmlEscape(msg)}">${xmlEscape(`${t.metric}: ${msg}`)}</failure>\n    </testcase>`);
    } else {
      errors++;
      const msg = t.status === 'no data' ? `${observedText(t)}: nothing to judge, which fails the run` : 'the run\'s thresholds could not be read';
      cases.push(`${open}\n      <error type="${xmlEscape(t.status)}" message="${xmlEscape(msg)}">${xmlEscape(`${t.metric}: ${msg}`)}</error>\n    </testcase>`);
    }
  }
  const byThreshold = r.thresholds.some((t) => t.aborted);
  if (r.outcome !== 'completed' && !(r.outcome === 'interrupted' && byThreshold)) {
    errors++;
    const msg = `the run ${r.outcome}`;
    cases.push(`    <testcase classname="${xmlEscape(suite)}" name="run outcome" time="${r.durationS}">\n      <error type="${xmlEscape(r.outcome)}" message="${xmlEscape(msg)}"/>\n    </testcase>`);
  }
  const props = [
    ['runId', r.runId],
    ['scenario', r.scenario.file],
    ['engine', r.engine],
    ['outcome', r.outcome],
    ['requests', String(r.http.requests)],
    ['errorRate', String(r.http.errorRate)],
    ['rps', String(r.http.rps)],
    ...(r.http.latencyMs ? [['p99Ms', String(r.http.latencyMs.p99)]] : []),
  ];
  const tests = cases.length;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="loadscope" tests="${tests}" failures="${failures}" errors="${errors}" time="${r.durationS}">`,
    `  <testsuite name="${xmlEscape(suite)}" tests="${tests}" failures="${failures}" errors="${errors}" skipped="0" time="${r.durationS}" timestamp="${xmlEscape(r.startedAt.replace(/Z$/, ''))}">`,
    '    <properties>',
    ...props.map(([k, v]) => `      <property name="${k}" value="${xmlEscape(v)}"/>`),
    '    </properties>',
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
