// A private Debian nginx on loopback: one worker, no access log, a small static file and
// stub_status (its request counter is the tool-independent count every load figure is based on).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request, Agent } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { collect, killGroup, spawnTracked, waitExit } from './proc.ts';

/** A running nginx. `served()` is stub_status's request total minus the bench's own status polls. */
export interface Nginx {
  url: string;
  /** The static file's URL (`bytes` long). */
  fileUrl: string;
  port: number;
  pid: number;
  bytes: number;
  served(): Promise<number>;
  stop(): Promise<void>;
}

const PREFIX = 'loadscope-bench-nginx-';

export function nginxBinary(): string | undefined {
  for (const p of ['/usr/sbin/nginx', '/usr/bin/nginx']) if (existsSync(p)) return p;
  return undefined;
}

/** A free loopback TCP port (bound once and released: a tiny race, fine on a private machine). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Kills nginx masters left by a bench that was SIGKILLed (pid file in a stale temp dir), removes the dirs. */
export function sweepStaleNginx(): string[] {
  const lines: string[] = [];
  for (const d of readdirSync(tmpdir()).filter((d) => d.startsWith(PREFIX))) {
    const dir = join(tmpdir(), d);
    const owner = Number(readSafe(join(dir, 'owner.pid')));
    if (owner && alive(owner)) continue;
    const pid = Number(readSafe(join(dir, 'nginx.pid')));
    if (pid && alive(pid)) {
      try {
        process.kill(pid, 'SIGTERM');
        lines.push(`stopped a stale nginx (pid ${pid}) from ${dir}`);
      } catch {
        // gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
  return lines;
}

export async function startNginx(opts: { fileBytes?: number } = {}): Promise<Nginx> {
  const bin = nginxBinary();
  if (!bin) throw new Error('nginx is not installed (scripts/setup.sh installs nginx-light)');
  const dir = join(tmpdir(), `${PREFIX}${process.pid}-${Date.now()}`);
  mkdirSync(join(dir, 'www'), { recursive: true });
  mkdirSync(join(dir, 'tmp'));
  writeFileSync(join(dir, 'owner.pid'), String(process.pid));
  const bytes = opts.fileBytes ?? 1024;
  writeFileSync(join(dir, 'www', 'index.html'), 'x'.repeat(bytes - 1) + '\n');
  const port = await freePort();
  const t = join(dir, 'tmp');
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off;
master_process on;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${t}; proxy_temp_path ${t}; fastcgi_temp_path ${t}; uwsgi_temp_path ${t}; scgi_temp_path ${t};
  keepalive_requests 1000000000;
  keepalive_timeout 75s;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    root ${join(dir, 'www')};
    location = /nginx_status { stub_status; }
  }
}
`,
  );
  const child = spawnTracked(bin, ['-c', join(dir, 'nginx.conf'), '-p', dir, '-e', join(dir, 'error.log')]);
  const out = collect(child);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  let polls = 0;
  const status = () =>
    new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/nginx_status', agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          const m = /\n\s*(\d+)\s+(\d+)\s+(\d+)\s*\n/.exec(body);
          if (!m) return reject(new Error(`unexpected stub_status: ${body}`));
          polls++;
          resolve(Number(m[3]) - polls);
        });
      });
      req.on('error', reject);
      req.setTimeout(2000, () => req.destroy(new Error('stub_status timeout')));
      req.end();
    });
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      await status();
      break;
    } catch (e) {
      if (child.exitCode !== null || Date.now() > deadline) {
        killGroup(child, 'SIGKILL');
        throw new Error(`nginx did not start: ${out.stderr() || String(e)} ${readSafe(join(dir, 'error.log'))}`);
      }
      await sleep(50);
    }
  }
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    fileUrl: `${url}/index.html`,
    port,
    pid: child.pid!,
    bytes,
    served: status,
    async stop() {
      agent.destroy();
      killGroup(child, 'SIGTERM');
      await waitExit(child, 5000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The nginx version line (for the machine description). */
export function nginxVersion(): string {
  const bin = nginxBinary();
  if (!bin) return 'not installed';
  const r = spawnSync(bin, ['-v'], { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().replace(/^nginx version:\s*/, '') || 'unknown';
}

function readSafe(p: string): string {
  try {
    return readFileSync(p, 'utf8').trim();
  } catch {
    return '';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
