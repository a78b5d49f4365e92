import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LoadscopeError } from '../core/errors.ts';
import { Ledger, processStartTime } from '../core/ledger.ts';
import { createPki, kubeconfig, type Pki } from './pki.ts';
import {
  COMPONENTS,
  KUBERNETES_SERVICE_IP,
  POD_CIDR,
  SERVICE_CIDR,
  type Component,
  type ComponentState,
  type ComponentStatus,
  type ControlPlaneInfo,
  type ControlPlaneOptions,
} from './types.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const STATE = 'state.json';
/** Written first into a state directory: only a directory with it is ever removed. */
const MARKER = '.loadscope-controlplane';
const READY_TIMEOUT_MS: Record<Component, number> = { etcd: 30_000, 'kube-apiserver': 90_000, 'kube-controller-manager': 60_000, 'kube-scheduler': 60_000 };
const STOP_GRACE_MS = 10_000;

/** The state directory: the option, else $LOADSCOPE_CONTROLPLANE_DIR, else `.tools/controlplane` of the repository. */
export function controlPlaneDir(dir?: string): string {
  return resolve(dir ?? process.env.LOADSCOPE_CONTROLPLANE_DIR ?? join(REPO, '.tools', 'controlplane'));
}

/** Where scripts/build-kube.sh puts the binaries. */
function defaultBinDir(): string {
  return join(REPO, '.tools', 'bin');
}

/** Names the binaries of `binDir` that are missing, or undefined when all four are there. */
export function missingBinaries(binDir = defaultBinDir()): string | undefined {
  const missing = COMPONENTS.filter((c) => !existsSync(join(binDir, c)));
  return missing.length ? `${missing.join(', ')} not built in ${binDir} (run scripts/build-kube.sh; it needs Go)` : undefined;
}

interface StateFile {
  info: ControlPlaneInfo;
  binDir: string;
  components: Partial<Record<Component, Omit<ComponentState, 'pid' | 'startTime'>>>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(pid: number, startTime: string): boolean {
  if (processStartTime(pid) !== startTime) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });
}

function readPid(dir: string, c: Component): { pid: number; startTime: string } | undefined {
  try {
    const [pid, startTime] = readFileSync(join(dir, `${c}.pid`), 'utf8').trim().split(/\s+/);
    return Number(pid) > 0 && startTime ? { pid: Number(pid), startTime } : undefined;
  } catch {
    return undefined;
  }
}

function writeAtomic(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

function logTail(log: string, lines = 15): string {
  try {
    return readFileSync(log, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** GETs a health URL; resolves with the body when the status is 200, rejects otherwise. */
function get(url: string, tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer }): Promise<string> {
  return new Promise((res, rej) => {
    const u = new URL(url);
    const opts = { timeout: 2000, ...(u.protocol === 'https:' ? { ca: tls?.ca, cert: tls?.cert, key: tls?.key, rejectUnauthorized: Boolean(tls?.ca) } : {}) };
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, opts, (r) => {
      let body = '';
      r.setEncoding('utf8');
      r.on('data', (d: string) => (body += d));
      r.on('end', () => (r.statusCode === 200 ? res(body.trim()) : rej(new Error(`HTTP ${r.statusCode}: ${body.trim().slice(0, 200)}`))));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', rej);
    req.end();
  });
}

/**
 * The test control plane: etcd, kube-apiserver, kube-controller-manager and kube-scheduler on
 * 127.0.0.1, each a detached process whose pid (and start time) is kept in `<dir>/<component>.pid`.
 * `up()` starts one; `ControlPlane.open()` finds a running one; `down()` stops it and removes `dir`.
 */
export class ControlPlane {
  readonly dir: string;
  readonly info: ControlPlaneInfo;
  private state: StateFile;
  private ledger?: Ledger;

  private constructor(dir: string, state: StateFile, ledger?: Ledger) {
    this.dir = dir;
    this.state = state;
    this.info = state.info;
    this.ledger = ledger;
  }

  /** The control plane recorded in `dir`, or undefined when there is no state there. */
  static open(dir?: string): ControlPlane | undefined {
    const d = controlPlaneDir(dir);
    try {
      return new ControlPlane(d, JSON.parse(readFileSync(join(d, STATE), 'utf8')) as StateFile);
    } catch {
      return undefined;
    }
  }

  /** Starts a control plane in the state directory, which must not hold a running one. */
  static async up(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
    const dir = controlPlaneDir(opts.dir);
    const binDir = resolve(opts.binDir ?? defaultBinDir());
    const say = opts.onStatus ?? (() => {});
    const missing = missingBinaries(binDir);
    if (missing) throw new LoadscopeError('ENVIRONMENT', `the test control plane is not built: ${missing}`, { hint: 'npm run setup (with Go installed) or bash scripts/build-kube.sh' });
    if (existsSync(dir) && readdirSync(dir).length > 0) {
      if (!existsSync(join(dir, MARKER))) {
        throw new LoadscopeError('USAGE', `${dir} exists and is not a control plane's state directory`, { hint: 'choose an empty or new directory' });
      }
      const running = COMPONENTS.filter((c) => {
        const p = readPid(dir, c);
        return p && alive(p.pid, p.startTime);
      });
      if (running.length) throw new LoadscopeError('USAGE', `a control plane is already running in ${dir} (${running.join(', ')})`, { hint: 'loadscope controlplane status, or down first' });
      await down(dir); // state of a control plane that is gone (a reboot, a killed process)
    }
    mkdirSync(join(dir, 'logs'), { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, MARKER), 'state of `loadscope controlplane`; removed by `loadscope controlplane down`\n');
    const ledger = new Ledger(`controlplane-${process.pid}-${Date.now().toString(36)}`);
    ledger.add({ kind: 'file', path: dir });
    const t0 = performance.now();
    try {
      const [etcdPort, peerPort, apiPort, cmPort, schedPort] = await Promise.all([freePort(), freePort(), opts.apiServerPort ?? freePort(), freePort(), freePort()]);
      const server = `https://127.0.0.1:${apiPort}`;
      const pki = await createPki(join(dir, 'pki'), [
        {
          name: 'apiserver',
          cn: 'kube-apiserver',
          usage: 'server',
          san: ['IP:127.0.0.1', `IP:${KUBERNETES_SERVICE_IP}`, 'DNS:localhost', 'DNS:kubernetes', 'DNS:kubernetes.default', 'DNS:kubernetes.default.svc', 'DNS:kubernetes.default.svc.cluster.local'],
        },
        { name: 'admin', cn: 'loadscope-admin', o: ['system:masters'], usage: 'client' },
        { name: 'controller-manager', cn: 'system:kube-controller-manager', usage: 'client' },
        { name: 'scheduler', cn: 'system:kube-scheduler', usage: 'client' },
        { name: 'front-proxy-client', cn: 'front-proxy-client', usage: 'client', ca: 'front-proxy-ca' },
      ]);
      const kc = { admin: join(dir, 'kubeconfig'), cm: join(dir, 'controller-manager.kubeconfig'), sched: join(dir, 'scheduler.kubeconfig') };
      writeAtomic(kc.admin, kubeconfig(pki, server, 'loadscope-admin', 'admin'));
      writeAtomic(kc.cm, kubeconfig(pki, server, 'system:kube-controller-manager', 'controller-manager'));
      writeAtomic(kc.sched, kubeconfig(pki, server, 'system:kube-scheduler', 'scheduler'));
      for (const sub of ['etcd', 'flexvolume', 'controller-manager', 'scheduler']) mkdirSync(join(dir, sub), { recursive: true, mode: 0o700 });

      const args = componentArgs({ dir, pki, kc, etcdPort, peerPort, apiPort, cmPort, schedPort, hpaSyncPeriod: opts.hpaSyncPeriod ?? '5s' });
      const state: StateFile = {
        info: { dir, server, kubeconfig: kc.admin, serviceCidr: SERVICE_CIDR, podCidr: POD_CIDR },
        binDir,
        components: {},
      };
      const ports: Record<Component, number> = { etcd: etcdPort, 'kube-apiserver': apiPort, 'kube-controller-manager': cmPort, 'kube-scheduler': schedPort };
      for (const c of COMPONENTS) state.components[c] = { port: ports[c], args: [...args[c], ...(opts.extraArgs?.[c] ?? [])], log: join(dir, 'logs', `${c}.log`) };
      writeAtomic(join(dir, STATE), JSON.stringify(state, null, 2));

      const cp = new ControlPlane(dir, state, ledger);
      await cp.start('etcd');
      say(`etcd ready on 127.0.0.1:${etcdPort} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      await cp.start('kube-apiserver');
      say(`kube-apiserver ready at ${server} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      await Promise.all([cp.start('kube-controller-manager'), cp.start('kube-scheduler')]);
      say(`kube-controller-manager and kube-scheduler healthy (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      if (!opts.owned) {
        // Handed over: from now on the pid files and `down` own the processes, not this process.
        ledger.remove(() => true);
        ledger.close();
        cp.ledger = undefined;
      }
      return cp;
    } catch (err) {
      await down(dir).catch(() => {});
      ledger.close();
      throw err;
    }
  }

  /** Starts one component with its recorded arguments and waits until its health endpoint answers. */
  async start(c: Component): Promise<void> {
    const s = this.state.components[c];
    if (!s) throw new LoadscopeError('INTERNAL', `no recorded arguments for ${c}`);
    const running = readPid(this.dir, c);
    if (running && alive(running.pid, running.startTime)) throw new LoadscopeError('USAGE', `${c} is already running (pid ${running.pid})`);
    // A killed process can show as a zombie while its other threads still hold its sockets.
    for (const deadline = performance.now() + 10_000; !(await portFree(s.port)); await sleep(100)) {
      if (performance.now() > deadline) throw new LoadscopeError('SERVICE_START', `${c} cannot start: 127.0.0.1:${s.port} is in use`);
    }
    const fd = openSync(s.log, 'a');
    let exited: string | undefined;
    const child = spawn(join(this.state.binDir, c), s.args, { detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    child.on('error', (e) => (exited = e.message));
    child.on('exit', (code, signal) => (exited = signal ? `killed by ${signal}` : `exit code ${code}`));
    child.unref();
    const pid = child.pid;
    const startTime = pid ? processStartTime(pid) : undefined;
    if (!pid || !startTime) {
      await sleep(50);
      throw new LoadscopeError('SERVICE_START', `${c} did not start: ${exited ?? 'no process'}`);
    }
    this.ledger?.add({ kind: 'process', pid, startTime });
    writeAtomic(join(this.dir, `${c}.pid`), `${pid} ${startTime}\n`);
    const deadline = performance.now() + READY_TIMEOUT_MS[c];
    let last = '';
    for (;;) {
      if (exited !== undefined || !alive(pid, startTime)) {
        throw new LoadscopeError('SERVICE_START', `${c} exited while starting (${exited ?? 'gone'}); the end of ${s.log}:\n${logTail(s.log)}`);
      }
      try {
        await this.health(c);
        return;
      } catch (e) {
        last = (e as Error).message;
      }
      if (performance.now() > deadline) {
        throw new LoadscopeError('SERVICE_START', `${c} was not healthy within ${READY_TIMEOUT_MS[c] / 1000} s (${last}); the end of ${s.log}:\n${logTail(s.log)}`);
      }
      await sleep(100);
    }
  }

  /** Stops one component (SIGTERM, then SIGKILL after the grace time, or at once with SIGKILL). */
  async stop(c: Component, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    await stopOne(this.dir, c, signal);
  }

  /** Its health endpoint's answer (`ok`); rejects when it does not answer 200. */
  async health(c: Component): Promise<string> {
    const s = this.state.components[c];
    if (!s) throw new Error('not configured');
    const pki = join(this.dir, 'pki');
    switch (c) {
      case 'etcd': {
        const body = await get(`http://127.0.0.1:${s.port}/health`);
        if (!/"health":\s*"true"/.test(body)) throw new Error(body);
        return 'ok';
      }
      case 'kube-apiserver':
        return get(`${this.info.server}/readyz`, { ca: readFileSync(join(pki, 'ca.crt')), cert: readFileSync(join(pki, 'admin.crt')), key: readFileSync(join(pki, 'admin.key')) });
      default:
        return get(`https://127.0.0.1:${s.port}/healthz`);
    }
  }

  /** Every component: pid, port, whether it runs and its health. */
  async status(): Promise<ComponentStatus[]> {
    return Promise.all(
      COMPONENTS.map(async (name) => {
        const p = readPid(this.dir, name);
        const running = p !== undefined && alive(p.pid, p.startTime);
        const port = this.state.components[name]?.port;
        const health = running ? await this.health(name).catch((e: Error) => e.message) : 'not running';
        return { name, pid: running ? p?.pid : undefined, port, running, health };
      }),
    );
  }

  /** Stops everything and removes the state directory (and this process's ledger, if it owns one). */
  async down(): Promise<void> {
    await down(this.dir);
    this.ledger?.close();
    this.ledger = undefined;
  }
}

async function stopOne(dir: string, c: Component, signal: 'SIGTERM' | 'SIGKILL'): Promise<boolean> {
  const p = readPid(dir, c);
  if (!p || !alive(p.pid, p.startTime)) return false;
  try {
    process.kill(p.pid, signal);
  } catch {
    return false;
  }
  const deadline = performance.now() + (signal === 'SIGKILL' ? 5000 : STOP_GRACE_MS);
  while (alive(p.pid, p.startTime)) {
    if (performance.now() > deadline) {
      if (signal === 'SIGKILL') throw new LoadscopeError('INTERNAL', `${c} (pid ${p.pid}) did not die on SIGKILL`);
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone between the check and the kill
      }
      signal = 'SIGKILL';
    }
    await sleep(50);
  }
  return true;
}

/**
 * Stops every component recorded in `dir` (the controllers and the API server first, etcd last)
 * and removes `dir`. Works on what a crashed `up` left: it needs only the pid files.
 */
export async function down(dir?: string): Promise<Component[]> {
  const d = controlPlaneDir(dir);
  const stopped: Component[] = [];
  const first = ['kube-scheduler', 'kube-controller-manager', 'kube-apiserver'] as const;
  const r = await Promise.all(first.map((c) => stopOne(d, c, 'SIGTERM')));
  first.forEach((c, i) => r[i] && stopped.push(c));
  if (await stopOne(d, 'etcd', 'SIGTERM')) stopped.push('etcd');
  if (existsSync(join(d, MARKER))) rmSync(d, { recursive: true, force: true });
  return stopped;
}

interface ArgsInput {
  dir: string;
  pki: Pki;
  kc: { admin: string; cm: string; sched: string };
  etcdPort: number;
  peerPort: number;
  apiPort: number;
  cmPort: number;
  schedPort: number;
  hpaSyncPeriod: string;
}

function componentArgs(a: ArgsInput): Record<Component, string[]> {
  const { pki } = a;
  const peer = `http://127.0.0.1:${a.peerPort}`;
  const client = `http://127.0.0.1:${a.etcdPort}`;
  return {
    etcd: [
      '--name=loadscope',
      `--data-dir=${join(a.dir, 'etcd')}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=loadscope=${peer}`,
      '--unsafe-no-fsync=true', // a throw-away test store: no fsync, as envtest
      '--log-level=warn',
    ],
    'kube-apiserver': [
      `--etcd-servers=${client}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${a.apiPort}`,
      '--advertise-address=127.0.0.1',
      '--endpoint-reconciler-type=none', // a loopback advertise address is refused otherwise
      `--cert-dir=${join(a.dir, 'pki')}`,
      `--tls-cert-file=${pki.cert('apiserver').crt}`,
      `--tls-private-key-file=${pki.cert('apiserver').key}`,
      `--client-ca-file=${pki.ca.crt}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki.serviceAccount.pub}`,
      `--service-account-signing-key-file=${pki.serviceAccount.key}`,
      '--authorization-mode=Node,RBAC',
      '--allow-privileged=true',
      `--proxy-client-cert-file=${pki.cert('front-proxy-client').crt}`,
      `--proxy-client-key-file=${pki.cert('front-proxy-client').key}`,
      `--requestheader-client-ca-file=${pki.frontProxyCa.crt}`,
      '--requestheader-allowed-names=front-proxy-client',
      '--requestheader-username-headers=X-Remote-User',
      '--requestheader-group-headers=X-Remote-Group',
      '--requestheader-extra-headers-prefix=X-Remote-Extra-',
      // proxy aggregated APIs (loadscope's metrics APIs, kube/metrics-api.ts) to their endpoint's address:
      // there is no kube-proxy to route a Service's ClusterIP from the API server
      '--enable-aggregator-routing=true',
      '--profiling=false',
    ],
    'kube-controller-manager': [
      `--kubeconfig=${a.kc.cm}`,
      `--authentication-kubeconfig=${a.kc.cm}`,
      `--authorization-kubeconfig=${a.kc.cm}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${a.cmPort}`,
      `--cert-dir=${join(a.dir, 'controller-manager')}`,
      '--leader-elect=false',
      '--controllers=*',
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${pki.serviceAccount.key}`,
      `--root-ca-file=${pki.ca.crt}`,
      `--cluster-signing-cert-file=${pki.ca.crt}`,
      `--cluster-signing-key-file=${pki.ca.key}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      `--cluster-cidr=${POD_CIDR}`,
      '--allocate-node-cidrs=true',
      `--horizontal-pod-autoscaler-sync-period=${a.hpaSyncPeriod}`,
      `--flex-volume-plugin-dir=${join(a.dir, 'flexvolume')}`, // else it creates a directory under /usr
      '--profiling=false',
    ],
    'kube-scheduler': [
      `--kubeconfig=${a.kc.sched}`,
      `--authentication-kubeconfig=${a.kc.sched}`,
      `--authorization-kubeconfig=${a.kc.sched}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${a.schedPort}`,
      `--cert-dir=${join(a.dir, 'scheduler')}`,
      '--leader-elect=false',
      '--profiling=false',
    ],
  };
}
