import test from 'ava';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import { buildResult, ResultBuilder } from '../../src/analyze/results.ts';
import { createHistogram, encode, record } from '../../src/core/histogram.ts';
import { buildResultFromJournal } from '../../src/run/rebuild.ts';
import { writeSyntheticJournal, type SyntheticOptions } from '../helpers/synthetic-journal.ts';
import { readJournal } from '../../src/journal/journal.ts';
import type { JournalRecord } from '../../src/core/types.ts';

const HOSTILE = '<img src=x onerror=alert(1)>"\\é\u2028';

const journal = async (t: { teardown(fn: () => void): void }, o: SyntheticOptions) => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-stream-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'events.ndjson');
  await writeSyntheticJournal(path, o);
  return path;
};

test('the streamed result (fast paths, no records held) equals the result of the whole journal parsed', async (t) => {
  const path = await journal(t, { seconds: 240, packetRecords: 30_000, events: 60, hostile: HOSTILE });
  // sampled records whose text defeats the fast path (a backslash, an open connection, a missing field) still count
  appendFileSync(path, [
    { type: 'event', kind: 'probe.conn', time: Date.UTC(2026, 0, 15, 2, 3, 0), source: 'probe.tcpwatch', attrs: { side: 'client', raddr: '198.18.1.1', rport: 8080, state: 'closed', from: 'a\\"state\\":\\"open', durationMs: 12, connectMs: 0.2 } },
    { type: 'event', kind: 'probe.conn', time: Date.UTC(2026, 0, 15, 2, 3, 1), source: 'probe.tcpwatch', attrs: { side: 'client', raddr: '198.18.1.1', rport: 8080, state: 'open', startMs: 1 } },
    { type: 'event', kind: 'probe.conn', time: Date.UTC(2026, 0, 15, 2, 3, 2), source: 'probe.tcpwatch', attrs: { side: 'client', state: 'closed' } },
  ].map((r) => JSON.stringify(r)).join('\n') + '\n');
  // a time written with an exponent defeats every fast path: both readers parse the line, one counts it
  const h = createHistogram();
  for (let v = 50; v < 90; v++) record(h, v);
  appendFileSync(path, `{"type":"sample","metric":"probe.tcp_srtt_us","time":1.7684424e12,"value":40,"tags":{"peer":"198.18.1.1","port":"8080","side":"client"},"hist":"${encode(h)}","meta":{"sum":2780}}\n`);
  appendFileSync(path, '{"type":"sample","metric":"probe.pkt_count","time":1.7684424e12,"value":5,"tags":{"iface":"lo","dir":"to"}}\n');
  appendFileSync(path, '{"type":"sample","metric":"routing.policy_drops","time":1.7684424e12,"value":2,"tags":{"service":"backend"}}\n');
  const whole = buildResult(readJournal(path).records);
  const streamed = buildResultFromJournal(path);
  t.deepEqual(streamed.result, whole);
  t.true(streamed.stats.fast >= 29_000, `fast paths took ${streamed.stats.fast} records`);
  t.is((streamed.result.probes as { connections: { openAtEnd: number } }).connections.openAtEnd, 1);
  t.is(streamed.result.routing?.decisionsRecorded, 6000);
  t.true(streamed.result.scenario.name.includes(HOSTILE));
});

test('a journal written before the text form (compressed base64 histograms) gives the same result', async (t) => {
  const o = { seconds: 120, packetRecords: 2000, events: 40 };
  const now = await journal(t, o);
  const old = await journal(t, { ...o, encodeHist: (h) => encodeIntoCompressedBase64(h) });
  t.true(readJournal(old).records.some((r) => r.type === 'sample' && r.hist?.startsWith('HIST')));
  t.false(readJournal(now).records.some((r) => r.type === 'sample' && r.hist?.startsWith('HIST')));
  const a = buildResultFromJournal(now).result;
  t.deepEqual(buildResultFromJournal(old).result, a);
  t.deepEqual(buildResult(readJournal(old).records), a);
});

test('finish() leaves the builder as it was: a live view can add records and finish again', async (t) => {
  const path = await journal(t, { seconds: 90, packetRecords: 3000, events: 30 });
  const records = readJournal(path).records;
  const half = Math.floor(records.length / 2);
  const live = new ResultBuilder();
  for (const r of records.slice(0, half)) live.add(r);
  const first = structuredClone(live.finish());
  t.deepEqual(first, buildResult(records.slice(0, half)));
  const again = live.finish();
  t.deepEqual(again, first);
  for (const r of records.slice(half)) live.add(r);
  t.deepEqual(live.finish(), buildResult(records));
  // and the first snapshot was not changed by what came after
  t.deepEqual(again, first);
});

test('records written before the run header (a cluster starting) count as if they came after it', (t) => {
  const t0 = Date.UTC(2026, 0, 1);
  const header: JournalRecord = { type: 'run', runId: 'r', schemaVersion: 1, scenarioName: 's', scenarioFile: 's.yaml', scenarioText: 'name: s\n', engine: 'autocannon', startedAt: t0, durationScale: 1, plan: [], environment: { loadscope: '0', gitRevision: '', node: '', kernel: '', host: '', cpus: 1, cpuModel: '', memoryGiB: 1, root: true }, notices: [] };
  const early: JournalRecord[] = [
    { type: 'event', kind: 'pod.ready', time: t0 - 500, source: 'cluster', attrs: { service: 'b', pod: 'b-1' } },
    { type: 'sample', metric: 'http.reqs', time: t0 + 100, value: 7, tags: { stage: '' } },
  ];
  const end: JournalRecord = { type: 'end', endedAt: t0 + 3000, outcome: 'completed' };
  const after = buildResult([header, ...early, end]);
  const before = buildResult([...early, header, end]);
  t.is(before.http.requests, 7);
  t.deepEqual(before.analysis?.series.replicas, after.analysis?.series.replicas);
  t.deepEqual(before, after);
});
