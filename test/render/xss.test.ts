// Every string from a scenario, a response or a cluster is text in the report, never markup: hostile
// strings go in through the scenario (description, request path and headers, the text itself), the
// journal (scenario name, stage, pod, service, interface, drop-reason and event strings, environment,
// notices) and are checked in the HTML, in real Chromium, on the live page and in /metrics.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildResult } from '../../src/analyze/results.ts';
import { LiveServer } from '../../src/render/live/server.ts';
import type { JournalRecord } from '../../src/core/types.ts';
import { launchBrowser } from '../../src/render/browser.ts';
import { embedJson, renderReport } from '../../src/render/render.ts';
import { HOSTILE, synthetic } from './fixtures.ts';
import { tempDir } from '../helpers/tmp.ts';

function hostileJournal(): JournalRecord[] {
  const recs = synthetic({ seconds: 120, packetRecords: 500, events: 40, hostile: HOSTILE });
  const end = recs.pop()!;
  const t = (recs.find((r) => r.type === 'run') as { startedAt: number }).startedAt + 60_000;
  recs.push(
    { type: 'sample', metric: 'http.errors', time: t, value: 3, tags: { stage: HOSTILE, kind: HOSTILE } },
    { type: 'event', kind: HOSTILE, time: t, source: HOSTILE, attrs: { message: HOSTILE } },
    { type: 'event', kind: 'routing.failed', time: t + 1, source: 'cluster', attrs: { service: HOSTILE, message: HOSTILE } },
    { type: 'event', kind: 'stress.start', time: t + 2, source: 'stress', attrs: { name: HOSTILE, cores: HOSTILE, utilization: 0.5 } },
    // Kubernetes mode: Events of the cluster as src/cluster/kubernetes/journal.ts writes them (object, reason, message from the API)
    { type: 'event', kind: 'k8s.event', time: t + 3, source: HOSTILE, attrs: { object: `Pod/${HOSTILE}`, type: 'Warning', reason: HOSTILE, message: `event of the cluster: ${HOSTILE}`, count: 2 } },
    { type: 'event', kind: 'hpa.rescale', time: t + 4, source: 'horizontal-pod-autoscaler', attrs: { hpa: HOSTILE, type: 'Normal', reason: 'SuccessfulRescale', message: `New size: 2; reason: ${HOSTILE}`, count: 1, from: 1, to: 2 } },
    { type: 'event', kind: 'hpa.warning', time: t + 5, source: 'horizontal-pod-autoscaler', attrs: { hpa: HOSTILE, type: 'Warning', reason: 'FailedGetResourceMetric', message: HOSTILE, count: 1 } },
    // a fault and a load notice quoting what a target answered (a response's status text and body)
    { type: 'event', kind: 'fault.start', time: t + 6, source: 'faults', attrs: { name: HOSTILE, kind: 'http-errors', target: HOSTILE, pods: [HOSTILE], message: HOSTILE } },
    { type: 'event', kind: 'fault.end', time: t + 7, source: 'faults', attrs: { name: HOSTILE, kind: 'http-errors', target: HOSTILE, reason: 'duration', message: HOSTILE } },
    { type: 'event', kind: 'load.notice', time: t + 8, source: 'load', attrs: { notice: 'http_5xx', message: `response body: ${HOSTILE}` } },
    end,
  );
  return recs;
}

test('hostile strings render as text in the HTML', (t) => {
  const recs = hostileJournal();
  const header = recs.find((r) => r.type === 'run')!;
  t.true(header.type === 'run' && header.scenarioName.includes('<img'), 'the journal itself carries a hostile scenario name');
  const result = buildResult(recs);
  t.true(result.scenario.description?.includes(HOSTILE), 'the scenario description reached the result');
  const html = renderReport(result, header.type === 'run' ? header.scenarioText : '');
  t.false(html.includes('<img'), 'no img element');
  t.false(/<script>window\.__xss/.test(html));
  t.false(html.includes('onerror="window'), 'no raw attribute');
  t.is(html.match(/<script[\s>]/g)?.length, 2, 'only the data and the code scripts');
  t.is(html.match(/<\/script>/g)?.length, 2);
  t.false(html.includes('<!--'), 'no comment opened by data');
  t.true(html.includes('&lt;img src&#x3D;x onerror&#x3D;&quot;window.__xss&#x3D;1&quot;&gt;'), 'escaped in the markup');
  t.false(embedJson({ a: HOSTILE }).includes('<'));
  // the Kubernetes Event, the fault and the response body are in the page, as text
  for (const shown of ['event of the cluster: &lt;img src&#x3D;x', 'response body: &lt;img src&#x3D;x']) t.true(html.includes(shown), `shown escaped: ${shown}`);
});

test('hostile strings stay text in Chromium (page, title, charts, event log)', async (t) => {
  const recs = hostileJournal();
  const header = recs.find((r) => r.type === 'run')!;
  const dir = tempDir('loadscope-xss-');
  const file = join(dir, 'report.html');
  writeFileSync(file, renderReport(buildResult(recs), header.type === 'run' ? header.scenarioText : ''));
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('dialog', (d) => {
      problems.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    await page.waitForFunction('window.__loadscope && window.__loadscope.ready', { timeout: 60_000 });
    // hover every chart so tooltips with hostile marker labels are built
    const got = (await page.evaluate(`(() => ({
      xss: window.__xss,
      imgs: document.querySelectorAll('img').length,
      handlers: [...document.querySelectorAll('*')].filter((e) => [...e.attributes].some((a) => a.name.startsWith('on'))).length,
      scripts: document.querySelectorAll('script').length,
      title: document.title,
      text: document.body.innerText,
      drawn: window.__loadscope.drawn,
      legend: [...document.querySelectorAll('.u-legend .u-label')].map((e) => e.textContent).join('\\n'),
    }))()`)) as { xss: unknown; imgs: number; handlers: number; scripts: number; title: string; text: string; drawn: number; legend: string };
    t.is(got.xss, undefined);
    t.is(got.imgs, 0);
    t.is(got.handlers, 0);
    t.is(got.scripts, 2);
    t.true(got.title.includes(HOSTILE), 'the title shows the hostile scenario name as text');
    t.true(got.text.includes('<img src=x onerror="window.__xss=1">'), 'the page shows the payload as text');
    t.true(got.legend.includes('<img src=x'), 'chart legends show hostile pod names as text');
    t.true(got.drawn > 5);
    t.deepEqual(problems, []);
    t.deepEqual(requests, [pathToFileURL(file).href]);
  } finally {
    await browser.close();
  }
});

test('hostile strings on the live page and in /metrics', async (t) => {
  const live = new LiveServer({ intervalMs: 200 });
  const url = await live.start();
  try {
    for (const r of hostileJournal()) live.feed(r);
    const html = await (await fetch(url)).text();
    t.false(html.includes('<img'));
    t.is(html.match(/<script[\s>]/g)?.length, 2);
    const metrics = await (await fetch(new URL('metrics', url))).text();
    for (const line of metrics.trim().split('\n')) {
      t.regex(line, /^(# (HELP|TYPE) [a-z_]+ .*|[a-z_]+(\{([a-z_]+="([^"\\\n]|\\["\\n])*",?)*\})? -?[0-9.e+-]+)$/, line);
    }
    t.true(metrics.includes('scenario="report-scale<img src=x onerror=\\"window.__xss=1\\">'));
  } finally {
    await live.close();
  }
});
