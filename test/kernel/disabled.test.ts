// Without what they need the probes stay off and say exactly why; `probes: required` makes it an error.
import test from 'ava';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoadscopeError } from '../../src/core/errors.ts';
import { defaultLoaderDir, filterProblems, probeTrafficFilterForPorts, startProbes } from '../../src/kernel/probes.ts';
import { MemorySink } from './helpers/netns.ts';

const missing = join(tmpdir(), 'loadscope-no-such-build', '.output');
const filter = { ports: [8080], ifaces: ['lo'] };
const asRoot = process.getuid?.() === 0;

test('a missing build leaves probes off with the reason (auto)', async (t) => {
  const lines: string[] = [];
  const h = await startProbes({ sink: new MemorySink(), filter, mode: 'auto', loaderDir: missing, onStatus: (l) => lines.push(l) });
  t.false(h.status.enabled);
  t.deepEqual(h.status.probes, []);
  if (asRoot) t.regex(h.status.reason!, /probe loaders not built: .*loadscope-no-such-build\/\.output\/pktlat is missing/);
  else t.regex(h.status.reason!, /not root/);
  t.true(lines.some((l) => l.startsWith('probes off:')));
  t.deepEqual(await h.stop(), { lostEvents: 0, cpuSeconds: 0, linesParsed: 0, malformedLines: 0, loaders: {} });
});

test('a missing build is an ENVIRONMENT error with a hint when probes are required', async (t) => {
  const err = await t.throwsAsync(startProbes({ sink: new MemorySink(), filter, mode: 'required', loaderDir: missing }), { instanceOf: LoadscopeError });
  t.is(err!.code, 'ENVIRONMENT');
  t.regex(err!.message, /probes are required but cannot run/);
  t.truthy(err!.hint);
  if (asRoot) t.regex(err!.hint!, /make -C bpf/);
});

test('LOADSCOPE_BPF_DIR points the probes at another build', async (t) => {
  const before = process.env.LOADSCOPE_BPF_DIR;
  process.env.LOADSCOPE_BPF_DIR = missing;
  try {
    t.is(defaultLoaderDir(), missing);
    const h = await startProbes({ sink: new MemorySink(), filter, mode: 'auto' });
    t.false(h.status.enabled);
    if (asRoot) t.true(h.status.reason!.includes(missing));
  } finally {
    if (before === undefined) delete process.env.LOADSCOPE_BPF_DIR;
    else process.env.LOADSCOPE_BPF_DIR = before;
  }
});

test('probes: off starts nothing', async (t) => {
  const h = await startProbes({ sink: new MemorySink(), filter, mode: 'off', loaderDir: missing });
  t.deepEqual(h.status, { enabled: false, reason: 'probes: off in the scenario', probes: [] });
});

test('an empty or bad filter is refused: the probes never trace the whole machine', async (t) => {
  const err = await t.throwsAsync(startProbes({ sink: new MemorySink(), filter: {}, mode: 'auto', loaderDir: missing }), { instanceOf: LoadscopeError });
  t.is(err!.code, 'USAGE');
  t.regex(err!.message, /empty filter/);
  t.deepEqual(filterProblems({ ports: [0, 70000], ifaces: ['a b'], cidrs: ['10.0.0.0/33', 'x'] }).length, 5);
  t.deepEqual(filterProblems({ cidrs: ['198.18.0.0/15', '::1', 'fd00::/8'] }), []);
  t.deepEqual(probeTrafficFilterForPorts([8081, 8080, 8080], { ifaces: ['lo'] }), { ports: [8080, 8081], ifaces: ['lo'], cidrs: [] });
});

test('a loader that refuses to load turns the probes off with its own message', async (t) => {
  if (!asRoot) return t.pass('needs root to get past the environment check');
  const dir = mkdtempSync(join(tmpdir(), 'loadscope-fake-bpf-'));
  try {
    for (const name of ['pktlat', 'fibroute', 'tcpwatch']) {
      const p = join(dir, name);
      writeFileSync(p, `#!/bin/sh\necho '{"t":"error","probe":"${name}","msg":"load BPF programs: Operation not permitted"}'\nexit 1\n`);
      chmodSync(p, 0o755);
    }
    const sink = new MemorySink();
    const h = await startProbes({ sink, filter, mode: 'auto', loaderDir: dir });
    t.false(h.status.enabled);
    t.regex(h.status.reason!, /pktlat: load BPF programs: Operation not permitted/);
    t.is(sink.events('probe.error').length, 3);
    const err = await t.throwsAsync(startProbes({ sink, filter, mode: 'required', loaderDir: dir }), { instanceOf: LoadscopeError });
    t.is(err!.code, 'ENVIRONMENT');
    t.regex(err!.hint!, /root|BPF/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
