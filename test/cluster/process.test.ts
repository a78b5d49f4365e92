import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { serviceEntry, serviceCommandLine, startBundledServices, startService } from '../../src/cluster/process.ts';
import { LoadscopeError } from '../../src/core/errors.ts';
import { bundleFor, limitStarts, pidsWithEnv, processAlive, request, serverFor, serviceFor } from '../helpers/with-server.ts';

const runId = () => `t-${process.pid}-${Math.random().toString(36).slice(2)}`;

test('startService resolves when ready and healthy; stop is idempotent; LOADSCOPE_RUN_ID is set', async (t) => {
  const id = runId();
  const svc = await limitStarts(() => startService({ role: 'backend', name: 'api' }, { env: { LOADSCOPE_RUN_ID: id } }));
  t.deepEqual(pidsWithEnv('LOADSCOPE_RUN_ID', id), [svc.pid]);
  t.like(svc, { name: 'api', role: 'backend', host: '127.0.0.1', url: `http://127.0.0.1:${svc.port}` });
  t.true(processAlive(svc.pid));
  t.is((await request(`${svc.url}/healthz`)).status, 200);
  t.is(await svc.requestsServed(), 0);
  const [a, b] = await Promise.all([svc.stop(), svc.stop()]);
  t.deepEqual(a, { exitCode: 0, signal: null });
  t.is(a, b);
  t.is(await svc.stop(), a);
  t.is(await svc.exited, a);
  t.false(processAlive(svc.pid));
  t.deepEqual(pidsWithEnv('LOADSCOPE_RUN_ID', id), []);
});

test('a bad flag rejects with SERVICE_START carrying stderr', async (t) => {
  const id = runId();
  const err = await t.throwsAsync(limitStarts(() => startService({ role: 'backend', name: 'bad', extraArgs: ['--bogus'] }, { env: { LOADSCOPE_RUN_ID: id } })), {
    instanceOf: LoadscopeError,
  });
  t.is(err?.code, 'SERVICE_START');
  t.regex(err?.message ?? '', /backend "bad" did not start: exit code 2 before it was ready/);
  t.regex(err?.message ?? '', /unknown flag --bogus/);
  t.regex(err?.hint ?? '', /run it by hand to see why: .*src\/services\/(\.build\/main\.mjs|main\.ts) --role backend --name bad .*--bogus/);
  t.deepEqual(pidsWithEnv('LOADSCOPE_RUN_ID', id), []);
});

test('a port in use rejects with SERVICE_START naming EADDRINUSE', async (t) => {
  const taken = await serverFor(t, (_req, res) => res.end());
  const err = await t.throwsAsync(limitStarts(() => startService({ role: 'backend', name: 'clash', port: taken.port })), { instanceOf: LoadscopeError });
  t.is(err?.code, 'SERVICE_START');
  t.regex(err?.message ?? '', /exit code 1 before it was ready[\s\S]*EADDRINUSE/);
});

test('not ready in time: the process is killed and SERVICE_START says so', async (t) => {
  const id = runId();
  // A prefix that never execs the service: stands for a service that hangs before listening.
  const command = [process.execPath, '-e', 'console.error("warming up"); setInterval(() => {}, 1000)', '--'];
  const err = await t.throwsAsync(startService({ role: 'backend', name: 'slowpoke' }, { command, readyTimeoutMs: 800, env: { LOADSCOPE_RUN_ID: id } }), {
    instanceOf: LoadscopeError,
  });
  t.is(err?.code, 'SERVICE_START');
  t.regex(err?.message ?? '', /not ready within 800 ms/);
  t.deepEqual(pidsWithEnv('LOADSCOPE_RUN_ID', id), []);
});

test('a first stdout line that is not the ready line is an error', async (t) => {
  const command = [process.execPath, '-e', 'console.log("hello"); setInterval(() => {}, 1000)', '--'];
  const err = await t.throwsAsync(startService({ role: 'backend', name: 'chatty' }, { command }), { instanceOf: LoadscopeError });
  t.regex(err?.message ?? '', /expected a JSON ready line on stdout, got "hello"/);
});

test('a command that cannot be run is SERVICE_START', async (t) => {
  const err = await t.throwsAsync(startService({ role: 'backend', name: 'nope' }, { command: ['/nonexistent/loadscope-prefix'] }), { instanceOf: LoadscopeError });
  t.is(err?.code, 'SERVICE_START');
  t.regex(err?.message ?? '', /cannot run \/nonexistent\/loadscope-prefix: .*ENOENT/);
});

test('abort while starting kills the process and rejects with the reason; abort later stops it', async (t) => {
  const id = runId();
  const ac = new AbortController();
  // startService spawns before its first await: the abort comes while the process runs and is not yet
  // ready. A timer of 100 ms raced the start itself, which takes 90 to 120 ms on a quiet machine.
  const starting = startService({ role: 'backend', name: 'aborted' }, { signal: ac.signal, env: { LOADSCOPE_RUN_ID: id } });
  t.is(pidsWithEnv('LOADSCOPE_RUN_ID', id).length, 1, 'the service process was spawned');
  ac.abort(new Error('user pressed ^C'));
  await t.throwsAsync(starting, { message: 'user pressed ^C' });
  t.deepEqual(pidsWithEnv('LOADSCOPE_RUN_ID', id), []);

  const ac2 = new AbortController();
  const svc = await limitStarts(() => startService({ role: 'backend', name: 'stopped-by-abort' }, { signal: ac2.signal }));
  ac2.abort();
  t.deepEqual(await svc.exited, { exitCode: 0, signal: null });
  await t.throwsAsync(startService({ role: 'backend', name: 'x' }, { signal: ac2.signal }), { any: true, name: 'AbortError' });
});

test('stop escalates to SIGKILL when the drain outlasts its timeout', async (t) => {
  // SIGSTOP freezes the service so it cannot drain: stop must still return.
  const svc = await serviceFor(t, { role: 'backend', name: 'frozen', drainTimeoutMs: 100 });
  process.kill(svc.pid, 'SIGSTOP');
  const t0 = Date.now();
  t.deepEqual(await svc.stop(), { exitCode: null, signal: 'SIGKILL' });
  t.true(Date.now() - t0 < 4000);
});

test('startBundledServices: frontend forwards to the backend; a failing frontend leaves no backend behind', async (t) => {
  const pair = await bundleFor(t, { backend: { default: { payloadBytes: 11 } }, frontend: { maxSockets: 2 } });
  t.is(pair.backend.name, 'backend');
  t.is(pair.frontend.name, 'frontend');
  const r = await request(`${pair.frontend.url}/hello`);
  t.is(r.body.length, 11);
  t.is(r.headers['x-served-by'], 'backend');
  await pair.stop();
  t.false(processAlive(pair.backend.pid));
  t.false(processAlive(pair.frontend.pid));

  const id = runId();
  const err = await t.throwsAsync(limitStarts(() => startBundledServices({ backend: {}, frontend: { maxSockets: 0 } }, { env: { LOADSCOPE_RUN_ID: id } })), {
    instanceOf: LoadscopeError,
  });
  t.regex(err?.message ?? '', /frontend "frontend" did not start[\s\S]*--max-sockets must be an integer/);
  await sleep(50);
  t.deepEqual(pidsWithEnv('LOADSCOPE_RUN_ID', id), []);
});

test('serviceCommandLine puts the prefix first and the flags after main.ts', (t) => {
  const argv = serviceCommandLine(
    { role: 'frontend', name: 'fe', backend: 'http://127.0.0.1:1', maxSockets: 8, upstreamTimeoutMs: 500, drainTimeoutMs: 2000, port: 9 },
    ['ip', 'netns', 'exec', 'ns1'],
  );
  t.deepEqual(argv.slice(0, 5), ['ip', 'netns', 'exec', 'ns1', process.execPath]);
  // the esbuild bundle of src/services (or main.ts through tsx when it cannot be built)
  const entry = serviceEntry();
  t.deepEqual(argv.slice(5, 5 + entry.length), entry);
  t.regex(entry.at(-1)!, /src\/services\/(\.build\/main\.mjs|main\.ts)$/);
  t.deepEqual(argv.slice(5 + entry.length), [
    '--role', 'frontend', '--name', 'fe', '--host', '127.0.0.1', '--port', '9',
    '--backend', 'http://127.0.0.1:1', '--max-sockets', '8', '--upstream-timeout-ms', '500',
    '--drain-timeout-ms', '2000', '--exit-on-stdin-close',
  ]);
});
