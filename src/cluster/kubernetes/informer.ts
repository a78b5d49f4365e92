import { Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';

/**
 * One change of the informer's cache. `via: 'watch'` is a change the watch reported; `via: 'list'`
 * is a difference a (re-)list found: on the first list, every object; after a watch could not be
 * resumed (410 Gone), only what really differs from the cache — changes made while the informer
 * was not watching are seen as one step from the state it had to the state listed.
 */
export type InformerEvent<T extends KubernetesObject> =
  | { type: 'added'; object: T; via: 'watch' | 'list' }
  | { type: 'updated'; object: T; old: T; via: 'watch' | 'list' }
  | { type: 'deleted'; object: T; via: 'watch' | 'list' };

/** What an informer watches and whom it tells. */
export interface InformerOptions<T extends KubernetesObject> {
  kubeConfig: KubeConfig;
  /** The collection's URL path, e.g. `/api/v1/namespaces/ns/configmaps`. */
  path: string;
  /** Lists the same collection (e.g. `() => core.listNamespacedConfigMap({ namespace })`); its resourceVersion starts the watch. */
  list: () => Promise<KubernetesListObject<T>>;
  /** Called synchronously, in order, for each change of the cache. */
  onEvent: (e: InformerEvent<T>) => void;
  /** Connection changes: `watching`, `disconnected` (with the reason), `relisting` (after 410 Gone or an error before the first list). */
  onState?: (state: 'watching' | 'disconnected' | 'relisting', detail?: string) => void;
  labelSelector?: string;
  fieldSelector?: string;
  /** Reconnect back-off: doubles from `initialMs` to `maxMs`, ±20% jitter (defaults 200 ms, 5 s). */
  backoff?: { initialMs?: number; maxMs?: number };
  /**
   * The server ends each watch after about this long, and the informer resumes it (default 300–600 s,
   * random). A watch the server has not ended 50% + 5 s later is taken for a dead connection
   * (a partition, a frozen server) and abandoned, as is a list that takes longer than `listTimeoutMs`.
   */
  watchTimeoutSeconds?: number;
  /** Default 60 s. */
  listTimeoutMs?: number;
}

/** Counters of what the informer did, for tests and diagnostics. */
export interface InformerStats {
  lists: number;
  /** Re-lists because the watch's resourceVersion was too old (410 Gone). */
  relistsAfterGone: number;
  watches: number;
  /** Watches that ended with an error (connection refused or reset, a non-410 error status). */
  watchErrors: number;
  /** Watches and lists abandoned because the server stopped answering (counted in watchErrors too, for watches). */
  stalls: number;
}

const key = (o: KubernetesObject) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
const rvOf = (o: KubernetesObject) => o.metadata?.resourceVersion;

/**
 * List + watch of one collection with a local cache, as client-go's reflector: the watch resumes
 * from the last resourceVersion seen (events and bookmarks) after a disconnect, with back-off; when
 * the server no longer has that version (410 Gone, e.g. after an API server restart) it lists again
 * and emits only the differences from its cache. No change is reported twice, none is lost.
 */
export class Informer<T extends KubernetesObject> {
  private readonly opts: InformerOptions<T>;
  private readonly cache = new Map<string, T>();
  private rv = '';
  private stopped = false;
  private abort?: AbortController;
  private wake?: () => void;
  private loop?: Promise<void>;
  readonly stats: InformerStats = { lists: 0, relistsAfterGone: 0, watches: 0, watchErrors: 0, stalls: 0 };

  constructor(opts: InformerOptions<T>) {
    this.opts = opts;
  }

  /** Starts listing and watching; resolves after the first list has been emitted. */
  start(): Promise<void> {
    if (this.loop) throw new Error('informer already started');
    return new Promise((resolve, reject) => {
      this.loop = this.run(resolve).then(
        () => reject(new Error('informer stopped before its first list')),
        reject,
      );
    });
  }

  /** Stops watching; no event is emitted after it resolves. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    this.wake?.();
    await this.loop?.catch(() => {});
  }

  /** The cached objects. */
  list(): T[] {
    return [...this.cache.values()];
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.cache.get(`${namespace ?? ''}/${name}`);
  }

  /** The resourceVersion the next watch resumes from. */
  get resourceVersion(): string {
    return this.rv;
  }

  private async run(onSynced: () => void): Promise<void> {
    const initial = this.opts.backoff?.initialMs ?? 200;
    const max = this.opts.backoff?.maxMs ?? 5000;
    let delay = initial;
    let needList = true;
    let synced = false;
    const backOff = async () => {
      await this.sleep(delay * (0.8 + 0.4 * Math.random()));
      delay = Math.min(max, delay * 2);
    };
    while (!this.stopped) {
      if (needList) {
        try {
          await this.relist();
        } catch (e) {
          this.opts.onState?.('disconnected', `list failed: ${(e as Error).message}`);
          await backOff();
          continue;
        }
        if (this.stopped) break;
        needList = false;
        if (!synced) {
          synced = true;
          onSynced();
        }
      }
      const end = await this.watchOnce();
      if (this.stopped) break;
      if (end.gone) {
        this.stats.relistsAfterGone++;
        this.opts.onState?.('relisting', end.reason);
        needList = true;
        continue;
      }
      this.opts.onState?.('disconnected', end.reason);
      if (end.progressed) delay = initial;
      if (end.error || !end.progressed) await backOff();
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(r, ms);
      this.wake = () => {
        clearTimeout(t);
        r();
      };
    });
  }

  private async relist(): Promise<void> {
    const ms = this.opts.listTimeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.stats.stalls++;
        reject(new Error(`no answer within ${ms} ms`));
      }, ms);
    });
    const list = await Promise.race([this.opts.list(), stalled]).finally(() => clearTimeout(timer));
    this.stats.lists++;
    if (this.stopped) return;
    const seen = new Set<string>();
    for (const obj of list.items) {
      const k = key(obj);
      seen.add(k);
      const old = this.cache.get(k);
      this.cache.set(k, obj);
      if (!old) this.opts.onEvent({ type: 'added', object: obj, via: 'list' });
      else if (old.metadata?.uid !== obj.metadata?.uid) {
        // deleted and created again while nobody watched: two changes, not an update
        this.opts.onEvent({ type: 'deleted', object: old, via: 'list' });
        this.opts.onEvent({ type: 'added', object: obj, via: 'list' });
      } else if (rvOf(old) !== rvOf(obj)) this.opts.onEvent({ type: 'updated', object: obj, old, via: 'list' });
    }
    for (const [k, old] of this.cache) {
      if (seen.has(k)) continue;
      this.cache.delete(k);
      this.opts.onEvent({ type: 'deleted', object: old, via: 'list' });
    }
    this.rv = list.metadata?.resourceVersion ?? '';
  }

  /** One watch from `this.rv`, until the server or the network ends it. */
  private watchOnce(): Promise<{ gone: boolean; error: boolean; progressed: boolean; reason: string }> {
    return new Promise((resolve) => {
      let gone = false;
      let progressed = false;
      let errorStatus: string | undefined;
      const controller = new AbortController();
      this.abort = controller;
      this.stats.watches++;
      const timeout = this.opts.watchTimeoutSeconds ?? 300 + Math.floor(Math.random() * 300);
      const query = {
        resourceVersion: this.rv,
        allowWatchBookmarks: true,
        timeoutSeconds: timeout,
        labelSelector: this.opts.labelSelector,
        fieldSelector: this.opts.fieldSelector,
      };
      const onEvent = (type: string, obj: T & { code?: number; reason?: string; message?: string }) => {
        if (controller.signal.aborted || this.stopped) return;
        if (type === 'ERROR') {
          if (obj.code === 410 || obj.reason === 'Expired' || obj.reason === 'Gone') gone = true;
          else errorStatus = `watch error ${obj.code ?? ''} ${obj.reason ?? ''}: ${obj.message ?? ''}`;
          controller.abort();
          return;
        }
        progressed = true;
        if (type === 'BOOKMARK') {
          this.rv = rvOf(obj) ?? this.rv;
          return;
        }
        const k = key(obj);
        const old = this.cache.get(k);
        if (type === 'ADDED' || type === 'MODIFIED') {
          if (!old || rvOf(old) !== rvOf(obj)) {
            this.cache.set(k, obj);
            if (old) this.opts.onEvent({ type: 'updated', object: obj, old, via: 'watch' });
            else this.opts.onEvent({ type: 'added', object: obj, via: 'watch' });
          }
        } else if (type === 'DELETED' && old) {
          this.cache.delete(k);
          this.opts.onEvent({ type: 'deleted', object: obj, via: 'watch' });
        }
        this.rv = rvOf(obj) ?? this.rv;
      };
      let settled = false;
      let stalled = false;
      const deadline = setTimeout(() => {
        stalled = true;
        this.stats.stalls++;
        controller.abort();
      }, (timeout * 1.5 + 5) * 1000);
      const done = (err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        if (stalled) errorStatus = `the server neither ended the watch nor answered within ${timeout * 1.5 + 5} s`;
        const status = (err as { statusCode?: number } | null)?.statusCode;
        if (status === 410) gone = true;
        const failed = !gone && (errorStatus !== undefined || (err != null && !controller.signal.aborted));
        if (failed) this.stats.watchErrors++;
        const reason = gone ? 'resourceVersion too old (410 Gone)' : (errorStatus ?? (err ? String((err as Error).message ?? err) : 'closed by the server'));
        resolve({ gone, error: failed, progressed, reason });
      };
      // Aborted here (410, an error status, a stall, stop()): settled at once, even when the request
      // itself hangs unanswered; the connection is closed whenever it has come up.
      controller.signal.addEventListener('abort', () => done(null), { once: true });
      new Watch(this.opts.kubeConfig)
        .watch(this.opts.path, query, onEvent, done)
        .then((c) => {
          if (settled) return c.abort();
          this.opts.onState?.('watching');
          controller.signal.addEventListener('abort', () => c.abort(), { once: true });
          if (controller.signal.aborted) c.abort();
        })
        .catch(done);
    });
  }
}
