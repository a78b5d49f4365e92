import test from 'ava';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Pacer } from '../../src/load/pacer.ts';

const wait = (p: Pacer, at: number) => new Promise<number>((resolve) => p.wakeAt(at, () => resolve(Pacer.clock())));

test('a wake comes at its time, never before it', async (t) => {
  const p = new Pacer();
  try {
    await p.ready();
    for (let i = 0; i < 20; i++) {
      const at = Pacer.clock() + 2 + (i % 5) * 0.3;
      const woke = await wait(p, at);
      t.true(woke >= at, `woke ${((at - woke) * 1000).toFixed(0)} µs before its time`);
    }
  } finally {
    await p.close();
  }
});

test('a new wake replaces the pending one: only the new one fires, at its own time', async (t) => {
  const p = new Pacer();
  try {
    await p.ready();
    let first = 0;
    p.wakeAt(Pacer.clock() + 5, () => first++);
    const at = Pacer.clock() + 30;
    const woke = await wait(p, at);
    t.true(woke >= at);
    await new Promise((r) => setTimeout(r, 20));
    t.is(first, 0, 'the replaced wake fired');
  } finally {
    await p.close();
  }
});

test('a cancelled wake never fires', async (t) => {
  const p = new Pacer();
  try {
    await p.ready();
    let fired = 0;
    p.wakeAt(Pacer.clock() + 5, () => fired++);
    p.cancel();
    await new Promise((r) => setTimeout(r, 40));
    t.is(fired, 0);
  } finally {
    await p.close();
  }
});

test('a pending wake keeps the process alive, as a timer does; an idle pacer does not', (t) => {
  // a script whose only pending work is one wake 300 ms ahead: it must print, then exit by itself
  const script = `
    import { Pacer } from ${JSON.stringify(join(import.meta.dirname, '../../src/load/pacer.ts'))};
    const p = new Pacer();
    await p.ready();
    p.wakeAt(Pacer.clock() + 300, () => console.log('woke'));
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout.trim(), 'woke');
});
