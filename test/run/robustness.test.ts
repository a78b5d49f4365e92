// loadscope itself under faults (issue 20): a URL target that is down at start, answers 500s or hangs,
// and a probe loader killed mid-run. Each is a real `loadscope run` against a real server on loopback
// started here; the run must go on, count every request by what happened to it, and say so.
import test from 'ava';
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunResult } from '../../src/core/result.ts';
import { readJournal } from '../../src/journal/journal.ts';
import { runCli, startCli } from '../helpers/cli.ts';
import { needs } from '../helpers/needs.ts';
import { serverFor, startServer } from '../helpers/with-server.ts';
import { kernelTestsUnavailable } from '../kernel/helpers/netns.ts';
import { tempDir } from '../helpers/tmp.ts';

const results = (dir: string) => JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as RunResult;
const loadNotices = (r: RunResult) => r.events.filter((e) => e.kind === 'load.notice').map((e) => e.text);

/** A scenario file for a URL target, probes off unless given. */
function scenario(name: string, url: string, body: string): { file: string; out: string } {
  const dir = tempDir(`ls-robust-${name}-`);
  const file = join(dir, 'scenario.yaml');
  writeFileSync(file, `name: ${name}\ntarget: { url: "${url}" }\nrequests: [ { path: /x } ]\n${body}`);
  return { file, out: join(dir, 'out') };
}

/** A loopback port nothing listens on (taken and given back). */
async function freePort(): Promise<number> {
  const s = await startServer(() => {});
  await s.close();
  return s.port;
}

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await sleep(50);
  }
}

const journalHas = (out: string, needle: string) => existsSync(join(out, 'events.ndjson')) && readFileSync(join(out, 'events.ndjson'), 'utf8').includes(needle);

for (const engine of ['lean', 'autocannon']) test.serial(`target down at start (${engine}): refused connects are conn errors, retried after a pause (no busy loop), the run goes on and counts the answers once it is up, a notice says from when to when`, async (t) => {
  const port = await freePort();
  const s = scenario('down-at-start', `http://127.0.0.1:${port}`, `engine: ${engine}\nprobes: off\nstages:\n  - { name: c, duration: 3s, connections: 2 }\n  - { name: o, duration: 1500ms, rate: 100 }\n`);
  const { done } = startCli(['run', s.file, '--out', s.out, '--no-history']);
  await waitFor(() => journalHas(s.out, '"stage.start"'), 20_000);
  await sleep(1200);
  const srv = http.createServer((_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => srv.listen(port, '127.0.0.1', resolve));
  t.teardown(() => {
    srv.close();
    srv.closeAllConnections();
  });
  const r = await done;
  t.is(r.code, 0, r.stderr + r.stdout);
  const res = results(s.out);
  t.is(res.outcome, 'completed');
  t.deepEqual(Object.keys(res.http.errorsByKind), ['conn'], JSON.stringify(res.http.errorsByKind));
  const conn = res.http.errorsByKind.conn;
  t.true(conn >= 20, `${conn} conn errors over ~1.2 s of 2 connections retrying every 50 ms`);
  t.true(res.stages.every((st) => st.requests > 0), 'both stages got answers once the target was up');
  t.is(res.http.requestsSent, res.http.requests + res.http.errors + res.http.inFlightAtCutoff, 'every request attempted is answered, an error, or in flight at the cut-off');
  const notice = loadNotices(res).find((n) => n.startsWith('connection errors from'));
  t.truthy(notice, loadNotices(res).join('\n'));
  const [, from, to] = /from ([\d.]+) s to ([\d.]+) s/.exec(notice!)!;
  t.true(Number(to) - Number(from) >= 0.9, `the outage lasted ${from}..${to} s (the server came up ~1.2 s after the first stage began)`);
  // 2 connections, one attempt each per 50 ms pause (and the connect itself) at most: a busy loop made thousands
  const most = 2 * Math.ceil((Number(to) - Number(from)) / 0.05 + 2);
  t.true(conn <= most, `${conn} conn errors in ${from}..${to} s: at most ${most} with a 50 ms pause`);
  t.regex(notice!, new RegExp(`: ${conn} requests failed, counted as errors of kind conn`));
  t.true(readFileSync(join(s.out, 'report.html'), 'utf8').includes(notice!), 'the report lists the notice');
  t.true(res.notices.includes(notice!), 'results.json notices list it too (what the CLI prints)');
  t.regex(r.stdout, /requests\s+\d+ responses, \d+ errors/);
});

test.serial('target answering 500s: every 5xx is an error of kind http_5xx, the error-rate threshold fails (exit 99), a notice counts them', async (t) => {
  let n = 0;
  const srv = await serverFor(t, (_req, res) => {
    res.statusCode = n++ % 2 === 0 ? 500 : 200;
    res.end('x');
  });
  const s = scenario('fives', srv.url, 'probes: off\nstages:\n  - { name: c, duration: 2s, connections: 2 }\nthresholds:\n  http_req_failed: ["rate < 0.1"]\n');
  const r = await runCli(['run', s.file, '--out', s.out, '--no-history']);
  t.is(r.code, 99, r.stderr + r.stdout);
  const res = results(s.out);
  t.is(res.outcome, 'completed');
  t.deepEqual(Object.keys(res.http.errorsByKind), ['http_5xx']);
  const fives = res.http.errorsByKind.http_5xx;
  t.true(Math.abs(fives - res.http.requests / 2) <= 2, `${fives} 5xx of ${res.http.requests} responses, every other one`);
  t.true(Math.abs(res.http.errorRate - 0.5) < 0.01, `error rate ${res.http.errorRate}`);
  t.false(res.thresholds[0].ok);
  t.regex(r.stdout, /threshold\s+FAIL http_req_failed rate < 0.1/);
  t.true(loadNotices(res).some((m) => m.startsWith(`${fives} response(s) were HTTP 5xx`)), loadNotices(res).join('\n'));
});

test.serial('target that hangs: every request sent ends as a timeout with its timeout as latency, none lost or left in flight, arrivals that found no free connection are dropped, notices say both', async (t) => {
  const hung = new Set<http.ServerResponse>();
  const srv = await serverFor(t, (_req, res) => void hung.add(res)); // never answers
  const s = scenario('hang', srv.url, 'engine: lean\nprobes: off\nrequestTimeout: 500ms\nstages:\n  - { name: c, duration: 1500ms, connections: 2 }\n  - { name: o, duration: 1s, rate: 40, maxConnections: 4 }\n');
  const r = await runCli(['run', s.file, '--out', s.out, '--no-history']);
  t.is(r.code, 0, r.stderr + r.stdout);
  const res = results(s.out);
  t.is(res.outcome, 'completed');
  t.is(res.http.requests, 0);
  t.deepEqual(Object.keys(res.http.errorsByKind), ['timeout'], JSON.stringify(res.http.errorsByKind));
  const timeouts = res.http.errorsByKind.timeout;
  t.is(res.http.inFlightAtCutoff, 0, 'requests still hanging when the load ended timed out in the drain');
  t.is(res.http.requestsSent, timeouts, 'every request sent is a timeout');
  // closed: 2 connections, one 500 ms timeout after another for 1.5 s (6, fewer on a busy machine)
  t.true(res.stages[0].errors >= 4 && res.stages[0].errors <= 8, `closed stage: ${res.stages[0].errors} timeouts`);
  // open: 40 arrivals on 4 hung connections — each one sent (and timed out) or dropped, none lost
  t.true(res.http.dropped > 0, 'arrivals found no free connection');
  t.true(Math.abs(res.stages[1].errors + res.http.dropped - 40) <= 1, `open stage: ${res.stages[1].errors} timeouts + ${res.http.dropped} dropped of 40 arrivals`);
  t.true(res.stages[0].latencyMs!.p50 >= 495 && res.stages[0].latencyMs!.max <= 600, `closed stage timeouts took ${JSON.stringify(res.stages[0].latencyMs)} ms`);
  const notices = loadNotices(res);
  t.true(notices.some((m) => m.startsWith(`${timeouts} request(s) timed out (no answer within the request timeout, 500 ms)`)), notices.join('\n'));
  t.true(notices.some((m) => m.startsWith(`${res.http.dropped} open-model arrival(s) were never sent`)), notices.join('\n'));
  t.true(hung.size >= timeouts - 1, `the server saw ${hung.size} of the ${timeouts} requests`);
});

const ktest = needs('a probe loader killed mid-run (root, built loaders)', kernelTestsUnavailable());

ktest('a probe loader killed mid-run: the run finishes, says which probe stopped and when, keeps its windows, the other probes go on', async (t) => {
  const srv = await serverFor(t, (_req, res) => res.end('ok'));
  const s = scenario('probe-kill', srv.url, 'engine: lean\nprobes: required\nstages:\n  - { name: c, duration: 4s, connections: 2 }\n');
  const { child, done } = startCli(['run', s.file, '--out', s.out, '--no-history']);
  await waitFor(() => journalHas(s.out, '"stage.start"'), 30_000);
  await sleep(2000);
  const loader = childrenOf(child.pid!).find((p) => p.cmd.endsWith('/pktlat'));
  t.truthy(loader, `pktlat among the run's children: ${JSON.stringify(childrenOf(child.pid!))}`);
  const killedAt = Date.now();
  process.kill(loader!.pid, 'SIGKILL');
  const r = await done;
  t.is(r.code, 0, r.stderr + r.stdout);
  t.regex(r.stderr, /probe pktlat stopped [\d.]+ s into the run \(exited \(SIGKILL\)\)/);
  const res = results(s.out);
  t.is(res.outcome, 'completed');
  const notice = res.events.find((e) => e.kind === 'probes.notice');
  t.truthy(notice, 'a probes.notice event');
  t.regex(notice!.text, /^probe pktlat stopped [\d.]+ s into the run \(exited \(SIGKILL\)\): the run went on without it; its windows up to then are kept/);
  t.true(res.notices.includes(notice!.text), 'results.json notices list it');
  const at = Number(/stopped ([\d.]+) s/.exec(notice!.text)![1]);
  t.true(Math.abs(notice!.t - at) < 0.11, `the event's time ${notice!.t} s is the notice's ${at} s`);
  // the loaders' stop report (journal): pktlat killed, the others ran to the end and sent their end record
  const { records } = readJournal(join(s.out, 'events.ndjson'));
  const stopped = records.find((x) => x.type === 'event' && x.kind === 'probes.stopped') as { attrs: { loaders: Record<string, { signal: string | null; exitCode: number | null; incomplete?: boolean }> } } | undefined;
  const loaders = stopped!.attrs.loaders;
  t.is(loaders.pktlat.signal, 'SIGKILL');
  t.true(loaders.pktlat.incomplete);
  for (const other of ['fibroute', 'tcpwatch']) t.true(loaders[other]?.exitCode === 0 && !loaders[other].incomplete, `${other} ran to the end: ${JSON.stringify(loaders[other])}`);
  t.deepEqual((res.probes.loaders as { probe: string }[]).map((l) => l.probe).sort(), ['fibroute', 'tcpwatch']);
  // pktlat's windows before the kill are in the journal and the results; none after it
  const pkt = records.filter((x) => x.type === 'sample' && x.metric === 'probe.pkt_count') as { time: number; value: number }[];
  t.true(pkt.length > 0 && pkt.some((x) => x.value > 0), 'packet windows from before the kill');
  t.true(pkt.every((x) => x.time < killedAt), 'no packet window after the kill');
  t.true((res.probes.packets as { iface: string; packets: number }[]).some((p) => p.iface === 'lo' && p.packets > 0), JSON.stringify(res.probes.packets));
  const after = records.filter((x) => x.type === 'sample' && x.metric.startsWith('probe.tcp_') && x.time > killedAt);
  t.true(after.length > 0, 'tcpwatch still reports windows after the kill');
  t.true(res.http.requests > 1000 && res.http.errors === 0, `${res.http.requests} responses, ${res.http.errors} errors`);
});

/** Direct children of `pid`, with their executable path. */
function childrenOf(pid: number): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push({ pid: Number(e), cmd: readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0')[0] });
    } catch {
      // gone
    }
  }
  return out;
}
