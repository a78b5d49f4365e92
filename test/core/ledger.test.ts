import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Ledger, processStartTime, sweepStale } from '../../src/core/ledger.ts';
import { processAlive } from '../helpers/with-server.ts';
import { tempDir } from '../helpers/tmp.ts';

test('the next run removes what a dead run left: its processes and files', async (t) => {
  const dir = tempDir('ls-ledger-');
  const orphan = spawn('sleep', ['60'], { stdio: 'ignore', detached: true });
  orphan.unref();
  const leftover = join(dir, 'leftover.tmp');
  writeFileSync(leftover, 'x');
  // A ledger whose owner is a process that has already exited.
  const owner = spawn('true');
  await new Promise((r) => owner.on('exit', r));
  writeFileSync(
    join(dir, 'dead-run.json'),
    JSON.stringify({ runId: 'dead-run', ownerPid: owner.pid, ownerStartTime: 'gone', resources: [
      { kind: 'process', pid: orphan.pid, startTime: processStartTime(orphan.pid!) },
      { kind: 'file', path: leftover },
    ] }),
  );
  // A live ledger (ours) must be left alone.
  const live = new Ledger('live-run', dir);
  const removed = sweepStale(dir);
  t.is(removed.length, 2, removed.join('\n'));
  t.regex(removed[0], /killed process \d+ \(left by dead run dead-run\)/);
  await sleep(100);
  t.false(processAlive(orphan.pid!));
  t.false(existsSync(leftover));
  t.deepEqual(readdirSync(dir), ['live-run.json']);
  t.deepEqual(live.close(), []);
  t.deepEqual(readdirSync(dir), []);
});

test('a reused pid is never killed: the start time must match', (t) => {
  const dir = tempDir('ls-ledger-');
  writeFileSync(join(dir, 'old.json'), JSON.stringify({ runId: 'old', ownerPid: 999999, ownerStartTime: 'x', resources: [{ kind: 'process', pid: process.pid, startTime: 'not-ours' }] }));
  t.deepEqual(sweepStale(dir), []);
  t.true(processAlive(process.pid));
});
