import test from 'ava';
import { execFileSync } from 'node:child_process';
import { buildResult } from '../../src/analyze/results.ts';
import type { RunResult } from '../../src/core/result.ts';
import { renderJunit, xmlEscape } from '../../src/render/junit.ts';
import { mdText, renderSummary } from '../../src/render/summary.ts';
import { HOSTILE, synthetic } from './fixtures.ts';

// junit.xml and summary.md (src/render/junit.ts, summary.ts) of a finished run: hostile names stay
// text, the XML is well-formed for a real parser (Python's expat), each threshold is its testcase.

const NASTY = `${HOSTILE}\u0000\u0001\u0008\u000b\u001f\u007f\ufffe\ud800 tab\there\r\nline | pipe [x](https://evil.example) www.evil.example \`code\` *b* _i_`;

function run(): RunResult {
  const r = buildResult(synthetic({ seconds: 20, packetRecords: 0, events: 10 }));
  r.scenario.name = NASTY;
  r.runId = NASTY;
  r.thresholds = [
    { metric: `http_req_duration{stage:${NASTY}}`, expression: 'p(99) < 1', observed: 12.5, ok: false, status: 'fail', source: 'loadscope' },
    { metric: 'http_req_failed', expression: 'rate < 0.01', observed: 0, ok: true, status: 'pass', source: 'loadscope' },
    { metric: 'packet_latency{iface:lo}', expression: 'p(99) < 1', observed: null, ok: false, status: 'no data', source: 'loadscope', note: `probes off: ${NASTY}` },
    { metric: 'checks', expression: 'rate>0.99', observed: null, ok: false, status: 'fail', source: 'k6' },
    { metric: 'http_reqs', expression: 'count > 1', observed: 3, ok: false, status: 'fail', source: 'loadscope', aborted: { t: 4.5, observed: 2 } },
  ];
  return r;
}

/** Python's XML parser (expat) over the text: each testcase's name and its failure or error, or the parse error. */
function parse(xml: string): { suite: Record<string, string>; cases: { name: string; kind: string; message: string; type: string }[] } {
  const py = `
import sys, json, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.buffer.read())
s = root.find('testsuite')
cases = []
for c in s.findall('testcase'):
    k = [e for e in c if e.tag in ('failure', 'error', 'skipped')]
    cases.append({'name': c.get('name'), 'kind': k[0].tag if k else 'pass', 'message': k[0].get('message') if k else '', 'type': k[0].get('type') if k else ''})
print(json.dumps({'suite': dict(s.attrib), 'cases': cases}))
`;
  return JSON.parse(execFileSync('python3', ['-c', py], { input: xml, encoding: 'utf8' }));
}

test('junit.xml: well-formed with hostile names, one testcase per threshold, failures and errors counted', (t) => {
  const r = run();
  const xml = renderJunit(r);
  const doc = parse(xml);
  t.deepEqual([doc.suite.tests, doc.suite.failures, doc.suite.errors], ['5', '3', '1']);
  t.deepEqual(doc.cases.map((c) => c.kind), ['failure', 'pass', 'error', 'failure', 'failure']);
  // the name comes back as written, except characters XML 1.0 cannot hold, which read \\uXXXX
  const expectName = `http_req_duration{stage:${NASTY}} p(99) < 1`.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufffe\ud800]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  t.is(doc.cases[0].name, expectName);
  t.is(doc.cases[0].message, 'observed 12.5, which does not meet p(99) < 1');
  t.regex(doc.cases[2].message, /^no data \(probes off: <img/);
  t.is(doc.cases[2].type, 'no data');
  t.is(doc.cases[3].message, 'observed judged by k6, which does not meet rate>0.99');
  t.is(doc.cases[4].message, 'observed 3, which does not meet count > 1; stopped the run at 4.5 s (observed then: 2)');
  t.false(xml.includes('<img'), 'no markup from a name');
  t.false(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/.test(xml));
});

test('junit.xml: a run that did not complete gets a "run outcome" error, unless its threshold stopped it', (t) => {
  const r = run();
  r.thresholds = [];
  r.outcome = 'failed';
  const doc = parse(renderJunit(r));
  t.deepEqual(doc.cases, [{ name: 'run outcome', kind: 'error', message: 'the run failed', type: 'failed' }]);
  r.outcome = 'completed';
  t.deepEqual(parse(renderJunit(r)).cases, [], 'no thresholds, a completed run: an empty suite');
  const stopped = run();
  stopped.outcome = 'interrupted';
  t.false(parse(renderJunit(stopped)).cases.some((c) => c.name === 'run outcome'));
});

test('xmlEscape: markup, quotes and characters XML cannot hold', (t) => {
  t.is(xmlEscape(`<a b="c" d='e'>&amp;</a>`), '&lt;a b=&quot;c&quot; d=&apos;e&apos;&gt;&amp;amp;&lt;/a&gt;');
  t.is(xmlEscape('\u0000\u001b\ud800'), '\\u0000\\u001b\\ud800');
  t.is(xmlEscape('😀 é'), '😀 é', 'astral and accented characters stay');
});

test('summary.md: verdict, figures, failed thresholds and the table; hostile names are text, no links, one row per threshold', (t) => {
  const md = renderSummary(run());
  t.regex(md, /^## loadscope .*: FAIL: stopped early by http\\_reqs count &gt; 1 at 4\.5 s\n/);
  t.false(md.includes('<img'), 'no HTML from a name');
  t.false(/(?<!\\)\]\(/.test(md) || /https?:\/\//.test(md) || /www\./.test(md), 'no link, no bare URL');
  const table = md.slice(md.indexOf('### Thresholds'));
  const rows = table.split('\n').filter((l) => l.startsWith('| '));
  t.is(rows.length, 1 + 5, 'header and one row per threshold: no name broke a row');
  for (const row of rows) t.is(row.split(/(?<!\\)\|/).length, 6, row);
  t.regex(md, /### Failed thresholds\n\n- http\\_req\\_duration\{stage:.*\} p\(99\) &lt; 1: observed 12\.5\n- packet\\_latency\{iface:lo\} p\(99\) &lt; 1: no data \(probes off: /);
  t.regex(md, /\| requests \| \d+ responses/);
  const pass = run();
  pass.thresholds = [pass.thresholds[1]];
  pass.outcome = 'completed';
  t.regex(renderSummary(pass), /^## loadscope .*: PASS: all 1 thresholds passed/);
});

test('mdText: one line, escaped markup, broken-up URLs', (t) => {
  t.is(mdText('a|b\nc'), 'a\\|b c');
  t.is(mdText('[x](http://y)'), '\\[x\\](http: //y)');
  t.is(mdText('<b>&'), '&lt;b&gt;&amp;');
});
