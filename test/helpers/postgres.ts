// A throw-away PostgreSQL server for tests: initdb into a temporary directory, pg_ctl start listening
// on 127.0.0.1 at a free port and on a Unix socket in that directory, trust authentication for the
// local user `postgres`. Run as the `postgres` OS user when we are root (PostgreSQL refuses to run as
// root). stop() stops it and removes the directory; an exit handler does the same if a test file dies,
// and a server whose test process was killed outright is stopped and removed by the next start.
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

const PG_ROOT = '/usr/lib/postgresql';

function binDir(): string | undefined {
  if (!existsSync(PG_ROOT)) return undefined;
  const versions = readdirSync(PG_ROOT)
    .filter((v) => existsSync(join(PG_ROOT, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(PG_ROOT, versions[0], 'bin') : undefined;
}

function postgresUid(): { uid: number; gid: number } | undefined {
  try {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    return undefined;
  }
}

const isRoot = process.getuid?.() === 0;

/** Why a PostgreSQL server cannot be started here (for `needs`), undefined when it can. */
export function postgresMissing(): string | undefined {
  if (!binDir()) return `no PostgreSQL server binaries under ${PG_ROOT} (apt-get install postgresql; scripts/setup.sh installs it)`;
  if (isRoot && !postgresUid()) return 'running as root and there is no `postgres` user to run the server as (the postgresql package creates it)';
  return undefined;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** A running throw-away server. */
export interface TestPostgres {
  /** postgres://postgres@127.0.0.1:<port>/<db> */
  url(db?: string): string;
  /** The same database through the Unix socket in the server's directory. */
  socketUrl(db?: string): string;
  /** Creates an empty database and returns its URL (TCP). */
  createDatabase(name: string): Promise<string>;
  stop(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs a PostgreSQL binary as the server's user, in `dir`; throws with its output when it fails. */
function runAs(bin: string, dir: string, owner: { uid: number; gid: number } | undefined, cmd: string, args: string[]): void {
  const [file, argv] = owner ? ['runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args]] : [join(bin, cmd), args];
  const r = spawnSync(file, argv, { encoding: 'utf8', cwd: dir, timeout: 60_000 });
  if (r.status !== 0) throw new Error(`${cmd} failed (${r.status ?? r.signal}): ${(r.stderr || r.stdout || String(r.error)).trim().slice(-2000)}`);
}

/** Stops and removes the servers of test processes that are gone (killed before their exit handler ran). */
function sweepStale(bin: string, owner: { uid: number; gid: number } | undefined): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith('loadscope-pg-')) continue;
    const dir = join(tmpdir(), name);
    let pid = NaN;
    try {
      pid = Number(readFileSync(join(dir, 'owner.pid'), 'utf8'));
    } catch {
      continue; // being set up, or not ours
    }
    if (!Number.isInteger(pid) || alive(pid)) continue;
    try {
      if (existsSync(join(dir, 'data', 'postmaster.pid'))) runAs(bin, dir, owner, 'pg_ctl', ['-D', join(dir, 'data'), '-m', 'immediate', '-w', 'stop']);
    } catch {
      // not running
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function startPostgres(): Promise<TestPostgres> {
  const bin = binDir();
  if (!bin) throw new Error(postgresMissing());
  const owner = isRoot ? postgresUid() : undefined;
  sweepStale(bin, owner);
  const dir = mkdtempSync(join(tmpdir(), 'loadscope-pg-'));
  writeFileSync(join(dir, 'owner.pid'), String(process.pid));
  const data = join(dir, 'data');
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const as = (cmd: string, args: string[]) => runAs(bin, dir, owner, cmd, args);
  let started = false;
  const stop = () => {
    if (started) {
      started = false;
      try {
        as('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
    process.off('exit', stop);
  };
  process.on('exit', stop);
  try {
    as('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    const port = await freePort();
    as('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '60', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start']);
    started = true;
    const url = (db = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${db}`;
    return {
      url,
      socketUrl: (db = 'postgres') => `postgres://postgres@${encodeURIComponent(dir)}:${port}/${db}`,
      async createDatabase(name: string) {
        const c = new pg.Client({ connectionString: url() });
        await c.connect();
        try {
          await c.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
        } finally {
          await c.end();
        }
        return url(name);
      },
      stop,
    };
  } catch (e) {
    stop();
    throw e;
  }
}
