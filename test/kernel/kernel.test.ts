// Probes against the real kernel, each figure cross-checked with an instrument we did not write.
// Needs root and a built bpf/.output; all traffic stays in two namespaces the test creates.
import test, { type ExecutionContext } from 'ava';
import { now } from '../../src/core/clock.ts';
import { summarizeProbes } from '../../src/analyze/probes.ts';
import net from 'node:net';
import { startProbes, URL_TARGET_FILTER, urlTargetFilter } from '../../src/kernel/probes.ts';
import type { ProbeFilter, ProbeName, ProbeOptions } from '../../src/kernel/types.ts';
import { bpfState, kernelTestsUnavailable, MemorySink, NetPair, sleep } from './helpers/netns.ts';
import { needs } from '../helpers/needs.ts';

const unavailable = kernelTestsUnavailable();
const ktest = needs('the kernel probe tests', unavailable);

/** A port of our own: the filters match in every namespace, and other tests may serve 8080. */
const freshPort = () => 10_000 + Math.floor(Math.random() * 20_000);
const within = (a: number, b: number, frac: number) => Math.abs(a - b) <= Math.max(1, frac * Math.max(a, b));
const sum = (xs: { value: number }[]) => xs.reduce((a, x) => a + x.value, 0);

/**
 * A kernel test on a veth pair between two namespaces of its own (removed afterwards, whatever the
 * outcome) and a port of its own.
 */
function netTest(title: string, body: (t: ExecutionContext, net: NetPair, port: number) => Promise<void>): void {
  ktest(title, async (t) => {
    const net = new NetPair();
    try {
      await body(t, net, freshPort());
    } finally {
      net.destroy();
    }
  });
}

async function probes(sink: MemorySink, filter: ProbeFilter, names: ProbeName[], more: Partial<ProbeOptions> = {}) {
  const h = await startProbes({ sink, filter, mode: 'required', probes: names, ...more });
  return h;
}

/**
 * At sampled fidelity: the pairs pktlat timed against the packets it counted and the 1 in N it
 * reported for each window. Each packet is timed with probability 1/N of its window, so the timed
 * pairs are a sum of binomials; `sd` is its standard deviation. `histTimed` sums the latency
 * histograms' raw counts, which must be the timed pairs the sampling records report.
 */
function sampledPairs(sink: MemorySink) {
  const windows = sink.samples('probe.pkt_timed').map((s) => ({ timed: s.value, every: Number((s.meta as { every: number }).every), packets: Number((s.meta as { packets: number }).packets) }));
  const expected = windows.reduce((a, w) => a + w.packets / w.every, 0);
  const sd = Math.sqrt(windows.reduce((a, w) => a + (w.packets / w.every) * (1 - 1 / w.every), 0));
  const timed = windows.reduce((a, w) => a + w.timed, 0);
  const histTimed = sum(sink.samples('probe.pkt_latency_ns'));
  return { windows, expected, sd, timed, histTimed };
}

netTest('packet counts per interface match the kernel counters within 2% (full fidelity: every packet timed)', async (t, net, P) => {
  await net.server(net.nsB, net.addrB, P);
  const sink = new MemorySink();
  const h = await probes(sink, { ifaces: [net.ifA, net.ifB] }, ['pktlat'], { fidelity: 'full' });
  const a0 = net.counters(net.nsA, net.ifA);
  const b0 = net.counters(net.nsB, net.ifB);
  await net.traffic(net.nsA, 'client', net.addrB, P, 200, 20_000);
  const a1 = net.counters(net.nsA, net.ifA);
  const b1 = net.counters(net.nsB, net.ifB);
  const report = await h.stop();

  const count = (iface: string, dir: string) => sum(sink.samples('probe.pkt_count').filter((s) => s.tags.iface === iface && s.tags.dir === dir));
  const bytes = (iface: string, dir: string) => sum(sink.samples('probe.pkt_bytes').filter((s) => s.tags.iface === iface && s.tags.dir === dir));
  const rows = [
    [net.ifA, 'tx', a1.txPackets - a0.txPackets, a1.txBytes - a0.txBytes],
    [net.ifA, 'rx', a1.rxPackets - a0.rxPackets, a1.rxBytes - a0.rxBytes],
    [net.ifB, 'tx', b1.txPackets - b0.txPackets, b1.txBytes - b0.txBytes],
    [net.ifB, 'rx', b1.rxPackets - b0.rxPackets, b1.rxBytes - b0.rxBytes],
  ] as const;
  for (const [iface, dir, kPkts, kBytes] of rows) {
    const p = count(iface, dir);
    const b = bytes(iface, dir);
    t.log(`${iface} ${dir}: probe ${p} pkts / ${b} B, kernel ${kPkts} pkts / ${kBytes} B (Δ ${(((p - kPkts) / kPkts) * 100).toFixed(2)}%)`);
    t.true(kPkts > 500, 'enough traffic to compare');
    t.true(within(p, kPkts, 0.02), `${iface} ${dir} packets: probe ${p} vs kernel ${kPkts}`);
    t.true(within(b, kBytes, 0.02), `${iface} ${dir} bytes: probe ${b} vs kernel ${kBytes}`);
  }
  const lat = summarizeProbes(sink.records).packetLatency;
  const ab = lat.find((l) => l.iface === net.ifA && l.peer === net.ifB);
  t.truthy(ab, 'latency histogram for A→B');
  t.log(`latency ${net.ifA}→${net.ifB}: n=${ab!.count} p50=${ab!.p50} ns p99=${ab!.p99} ns`);
  t.true(within(ab!.count, count(net.ifB, 'rx'), 0.02), 'every received packet was paired with its queueing');
  t.true(ab!.p50 > 100 && ab!.p50 < 10_000_000);
  t.is(report.lostEvents, 0);
  t.log(`pktlat loader CPU ${report.cpuSeconds} s, ${report.linesParsed} lines`);
});

netTest('sampled fidelity counts exactly what full fidelity counts on the same traffic; the N it reports matches the pairs it timed', async (t, net, P) => {
  await net.server(net.nsB, net.addrB, P);
  const filter = { ifaces: [net.ifA, net.ifB] };
  const sinks = { full: new MemorySink(), every8: new MemorySink(), chosen: new MemorySink() };
  // three loaders on the same packets: every one timed, a fixed 1 in 8, and N chosen from the rate
  // with a budget so small (100 µs/s: 250 timed packets a second) that this traffic needs N > 1
  const hs = [
    await probes(sinks.full, filter, ['pktlat'], { fidelity: 'full' }),
    await probes(sinks.every8, filter, ['pktlat'], { fidelity: 'sampled', every: 8 }),
    await probes(sinks.chosen, filter, ['pktlat'], { fidelity: 'sampled', budgetUs: 100 }),
  ];
  const a0 = net.counters(net.nsA, net.ifA);
  // over several windows, so that N is chosen from a window's rate more than once
  const until = Date.now() + 3500;
  while (Date.now() < until) await net.traffic(net.nsA, 'client', net.addrB, P, 200, 20_000);
  const a1 = net.counters(net.nsA, net.ifA);
  const reports = [];
  for (const h of hs) reports.push(await h.stop());
  // untimed packets read no clock: a kernel timer moves the window at each boundary, and every
  // loader reports how late it fired; later than the loader's drain (20 ms) would misplace counts
  for (const r of reports) {
    const late = r.loaders.pktlat?.windowLateUs;
    t.log(`window timer: latest ${late} µs after a boundary`);
    t.true(late !== undefined && late > 0 && late < 20_000, `window timer fired, ${late} µs late at most`);
  }

  const counts = (sink: MemorySink) => {
    const out: Record<string, number> = {};
    for (const m of ['probe.pkt_count', 'probe.pkt_bytes', 'probe.drops'])
      for (const s of sink.samples(m)) out[`${m} ${JSON.stringify(s.tags)}`] = (out[`${m} ${JSON.stringify(s.tags)}`] ?? 0) + s.value;
    return out;
  };
  const full = counts(sinks.full);
  t.log(`full fidelity counts: ${JSON.stringify(full)}; kernel tx on ${net.ifA}: ${a1.txPackets - a0.txPackets}`);
  t.true((full[`probe.pkt_count ${JSON.stringify({ iface: net.ifA, dir: 'tx' })}`] ?? 0) > 2000, 'enough traffic');
  t.deepEqual(counts(sinks.every8), full, '1 in 8: every count identical');
  t.deepEqual(counts(sinks.chosen), full, 'N chosen: every count identical');

  const fullLat = summarizeProbes(sinks.full.records).packetLatency.find((l) => l.iface === net.ifA && l.peer === net.ifB)!;
  for (const [name, sink] of [['every8', sinks.every8], ['chosen', sinks.chosen]] as const) {
    const p = sampledPairs(sink);
    t.log(`${name}: windows (N, timed, packets) ${p.windows.map((w) => `${w.every}/${w.timed}/${w.packets}`).join(' ')}; timed ${p.timed}, expected ${p.expected.toFixed(0)} ± ${p.sd.toFixed(1)}`);
    t.is(p.histTimed, p.timed, `${name}: the histograms hold exactly the pairs the sampling records report`);
    t.true(Math.abs(p.timed - p.expected) <= 4 * p.sd + 2, `${name}: timed ${p.timed} is packets / N (${p.expected.toFixed(0)} ± ${p.sd.toFixed(1)})`);
    const lat = summarizeProbes(sink.records).packetLatency.find((l) => l.iface === net.ifA && l.peer === net.ifB)!;
    const s = summarizeProbes(sink.records).sampling;
    t.log(`${name}: A→B weighted count ${lat.count} (full ${fullLat.count}), timed ${lat.timed}, p50 ${lat.p50} (full ${fullLat.p50}), p99 ${lat.p99} (full ${fullLat.p99}), error ${JSON.stringify(lat.error)}; sampling ${JSON.stringify({ ...s, windows: s.windows.length })}`);
    t.is(s.fidelity, 'sampled');
    t.truthy(lat.error, `${name}: a sampled latency carries its sampling error`);
    // full fidelity's median lies in the sampled median's 95% interval, widened by a bucket (12.5%) and
    // by 1 µs: the three loaders' programs run on one another's measured paths (docs/probes.md)
    t.true(fullLat.p50 >= lat.error!.p50[0] * 0.875 - 1000 && fullLat.p50 <= (lat.error!.p50[1] ?? Infinity) * 1.125 + 1000, `${name}: full p50 ${fullLat.p50} in ${JSON.stringify(lat.error!.p50)}`);
  }
  // the hash of the packet picks alike in both directions (requests and their answers): 1 in 8 of each
  const e8 = summarizeProbes(sinks.every8.records).packetLatency;
  for (const [from, to] of [[net.ifA, net.ifB], [net.ifB, net.ifA]]) {
    const queued = fullLat && (summarizeProbes(sinks.full.records).packetLatency.find((l) => l.iface === from && l.peer === to)?.count ?? 0);
    const timed = e8.find((l) => l.iface === from && l.peer === to)?.timed ?? 0;
    const sd = Math.sqrt((queued / 8) * (7 / 8));
    t.log(`${from}→${to}: ${queued} pairs at full fidelity, ${timed} timed at 1 in 8 (expected ${(queued / 8).toFixed(0)} ± ${sd.toFixed(1)})`);
    t.true(Math.abs(timed - queued / 8) <= 4 * sd + 2, `${from}→${to}: 1 in 8 of this direction`);
  }
  t.true(sampledPairs(sinks.every8).windows.every((w) => w.every === 8), 'a fixed N is reported as such in every window');
  // N of window i is chosen from the packets of window i - 2 (the last one complete when window i - 1
  // began): ceil(packets per second / (budget / 400 ns per timed packet)), at least 1
  const ws = sinks.chosen.samples('probe.pkt_timed').sort((a, b) => a.time - b.time);
  let checked = 0;
  for (let i = 2; i < ws.length; i++) {
    if (Math.abs(ws[i].time - ws[i - 2].time - 2000) > 1) continue;
    const packets = Number((ws[i - 2].meta as { packets: number }).packets);
    t.is(Number((ws[i].meta as { every: number }).every), Math.max(1, Math.ceil(packets / 250)), `window ${i}: N from window ${i - 2}'s ${packets} packets`);
    checked++;
  }
  t.true(checked >= 2, `N was chosen from a window's rate ${checked} times`);
  t.true(ws.slice(2).some((w) => Number((w.meta as { every: number }).every) > 1), 'at this rate and budget some N > 1');
});

netTest('probes.cost: every loader reports its programs\' run time and its CPU, and the sum is positive under a real load', async (t, net, P) => {
  await net.server(net.nsB, net.addrB, P);
  const sink = new MemorySink();
  // the run-time statistics for the whole run (as at full fidelity), so the counts are exact
  const h = await probes(sink, { ports: [P], ifaces: [net.ifA, net.ifB], cidrs: ['198.18.0.0/30'] }, ['pktlat', 'fibroute', 'tcpwatch'], { statsEvery: 1 });
  await net.traffic(net.nsA, 'client', net.addrB, P, 200, 20_000);
  await sleep(1100); // a walk of the sockets
  const report = await h.stop();
  const s = summarizeProbes(sink.records);
  const c = s.cost;
  t.log(JSON.stringify({ ...c, programs: c?.programs.map((p) => `${p.program} ${p.nsPerRun} ns × ${p.runs}`) }));
  t.truthy(c, 'probes.cost');
  t.true(c!.bpfStats, 'run-time statistics were on');
  t.true(c!.bpfSeconds > 0 && c!.loaderSeconds > 0 && Math.abs(c!.cpuSeconds - (c!.bpfSeconds + c!.dispatchSeconds + c!.loaderSeconds)) < 1e-5);
  t.true(c!.share > 0 && c!.share < 0.5, `share ${c!.share}`);
  t.true(c!.cpus >= 1 && c!.wallS > 0.5);
  const tx = sum(sink.samples('probe.pkt_count').filter((x) => x.tags.dir === 'tx'));
  const queue = c!.programs.find((p) => p.program === 'lsc_pkt_queue');
  // the queue program runs for every packet queued on the machine, the run's and others'
  t.true(queue !== undefined && queue.runs >= tx && queue.nsPerRun > 0, `lsc_pkt_queue ${queue?.runs} runs, ${tx} of the run's packets queued`);
  t.true(c!.programs.some((p) => p.program === 'lsc_tcp_iter' && p.runs > 0), 'the socket iterator ran');
  t.false(c!.programs.some((p) => p.program === 'lsc_tcp_probe'), 'no tcp_probe program at sampled fidelity');
  // the same figures as the loaders' own reports
  const fromReports = Object.values(report.loaders).reduce((a, l) => a + Object.values(l.progs ?? {}).reduce((x, p) => x + p.run_ns, 0), 0) / 1e9;
  t.true(Math.abs(fromReports - c!.bpfSeconds) < 1e-5);
});

netTest('probes.cost with the run-time statistics on for half of every window: what they counted, scaled by the time they were off', async (t, net, P) => {
  await net.server(net.nsB, net.addrB, P);
  const sink = new MemorySink();
  const h = await probes(sink, { ports: [P], ifaces: [net.ifA, net.ifB], cidrs: ['198.18.0.0/30'] }, ['pktlat'], { statsEvery: 2 });
  // steady traffic over several windows, so windows with and without statistics see alike
  const until = Date.now() + 4500;
  while (Date.now() < until) await net.traffic(net.nsA, 'client', net.addrB, P, 50, 2_000);
  const report = await h.stop();
  const c = summarizeProbes(sink.records).cost!;
  const loader = report.loaders.pktlat!;
  t.log(JSON.stringify({ statsEvery: c.statsEvery, statsShare: c.statsShare, wallS: loader.wallS, statsOnSeconds: loader.statsOnSeconds, programs: c.programs.map((p) => `${p.program} ${p.nsPerRun} ns × ${p.runs}`) }));
  t.is(c.statsEvery, 2);
  t.is(loader.statsEvery, 2);
  // half a window from attach, then half of every window: a half, give or take one spell over the loader's ~5 s
  t.true(c.statsShare > 0.35 && c.statsShare < 0.65, `statistics on ${c.statsShare} of the time`);
  const scale = loader.wallS! / loader.statsOnSeconds!;
  const raw = loader.progs!.lsc_pkt_queue;
  const queue = c.programs.find((p) => p.program === 'lsc_pkt_queue')!;
  t.true(raw.run_cnt > 0 && raw.run_ns > 0, 'the statistics counted while on');
  t.is(queue.runs, Math.round(raw.run_cnt * scale), 'runs scaled by the loader\'s time over the statistics\' time');
  t.is(queue.nsPerRun, Math.round((raw.run_ns * scale) / queue.runs));
  // the queue program runs for every packet queued on the machine: the estimate is not below the
  // run's own packets, counted exactly, by more than the traffic's unevenness between windows
  const tx = sum(sink.samples('probe.pkt_count').filter((x) => x.tags.dir === 'tx'));
  t.true(tx > 1000, `enough traffic (${tx} packets queued)`);
  t.true(queue.runs >= 0.5 * tx, `lsc_pkt_queue ${queue.runs} runs (scaled from ${raw.run_cnt}), ${tx} of the run's packets queued`);
});

netTest('latency pairs the same way through the hash map when the interface filter is too big for the ring', async (t, net, P) => {
  // up to 4 filter names the kernel keeps latency per window in an array; more names take the hash map
  await net.server(net.nsB, net.addrB, P);
  const sink = new MemorySink();
  const h = await probes(sink, { ifaces: [net.ifA, net.ifB, 'lsnone0', 'lsnone1', 'lsnone2'] }, ['pktlat'], { fidelity: 'full' });
  const b0 = net.counters(net.nsB, net.ifB);
  await net.traffic(net.nsA, 'client', net.addrB, P, 100, 20_000);
  const b1 = net.counters(net.nsB, net.ifB);
  const report = await h.stop();
  const rx = sum(sink.samples('probe.pkt_count').filter((s) => s.tags.iface === net.ifB && s.tags.dir === 'rx'));
  const ab = summarizeProbes(sink.records).packetLatency.find((l) => l.iface === net.ifA && l.peer === net.ifB);
  t.truthy(ab, 'latency histogram for A→B');
  t.log(`hash map path: rx ${rx} (kernel ${b1.rxPackets - b0.rxPackets}), paired ${ab!.count}, p50=${ab!.p50} ns`);
  t.true(rx > 200, 'enough traffic to compare');
  t.true(within(rx, b1.rxPackets - b0.rxPackets, 0.02));
  t.true(within(ab!.count, rx, 0.02), 'every received packet was paired with its queueing');
  t.is(report.lostEvents, 0);
});

netTest('queue entries overwritten before their receive are counted, in the end record and in results', async (t, net, P) => {
  // B's end is down: every datagram is queued on A's veth and dropped there, never received; the
  // next skb takes the freed one's address, so its queue entry replaces one that is still young
  const mac = JSON.parse(net.ip('-n', net.nsB, '-j', 'link', 'show', 'dev', net.ifB))[0].address as string;
  net.ip('-n', net.nsA, 'neigh', 'replace', net.addrB, 'lladdr', mac, 'dev', net.ifA, 'nud', 'permanent');
  net.ip('-n', net.nsB, 'link', 'set', net.ifB, 'down');
  const sink = new MemorySink();
  const h = await probes(sink, { ifaces: [net.ifA, net.ifB], ports: [P] }, ['pktlat'], { fidelity: 'full' });
  const N = 2000;
  await net.traffic(net.nsA, 'udpsend', net.addrB, P, N);
  const report = await h.stop();
  const queued = sum(sink.samples('probe.pkt_count').filter((s) => s.tags.iface === net.ifA && s.tags.dir === 'tx'));
  const end = sink.events('probe.end')[0];
  const loader = summarizeProbes(sink.records).loaders.find((l) => l.probe === 'pktlat');
  t.log(`queued ${queued}, received 0; end record overwritten=${String(end?.attrs.overwritten)} stale=${String(end?.attrs.stale)}; results loader ${JSON.stringify(loader)}; stop report overwritten=${String(report.loaders.pktlat?.overwritten)}`);
  t.true(queued >= N * 0.98, 'the datagrams were queued on A');
  // every entry but the last few is replaced by a later packet within max_age (1 s)
  t.true(Number(end?.attrs.overwritten) >= queued * 0.5, `overwritten ${String(end?.attrs.overwritten)} of ${queued} unpaired entries`);
  t.is(loader?.overwritten, Number(end?.attrs.overwritten));
  t.is(report.loaders.pktlat?.overwritten, Number(end?.attrs.overwritten));
  t.is(report.lostEvents, 0, 'not counted as lost');
  t.is(Number(end?.attrs.stale), 0, 'not counted as stale');
});

ktest('a URL target is filtered on its own addresses and route: [::1] is seen (lo + 127.0.0.0/8 saw nothing)', async (t) => {
  const server = net.createServer((c) => c.end('x'.repeat(2000)));
  await new Promise<void>((r) => server.listen(0, '::1', () => r()));
  const P = (server.address() as net.AddressInfo).port;
  const hit = async (n: number) => {
    for (let i = 0; i < n; i++) await new Promise<void>((r) => net.connect(P, '::1').on('data', () => {}).on('close', () => r()));
  };
  try {
    const filter = await urlTargetFilter(`http://[::1]:${P}/`);
    t.deepEqual(filter, { ports: [P], ifaces: ['lo'], cidrs: ['::1/128'] });
    const seen: Record<string, number> = {};
    const filters: [string, ProbeFilter][] = [['lo + 127.0.0.0/8 (the old URL filter)', { ports: [P], ifaces: [...URL_TARGET_FILTER.ifaces], cidrs: [...URL_TARGET_FILTER.cidrs] }], ['urlTargetFilter', filter]];
    for (const [name, f] of filters) {
      const sink = new MemorySink();
      const h = await probes(sink, f, ['pktlat']);
      await hit(20);
      await h.stop();
      seen[name] = sum(sink.samples('probe.pkt_count').filter((s) => s.tags.iface === 'lo' && s.tags.dir === 'tx'));
    }
    t.log(`packets queued on lo for [::1]:${P}:`, seen);
    t.true(seen.urlTargetFilter >= 20 * 4, `the target's packets are counted: ${seen.urlTargetFilter}`);
  } finally {
    server.close();
  }
});

netTest('routing decisions match `ip route get`', async (t, net, P) => {
  net.ip('-n', net.nsA, 'route', 'add', '198.19.0.0/24', 'via', net.addrB);
  net.ip('-n', net.nsA, 'rule', 'add', 'to', '198.19.1.0/24', 'table', '100');
  net.ip('-n', net.nsA, 'route', 'add', '198.19.1.0/24', 'via', net.addrB, 'dev', net.ifA, 'table', '100');
  await net.server(net.nsB, net.addrB, P);
  const sink = new MemorySink();
  const h = await probes(sink, { cidrs: ['198.18.0.0/15'] }, ['fibroute']);
  await net.traffic(net.nsA, 'client', net.addrB, P, 3, 100);
  await net.traffic(net.nsA, 'udpconnect', '198.19.0.7', 53);
  await net.traffic(net.nsA, 'udpconnect', '198.19.1.7', 53);
  await h.stop();

  const decisions = sink.events('probe.route');
  for (const dst of [net.addrB, '198.19.0.7', '198.19.1.7']) {
    const want = JSON.parse(net.ip('-n', net.nsA, '-j', 'route', 'get', dst))[0] as { dev: string; gateway?: string; prefsrc: string; table?: string };
    // the socket's own lookup in namespace A: output route (iif = lo), TCP/UDP, source already chosen
    const got = decisions.find((e) => e.attrs.dst === dst && e.attrs.err === 0 && e.attrs.flow_iif === 1 && e.attrs.src !== '0.0.0.0' && [6, 17].includes(e.attrs.proto as number));
    t.truthy(got, `a route decision for ${dst}`);
    const a = got!.attrs;
    t.log(`${dst}: probe table ${a.table} via ${a.gw} dev ${a.oif} src ${a.src}; ip route get: table ${want.table ?? 'main'} via ${want.gateway ?? '-'} dev ${want.dev} src ${want.prefsrc}`);
    t.is(a.oif, want.dev);
    t.is(a.gw, want.gateway ?? '0.0.0.0');
    t.is(a.src, want.prefsrc);
    t.is(a.table, Number(want.table ?? 254));
  }
  const routes = summarizeProbes(sink.records).routes;
  t.true(routes.some((r) => r.table === 100 && r.dst === '198.19.1.7' && r.gw === net.addrB && r.err === 0));
});

netTest('retransmits match /proc/net/snmp RetransSegs; qdisc drops match tc', async (t, net, P) => {
  // sch_netem is not built into this kernel: a token bucket with a small queue drops the bulk
  // transfer's excess instead, which makes TCP retransmit just the same
  net.ip('netns', 'exec', net.nsA, 'tc', 'qdisc', 'add', 'dev', net.ifA, 'root', 'tbf', 'rate', '20mbit', 'burst', '8kb', 'limit', '12kb');
  await net.server(net.nsB, net.addrB, P);
  const sink = new MemorySink();
  const h = await probes(sink, { ports: [P], ifaces: [net.ifA, net.ifB] }, ['tcpwatch', 'pktlat']);
  const a0 = net.snmpTcp(net.nsA, 'RetransSegs');
  const b0 = net.snmpTcp(net.nsB, 'RetransSegs');
  const began = Date.now();
  const res = await net.traffic(net.nsA, 'bulk', net.addrB, P, 3_000_000);
  const elapsedMs = Date.now() - began;
  t.true(Number(res.acked) >= 3_000_000);
  const a1 = net.snmpTcp(net.nsA, 'RetransSegs');
  const b1 = net.snmpTcp(net.nsB, 'RetransSegs');
  await h.stop();
  const tc = net.ip('netns', 'exec', net.nsA, 'tc', '-s', '-j', 'qdisc', 'show', 'dev', net.ifA);
  const tcDrops = (JSON.parse(tc) as { kind: string; drops: number }[]).find((q) => q.kind === 'tbf')!.drops;

  const s = summarizeProbes(sink.records);
  const kernel = a1 - a0 + (b1 - b0);
  const probe = s.retransmits.segments + s.retransmits.synack;
  t.log(`retransmitted segments: probe ${probe} (synack ${s.retransmits.synack}), RetransSegs Δ ${kernel}`);
  t.true(kernel > 20, 'the lossy queue made TCP retransmit');
  t.true(within(probe, kernel, 0.02), `probe ${probe} vs RetransSegs ${kernel}`);
  const qdrops = s.drops.byReason.filter((d) => d.reason === 'QDISC_DROP' && d.iface === net.ifA).reduce((a, d) => a + d.count, 0);
  t.log(`qdisc drops: probe ${qdrops}, tc ${tcDrops}; all drop reasons ${JSON.stringify(s.drops.byReason)}`);
  t.true(within(qdrops, tcDrops, 0.02));

  // srtt is sampled: a socket's first ACK, then at most one per 10 ms however many ACKs arrive
  const rtt = s.rtt.find((r) => r.side === 'client' && r.port === P);
  const acks = sum(sink.samples('probe.pkt_count').filter((x) => x.tags.iface === net.ifA && x.tags.dir === 'rx'));
  t.log(`srtt samples of the sender: ${rtt?.count}; packets it received ${acks}; transfer ${elapsedMs} ms`);
  t.truthy(rtt, 'srtt of the sending socket');
  t.true(rtt!.count >= 1 && rtt!.count <= elapsedMs / 10 + 2, `${rtt!.count} samples in ${elapsedMs} ms`);
  t.true(acks > 2 * rtt!.count, 'fewer samples than ACKs');
});

netTest('the filter is respected: traffic on a port not in the filter is not counted', async (t, net, P) => {
  const Q = P + 1;
  await net.server(net.nsB, net.addrB, P, Q);
  const sink = new MemorySink();
  const h = await probes(sink, { ports: [P] }, ['tcpwatch', 'pktlat']);
  const a0 = net.counters(net.nsA, net.ifA);
  await net.traffic(net.nsA, 'client', net.addrB, Q, 100, 5000);
  await sleep(1200); // a window boundary passes with only unfiltered traffic
  const mid = sum(sink.samples('probe.pkt_count'));
  await net.traffic(net.nsA, 'client', net.addrB, P, 10, 5000);
  const a1 = net.counters(net.nsA, net.ifA);
  await h.stop();
  const conns = sink.events('probe.conn');
  t.is(mid, 0, `nothing counted while only port ${Q} had traffic`);
  t.is(conns.filter((e) => e.attrs.side === 'client').length, 10);
  t.true(conns.every((e) => (e.attrs.side === 'client' ? e.attrs.rport : e.attrs.lport) === P));
  const probeTx = sum(sink.samples('probe.pkt_count').filter((s) => s.tags.iface === net.ifA && s.tags.dir === 'tx'));
  const kernelTx = a1.txPackets - a0.txPackets;
  t.log(`tx on ${net.ifA}: probe ${probeTx} (port ${P} only), kernel ${kernelTx} (both ports)`);
  t.true(probeTx > 0 && probeTx * 5 < kernelTx);
});

type FilterCase = { name: string; cidrs: string[]; match: boolean };

/**
 * The same client connections under each address filter in turn, at the default (sampled) fidelity.
 * A matching filter counts what the device counts (within 2%), times 1 in N of the packets it counts,
 * and sees every client connection and its srtt (at its close, if not at a walk of the sockets); any
 * other counts nothing at all.
 */
async function addressFilterCases(
  t: ExecutionContext,
  net: NetPair,
  o: { ns: string; iface: string; host: string; port: number; conns: number; filter: ProbeFilter; cases: FilterCase[] },
): Promise<void> {
  for (const c of o.cases) {
    const sink = new MemorySink();
    const h = await probes(sink, { ...o.filter, cidrs: c.cidrs }, ['pktlat', 'tcpwatch']);
    const k0 = net.counters(o.ns, o.iface);
    await net.traffic(o.ns, 'client', o.host, o.port, o.conns, 5000);
    const k1 = net.counters(o.ns, o.iface);
    await h.stop();
    const s = summarizeProbes(sink.records);
    const tx = sum(sink.samples('probe.pkt_count').filter((x) => x.tags.iface === o.iface && x.tags.dir === 'tx'));
    const paired = s.packetLatency.filter((l) => l.iface === o.iface).reduce((a, l) => a + l.timed, 0);
    const conns = sink.events('probe.conn').filter((e) => e.attrs.side === 'client').length;
    const rtt = s.rtt.filter((r) => r.port === o.port).reduce((a, r) => a + r.count, 0);
    const kernelTx = k1.txPackets - k0.txPackets;
    t.log(`${c.name} (${c.cidrs.length} prefixes): tx on ${o.iface} probe ${tx}, kernel ${kernelTx}; paired ${paired}; client connections ${conns}; srtt samples ${rtt}`);
    t.true(kernelTx >= 4 * o.conns, 'enough traffic to compare');
    if (c.match) {
      // the kernel also counts an ARP exchange, which no address filter passes
      t.true(within(tx, kernelTx, 0.02), `${c.name}: probe ${tx} vs kernel ${kernelTx}`);
      // sampled (the default): the pairs timed are the packets counted over each window's N
      const p = sampledPairs(sink);
      t.true(p.timed > 0 && Math.abs(p.timed - p.expected) <= 4 * p.sd + 2, `${c.name}: timed ${p.timed}, packets / N ${p.expected.toFixed(1)} ± ${p.sd.toFixed(1)}`);
      t.is(p.histTimed, p.timed, `${c.name}: the histograms hold the pairs the sampling records report`);
      t.is(conns, o.conns, c.name);
      // a socket at the address of one sampled under 10 ms before is not due yet: most, not all
      t.true(rtt >= o.conns / 2, `${c.name}: srtt samples`);
    } else {
      t.is(tx + paired + conns + rtt, 0, `${c.name}: nothing counted`);
    }
  }
}

netTest('the address filter is respected, inline (up to 8 prefixes) and through the trie (more)', async (t, net, P) => {
  await net.server(net.nsB, net.addrB, P);
  // prefixes no packet here carries (198.18.0.1 and .2 talk), some next to theirs
  const others = ['198.19.240.0/24', '198.18.0.4/30', '198.18.0.8/31', '10.0.0.0/8', '198.18.1.0/24', '0.0.0.0/32', '198.18.0.3/32', '::/96'];
  await addressFilterCases(t, net, {
    ns: net.nsA,
    iface: net.ifA,
    host: net.addrB,
    port: P,
    conns: 20,
    filter: { ifaces: [net.ifA, net.ifB] },
    cases: [
      { name: 'inline, none match', cidrs: others.slice(0, 3), match: false },
      { name: 'inline, the server matches', cidrs: [others[0], `${net.addrB}/32`], match: true },
      { name: "inline, the pair's /30", cidrs: ['198.18.0.0/30'], match: true },
      { name: 'trie, none match', cidrs: [...others, '198.19.0.0/16'], match: false },
      { name: 'trie, the client matches', cidrs: [...others, `${net.addrA}/32`], match: true },
    ],
  });
});

netTest('the address filter matches IPv6 addresses too (::1 on the loopback of a namespace of our own)', async (t, net, P) => {
  net.ip('netns', 'exec', net.nsA, 'sysctl', '-qw', 'net.ipv6.conf.lo.disable_ipv6=0');
  await net.server(net.nsA, '::1', P);
  const others = ['fd00::/8', '::2/127', '2001:db8::/32', '127.0.0.0/8', '::ffff:0:0/96', '::/128', 'fe80::/10', '198.18.0.0/15'];
  await addressFilterCases(t, net, {
    ns: net.nsA,
    iface: 'lo',
    host: '::1',
    port: P,
    conns: 10,
    // `lo` matches every loopback on the machine; the fresh port and the addresses keep it to ours
    filter: { ifaces: ['lo'], ports: [P] },
    cases: [
      { name: 'inline, ::1/128', cidrs: ['::1/128'], match: true },
      { name: 'inline, ::/127 (:: and ::1)', cidrs: ['fd00::/8', '::/127'], match: true },
      { name: 'inline, none match (127.0.0.0/8 is not ::1)', cidrs: others.slice(0, 4), match: false },
      { name: 'trie, ::1/128 among 9', cidrs: [...others, '::1/128'], match: true },
      { name: 'trie, none match', cidrs: [...others, 'ff00::/8'], match: false },
    ],
  });
});

netTest('clock sync puts kernel events on the run time base', async (t, net, P) => {
  await net.server(net.nsB, net.addrB, P);
  const sink = new MemorySink();
  const h = await probes(sink, { ports: [P] }, ['tcpwatch']);
  const before = now();
  await net.traffic(net.nsA, 'client', net.addrB, P, 1, 100);
  const after = now();
  await h.stop();
  const clock = sink.events('probe.clock')[0];
  t.truthy(clock);
  t.true(Number(clock.attrs.err_ns) < 100_000, 'the clock pair was read within 100 µs');
  const conn = sink.events('probe.conn').find((e) => e.attrs.side === 'client');
  t.truthy(conn);
  t.log(`connect at ${(conn!.time - before).toFixed(3)} ms after the test's mark, ${(after - conn!.time).toFixed(3)} ms before its end`);
  // the kernel saw the connection between the test's two marks (20 ms allows for realtime drift
  // between the test process's time origin and the loader's clock pair)
  t.true(conn!.time >= before - 20 && Number(conn!.attrs.endMs) <= after + 20);
});

ktest('nothing of ours stays in the kernel after stop, nor after SIGKILL of the loaders', async (t) => {
  const P = freshPort();
  const idsOf = (sink: MemorySink) => ({
    progs: sink.events('probe.ready').flatMap((e) => e.attrs.progIds as number[]),
    maps: sink.events('probe.ready').flatMap((e) => e.attrs.mapIds as number[]),
    pids: sink.events('probe.clock').map((e) => Number(e.attrs.pid)),
  });
  const gone = async (ids: { progs: number[]; maps: number[] }) => {
    for (let i = 0; i < 40; i++) {
      const st = bpfState();
      if (!ids.progs.some((id) => st.progIds.has(id) || st.linkProgIds.has(id)) && !ids.maps.some((id) => st.mapIds.has(id))) return true;
      await sleep(100);
    }
    return false;
  };
  const all: ProbeName[] = ['pktlat', 'fibroute', 'tcpwatch'];

  for (const how of ['stop', 'SIGKILL'] as const) {
    const sink = new MemorySink();
    const h = await probes(sink, { ports: [P], cidrs: ['198.18.0.0/15'] }, all);
    const ids = idsOf(sink);
    const st = bpfState();
    t.is(ids.progs.length, 8);
    t.true(ids.progs.every((id) => st.progIds.has(id) && st.progNames.get(id)!.startsWith('lsc_')), 'our programs are loaded, named lsc_*');
    t.true(ids.progs.every((id) => st.linkProgIds.has(id)), 'each program has its link');
    if (how === 'SIGKILL') for (const pid of ids.pids) process.kill(pid, 'SIGKILL');
    const report = await h.stop();
    if (how === 'SIGKILL') t.true(Object.values(report.loaders).every((r) => r.signal === 'SIGKILL' && r.incomplete));
    t.true(await gone(ids), `no program, link or map left after ${how}`);
  }
});
