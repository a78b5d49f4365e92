// `loadscope run --live`: a real short run followed through its live view — the page, at least five
// server-sent updates, the end event, Prometheus metrics — and the page applying updates in Chromium.
import test from 'ava';
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LiveServer } from '../../src/render/live/server.ts';
import { launchBrowser } from '../../src/render/browser.ts';
import { startCli } from '../helpers/cli.ts';
import { synthetic } from './fixtures.ts';
import { tempDir } from '../helpers/tmp.ts';

const SCENARIO = `name: live-test
cluster: { mode: loopback }
probes: off
requests:
  - { method: GET, path: /api/items }
stages:
  - { name: warm, duration: 3s, connections: 2 }
  - { name: ramp, duration: 6s, rate: { from: 20, to: 150 } }
thresholds:
  http_req_duration: ["p(99) < 2000"]
`;

/** Reads server-sent events until `stop` says so or the stream ends. */
function readEvents(url: string, stop: (events: { event: string; data: string }[]) => boolean): Promise<{ event: string; data: string }[]> {
  return new Promise((resolve, reject) => {
    const events: { event: string; data: string }[] = [];
    const req = http.get(url, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data !== undefined) events.push({ event, data });
        }
        if (stop(events)) {
          req.destroy();
          resolve(events);
        }
      });
      res.on('end', () => resolve(events));
    });
    req.on('error', (e) => (stop(events) ? resolve(events) : reject(e)));
  });
}

function get(url: string, host?: string): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    http
      .get({ host: u.hostname, port: u.port, path: u.pathname, headers: host ? { host } : {} }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type']) }));
      })
      .on('error', reject);
  });
}

test('a short run followed through --live: page, five updates, end, metrics, and the page redraws', async (t) => {
  const dir = tempDir('loadscope-live-');
  writeFileSync(join(dir, 'live.yaml'), SCENARIO);
  const { child, done } = startCli(['run', join(dir, 'live.yaml'), '--out', join(dir, 'run'), '--live', '--live-port', '0']);
  const base = await new Promise<string>((resolve, reject) => {
    let err = '';
    const onData = (d: Buffer) => {
      err += d;
      const m = /live view: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(err);
      if (m) {
        child.stderr!.off('data', onData);
        resolve(m[1]);
      }
    };
    child.stderr!.on('data', onData);
    child.once('exit', () => reject(new Error(`the run ended before printing the live URL:\n${err}`)));
  });
  // subscribed before Chromium starts: a slow launch on a busy machine must not cost this client updates
  const updates = readEvents(`${base}events`, (ev) => ev.some((e) => e.event === 'end'));
  updates.catch(() => {}); // awaited below; this only keeps a failed launch from adding an unhandled rejection
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && pageErrors.push(m.text()));
    await page.goto(base, { waitUntil: 'load' });
    await page.waitForFunction('window.__loadscope && window.__loadscope.updates >= 3', { timeout: 60_000 });
    const figures = (await page.evaluate('document.querySelector(\'[data-field="requests"]\').textContent')) as string;
    t.regex(figures, /^[\d,]+$/);

    const html = await get(base);
    t.is(html.status, 200);
    t.regex(html.type, /^text\/html/);
    t.regex(html.body, /loadscope report: <span class="name">live-test<\/span>/);
    t.regex(html.body, /connect-src 'self'/);
    const metrics = await get(`${base}metrics`);
    t.regex(metrics.type, /^text\/plain; version=0\.0\.4/);
    t.regex(metrics.body, /^loadscope_up 1$/m);
    t.regex(metrics.body, /^loadscope_http_responses_total \d+$/m);
    t.regex(metrics.body, /^loadscope_run_info\{run_id="[^"]+",scenario="live-test",engine="lean"\} 1$/m);
    t.is((await get(`${base}metrics`, 'attacker.example:80')).status, 403, 'a rebound host name is refused');
    t.is((await get(`${base}nope`)).status, 404);

    const events = await updates;
    const ups = events.filter((e) => e.event === 'update');
    t.true(ups.length >= 5, `${ups.length} updates`);
    const last = JSON.parse(ups[ups.length - 1].data) as { data: { t: number[]; charts: { id: string }[] }; figures: { key: string; value: string }[] };
    t.true(last.data.t.length >= 8, `${last.data.t.length} windows in the last update`);
    t.true(last.data.charts.some((c) => c.id === 'latency'));
    const end = JSON.parse(events.find((e) => e.event === 'end')!.data) as { outcome: string; report: string };
    t.is(end.outcome, 'completed');
    t.regex(end.report, /report\.html$/);
    const result = await done;
    t.is(result.code, 0, result.stderr);
    t.deepEqual(pageErrors, []);
  } finally {
    child.kill('SIGKILL');
    await browser.close();
  }
});

test('the live server sends an update every interval and waits for the run header', async (t) => {
  const live = new LiveServer({ intervalMs: 100 });
  const url = await live.start();
  try {
    t.regex((await get(url)).body, /the run is starting/);
    t.regex((await get(`${url}metrics`)).body, /^loadscope_run_started 0$/m);
    t.is((await get(`${url}results.json`)).status, 503);
    const recs = synthetic({ seconds: 30, packetRecords: 100, events: 20 });
    const feeder = setInterval(() => {
      for (let i = 0; i < 200 && recs.length; i++) live.feed(recs.shift()!);
    }, 20);
    const events = await readEvents(`${url}events`, (ev) => ev.filter((e) => e.event === 'update').length >= 5);
    clearInterval(feeder);
    t.true(events.filter((e) => e.event === 'update').length >= 5);
    t.is((await get(`${url}results.json`)).status, 200);
  } finally {
    await live.close();
  }
  t.throws(() => new LiveServer({ host: '0.0.0.0' as '127.0.0.1' }), { message: /loopback only/ });
});
