// Whether a run's objects in a cluster belong to a dead run (src/cluster/kubernetes/owner.ts): this
// machine judges by pid and start time, another machine's run by its heartbeat.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { HEARTBEAT_ANNOTATION, OWNER_ANNOTATION, ownerDead, self, STALE_MS } from '../../src/cluster/kubernetes/owner.ts';

const at = (o: object, beat?: number) => ({ [OWNER_ANNOTATION]: JSON.stringify(o), ...(beat === undefined ? {} : { [HEARTBEAT_ANNOTATION]: new Date(beat).toISOString() }) });

test('this machine: alive while the process runs, dead once it exited (a reused pid with another start time is dead too)', (t) => {
  t.false(ownerDead(at(self())).dead);
  const exited = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
  const pid = Number(exited.stdout.trim());
  t.deepEqual(ownerDead(at({ ...self(), pid, startTime: '1' })), { dead: true, why: `process ${pid} on this machine is gone` });
  t.true(ownerDead(at({ ...self(), startTime: '1' })).dead, 'same pid, other start time: not the same process');
});

test('another machine (or this one after a reboot): alive while its heartbeat is fresh', (t) => {
  const now = Date.parse('2026-12-06T19:00:00Z');
  const other = { host: 'ci-runner-7', boot: 'x', pid: 42, startTime: '9' };
  t.false(ownerDead(at(other, now - 60_000), now).dead);
  t.deepEqual(ownerDead(at(other, now - STALE_MS - 1000), now), { dead: true, why: 'no heartbeat from ci-runner-7 for 301 s' });
  t.true(ownerDead(at(other), now).dead, 'no heartbeat at all');
  t.true(ownerDead(at({ ...self(), boot: 'before-the-reboot' }), now).dead);
});

test('objects without a readable owner are never judged dead (not ours to remove)', (t) => {
  t.false(ownerDead(undefined).dead);
  t.false(ownerDead({}).dead);
  t.false(ownerDead({ [OWNER_ANNOTATION]: '{not json' }).dead);
});
