// Test helper standing in for a harness that dies: starts a backend, prints its ready line on
// stdout, then idles until killed. The test SIGKILLs this process and checks the backend exits.
//   node --import tsx test/helpers/orphan-parent.ts launcher   (through startService: stdin pipe)
//   node --import tsx test/helpers/orphan-parent.ts raw        (stdin ignored: only the ppid poll)
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startService } from '../../src/cluster/process.ts';

const mode = process.argv[2];
setInterval(() => {}, 60_000);

if (mode === 'launcher') {
  const svc = await startService({ role: 'backend', name: 'orphan' });
  process.stdout.write(JSON.stringify({ ready: true, host: svc.host, port: svc.port, pid: svc.pid }) + '\n');
} else if (mode === 'raw') {
  const main = fileURLToPath(new URL('../../src/services/main.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', main, '--role', 'backend', '--name', 'orphan'], { stdio: ['ignore', 'pipe', 'inherit'] });
  createInterface({ input: child.stdout }).once('line', (line) => process.stdout.write(line + '\n'));
} else {
  process.stderr.write('usage: orphan-parent.ts launcher|raw\n');
  process.exit(2);
}
