// The informer against the real control plane while its API server is killed and restarted: the
// informer's events must be the truth (what the writer did), each change once.
import { CoreV1Api, KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Informer, type InformerEvent } from '../../src/cluster/kubernetes/informer.ts';
import { ControlPlane, missingBinaries } from '../../src/kube/controlplane.ts';
import { needs } from '../helpers/needs.ts';

const it = needs('the test control plane', missingBinaries());
const root = mkdtempSync(join(tmpdir(), 'ls-informer-'));
let cp: ControlPlane | undefined;

test.after.always(async () => {
  await cp?.down();
  rmSync(root, { recursive: true, force: true });
});

/**
 * A TCP relay to the API server that the test can cut (every connection dropped, new ones refused)
 * or freeze (nothing forwarded, connections held open, as in a network partition) until restored.
 * The informer talks through it, the writer directly.
 */
async function relay(target: number): Promise<{ port: number; cut(): void; freeze(): void; restore(): void; close(): void }> {
  const pairs = new Set<[Socket, Socket]>();
  const held = new Set<Socket>();
  let state: 'up' | 'cut' | 'frozen' = 'up';
  const link = (c: Socket) => {
    const s = connect(target, '127.0.0.1');
    const pair: [Socket, Socket] = [c, s];
    pairs.add(pair);
    const drop = () => {
      c.destroy();
      s.destroy();
      pairs.delete(pair);
    };
    c.on('close', drop);
    s.on('error', drop).on('close', drop);
    c.pipe(s).pipe(c);
  };
  const server = createServer((c) => {
    c.on('error', () => c.destroy());
    if (state === 'cut') return c.destroy();
    if (state === 'frozen') {
      held.add(c);
      c.on('close', () => held.delete(c));
      return;
    }
    link(c);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const dropAll = () => {
    for (const [c, s] of pairs) c.destroy(), s.destroy();
    for (const c of held) c.destroy();
  };
  return {
    port: (server.address() as { port: number }).port,
    cut: () => {
      state = 'cut';
      dropAll();
    },
    freeze: () => {
      state = 'frozen';
      for (const [c, s] of pairs) c.unpipe(s), s.unpipe(c);
    },
    restore: () => {
      if (state === 'frozen') for (const [c, s] of pairs) c.pipe(s), s.pipe(c);
      state = 'up';
      for (const c of held) link(c);
      held.clear();
    },
    close: () => {
      state = 'cut';
      dropAll();
      server.close();
    },
  };
}

/** Compacts etcd's history up to its current revision (through etcd's JSON gateway). */
async function compactEtcd(port: number): Promise<number> {
  const post = async (path: string, body: unknown) => {
    const r = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', body: JSON.stringify(body) });
    if (!r.ok) throw new Error(`etcd ${path}: HTTP ${r.status} ${await r.text()}`);
    return (await r.json()) as { header: { revision: string } };
  };
  const rev = (await post('/v3/kv/range', { key: Buffer.from('/').toString('base64') })).header.revision;
  await post('/v3/kv/compaction', { revision: rev, physical: true });
  return Number(rev);
}

/** The state of one object after a change: its resourceVersion, or null when it does not exist. */
type State = string | null;
/** What the informer reported about one object, or RELIST: it began a re-list (after 410 Gone). */
type Seen = { state: State; via: 'watch' | 'list' } | typeof RELIST;
const RELIST = 'relist';

/**
 * Whether `seen` (the informer's reports about one object, in order, with the re-list markers) is
 * the truth's sequence of states (`truth[0]` = null, before the object existed): every watch event
 * exactly the next state; only a re-list may skip states — with one event to a new state, or none
 * when the state listed is the one the informer had; nothing repeated; the same final state.
 */
function matches(truth: State[], seen: Seen[]): boolean {
  const go = (e: number, at: number, listing: boolean): boolean => {
    if (e === seen.length) return at === truth.length - 1;
    const s = seen[e];
    if (s === RELIST) {
      const same = Array.from({ length: truth.length - at }, (_, k) => at + k).filter((k) => truth[k] === truth[at]);
      return same.some((k) => go(e + 1, k, true));
    }
    if (s.via === 'list' && !listing) return false;
    const candidates = s.via === 'watch' ? [at + 1] : Array.from({ length: truth.length - at - 1 }, (_, k) => at + 1 + k);
    return candidates.some((k) => k < truth.length && truth[k] === s.state && go(e + 1, k, s.via === 'list'));
  };
  return go(0, 0, false);
}

test('matches: the checker itself accepts collapsed re-lists and rejects lost, repeated and skipped changes', (t) => {
  const truth: State[] = [null, '1', '2', null, '5', '6'];
  const w = (state: State): Seen => ({ state, via: 'watch' });
  const l = (state: State): Seen => ({ state, via: 'list' });
  t.true(matches(truth, [w('1'), w('2'), w(null), w('5'), w('6')]));
  t.true(matches(truth, [w('1'), RELIST, l(null), w('5'), w('6')]));
  t.true(matches(truth, [w('1'), RELIST, l('6')])); // deleted and created again while not watching: one list step
  t.true(matches([null, '1', null, '3', null], [w('1'), w(null), RELIST]), 'gone before and after the re-list: nothing to report');
  t.false(matches([null, '1', null, '3', null], [w('1'), w(null)]), 'two changes lost without a re-list');
  t.false(matches(truth, [w('1'), l(null), w('5'), w('6')]), 'a list difference without a re-list');
  t.false(matches(truth, [w('1'), w('2'), w(null), w('5')]), 'lost the last change');
  t.false(matches(truth, [w('1'), w('2'), w('2'), w(null), w('5'), w('6')]), 'a change twice');
  t.false(matches(truth, [w('1'), w(null), w('5'), w('6')]), 'a watch event skipped a change');
  t.false(matches(truth, [w('1'), RELIST, l('2'), l('2'), w(null), w('5'), w('6')]), 'a list repeated a state');
  t.false(matches(truth, [w('1'), w('2'), RELIST, l('2'), w(null), w('5'), w('6')]), 'a re-list reported a state the informer had');
});

it('the apiserver killed and restarted mid-stream, a cut connection over a compacted history, a partition: every change seen once, none lost, none twice', async (t) => {
  cp = await ControlPlane.up({ dir: join(root, 'cp'), owned: true });
  const kc = new KubeConfig();
  kc.loadFromFile(cp.info.kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const namespace = 'ls-informer';
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const labelSelector = 'loadscope.test/informer=yes';

  const apiPort = Number(new URL(cp.info.server).port);
  const proxy = await relay(apiPort);
  t.teardown(() => proxy.close());
  const viaProxy = new KubeConfig();
  viaProxy.loadFromString(readFileSync(cp.info.kubeconfig, 'utf8').replace(`server: ${cp.info.server}`, `server: https://127.0.0.1:${proxy.port}`));
  const informerCore = viaProxy.makeApiClient(CoreV1Api);

  const names = Array.from({ length: 6 }, (_, i) => `cm-${i}`);
  const seen = new Map<string, Seen[]>(names.map((n) => [n, []])); // per object, with the re-list markers
  let phase = 'start';
  const story: string[] = []; // what the informer went through, for the log
  const perPhase = new Map<string, { watch: number; list: number }>();
  const informer = new Informer<V1ConfigMap>({
    kubeConfig: viaProxy,
    path: `/api/v1/namespaces/${namespace}/configmaps`,
    list: () => informerCore.listNamespacedConfigMap({ namespace, labelSelector }),
    labelSelector,
    watchTimeoutSeconds: 3, // the server also ends watches itself, often: each must resume where it was
    backoff: { initialMs: 300, maxMs: 3000 },
    onState: (state, detail) => {
      if (state !== 'watching') story.push(`${phase}: ${state}${detail ? ` (${detail.replace(/^request to \S+ failed, reason: /, '')})` : ''}`);
      if (state === 'relisting') for (const s of seen.values()) s.push(RELIST);
    },
    onEvent: (e) => {
      const name = e.object.metadata!.name!;
      if (!seen.has(name)) seen.set(name, []);
      seen.get(name)!.push({ state: e.type === 'deleted' ? null : e.object.metadata!.resourceVersion!, via: e.via });
      const p = perPhase.get(phase) ?? { watch: 0, list: 0 };
      p[e.via]++;
      perPhase.set(phase, p);
    },
  });
  await informer.start();

  // The writer: random creates, updates and deletes of a few ConfigMaps, one at a time, each recorded
  // with the resourceVersion the server gave it (the truth).
  const truth = new Map<string, State[]>(names.map((n) => [n, [null]]));
  const current = (n: string) => truth.get(n)!.at(-1)!;
  let counter = 0;
  const retry = async <T>(op: () => Promise<T>): Promise<T> => {
    for (let i = 0; ; i++) {
      try {
        return await op();
      } catch (e) {
        if (i > 50) throw e;
        await sleep(200);
      }
    }
  };
  const change = async () => {
    const name = names[Math.floor(Math.random() * names.length)];
    const body = { metadata: { name, labels: { 'loadscope.test/informer': 'yes' } }, data: { n: String(++counter) } };
    if (current(name) === null) {
      const r = await retry(() => core.createNamespacedConfigMap({ namespace, body }));
      truth.get(name)!.push(r.metadata!.resourceVersion!);
    } else if (Math.random() < 0.25) {
      await retry(() => core.deleteNamespacedConfigMap({ name, namespace }));
      truth.get(name)!.push(null);
    } else {
      const r = await retry(() => core.replaceNamespacedConfigMap({ name, namespace, body }));
      truth.get(name)!.push(r.metadata!.resourceVersion!);
    }
  };
  const burst = async (n: number, gapMs: number) => {
    for (let i = 0; i < n; i++) {
      await change();
      if (gapMs) await sleep(gapMs);
    }
  };

  const expected = () => new Map(names.map((n) => [n, current(n)]));
  const cached = () => new Map(names.map((n) => [n, informer.get(namespace, n)?.metadata?.resourceVersion ?? null]));
  const caughtUp = async () => {
    const deadline = Date.now() + 30_000;
    while (JSON.stringify([...cached()]) !== JSON.stringify([...expected()]) && Date.now() < deadline) await sleep(100);
  };
  const update = async (name: string) => {
    if (current(name) === null) await change(); // (creates something; then updates `name` below)
    while (current(name) === null) await change();
    const body = { metadata: { name, labels: { 'loadscope.test/informer': 'yes' } }, data: { n: String(++counter) } };
    const r = await retry(() => core.replaceNamespacedConfigMap({ name, namespace, body }));
    truth.get(name)!.push(r.metadata!.resourceVersion!);
  };

  await burst(40, 20);
  for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
    phase = `restart (${signal})`;
    await cp.stop('kube-apiserver', signal); // no request in flight: the writer awaits each change
    await cp.start('kube-apiserver');
    await burst(15, 0); // at once, while the informer may still be backing off
    await burst(25, 20);
  }
  // Changes the informer cannot watch: its connection is cut, the API server restarts (a new watch
  // cache) and etcd's history is compacted, so its resourceVersion is gone for good (410): only a
  // re-list can find them, and it must report exactly what differs.
  phase = 'cut';
  proxy.cut();
  await burst(10, 0);
  await update(names[0]);
  await cp.stop('kube-apiserver', 'SIGKILL');
  await cp.start('kube-apiserver');
  const etcdPort = (await cp.status()).find((c) => c.name === 'etcd')!.port!;
  await compactEtcd(etcdPort);
  await burst(10, 0);
  await update(names[1]);
  proxy.restore();
  await burst(25, 20);
  await caughtUp();
  // A partition: the informer's connection stays open but nothing gets through, so not even the
  // server's end of the watch arrives; the informer must give that watch up and resume once through.
  phase = 'partition';
  proxy.freeze();
  await burst(10, 100);
  const frozeAt = Date.now();
  while (informer.stats.stalls === 0 && Date.now() - frozeAt < 20_000) await sleep(100);
  t.is(informer.stats.stalls, 1, 'the silent watch was given up once');
  proxy.restore();
  await burst(10, 20);

  await caughtUp();
  await sleep(500); // nothing more may arrive
  await informer.stop();

  t.deepEqual(cached(), expected(), 'the cache ends as the server');
  const listed = await core.listNamespacedConfigMap({ namespace, labelSelector });
  t.deepEqual(new Map(listed.items.map((c) => [c.metadata!.name!, c.metadata!.resourceVersion!])), new Map([...expected()].filter(([, v]) => v !== null)));
  let watchEvents = 0;
  let listEvents = 0;
  for (const n of names) {
    const s = seen.get(n) ?? [];
    watchEvents += s.filter((e) => e !== RELIST && e.via === 'watch').length;
    listEvents += s.filter((e) => e !== RELIST && e.via === 'list').length;
    t.true(matches(truth.get(n)!, s), `${n}: truth ${JSON.stringify(truth.get(n))}\nseen ${JSON.stringify(s)}`);
  }
  const changes = [...truth.values()].reduce((a, s) => a + s.length - 1, 0);
  t.log(story.join('\n'));
  t.log(JSON.stringify([...perPhase]));
  t.log(`${changes} changes; informer: ${watchEvents} watch events, ${listEvents} list differences; ${JSON.stringify(informer.stats)}`);
  t.true(informer.stats.relistsAfterGone >= 1, 'the cut connection resumed at a compacted resourceVersion: 410 Gone');
  t.true(listEvents >= 2, 'the changes made while cut were found by the re-list');
  t.is(informer.stats.lists, 1 + informer.stats.relistsAfterGone, 'it lists only at the start and after 410 Gone');
  t.true(informer.stats.watches > 4, 'watches ended by the server were resumed');
  await cp.down();
  cp = undefined;
});
