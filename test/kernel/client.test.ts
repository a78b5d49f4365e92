// The one client of every bpf/ loader, against small shell scripts that speak the loaders' NDJSON.
import test from 'ava';
import { LoaderClient, type LoaderLine } from '../../src/kernel/client.ts';

type Rec = LoaderLine & Record<string, unknown>;
const parse = (line: string): Rec | undefined => {
  try {
    const r = JSON.parse(line) as Rec;
    return typeof r.t === 'string' ? r : undefined;
  } catch {
    return undefined;
  }
};
const loader = (script: string, commands = false, records: Rec[] = []) =>
  new LoaderClient<Rec>({ argv: ['sh', '-c', script], commands, parse, onRecord: (r) => records.push(r) });

const CLOCK = '{"t":"clock","probe":"x","pid":1,"mono_ns":5000000000,"realtime_ms":1700000000000.5,"err_ns":10,"window_ns":1000000000,"t0_ns":5000000000}';

test('ready: the ready record, after the clock record that maps kernel time', async (t) => {
  const records: Rec[] = [];
  const c = loader(`echo '${CLOCK}'; echo 'not json'; echo '{"t":"ready","progs":["p"]}'; exec sleep 30`, false, records);
  const o = await c.ready(5000);
  t.true(o.ok);
  if (o.ok) t.deepEqual(o.record, { t: 'ready', progs: ['p'] });
  t.is(c.time(6_500_000_000), 1700000001500.5);
  t.deepEqual(records.map((r) => r.t), ['clock', 'ready']);
  t.is(c.malformed, 1);
  await c.stop(0, 2000);
  t.is(c.exit?.signal, 'SIGTERM');
});

test('an error record, an early exit (with its stderr) and a timeout each say why', async (t) => {
  const err = await loader(`echo '{"t":"error","msg":"load BPF programs: Operation not permitted"}'; exit 1`).ready(5000);
  t.deepEqual(err, { ok: false, reason: 'load BPF programs: Operation not permitted' });
  const exited = await loader('echo "libbpf: no BTF" >&2; exit 3').ready(5000);
  t.deepEqual(exited, { ok: false, reason: 'exited (code 3) before attaching: libbpf: no BTF' });
  const slow = loader('exec sleep 30');
  t.deepEqual(await slow.ready(200), { ok: false, reason: 'did not attach within 0 s' });
  await slow.closed;
  t.is(slow.exit?.signal, 'SIGKILL');
});

test('commands go to stdin; closing stdin ends a loader that reads it', async (t) => {
  const records: Rec[] = [];
  const c = loader(`echo '{"t":"ready"}'; while read seq cmd; do echo "{\\"t\\":\\"ack\\",\\"seq\\":$seq,\\"cmd\\":\\"$cmd\\"}"; done; echo '{"t":"end"}'`, true, records);
  t.true((await c.ready(5000)).ok);
  c.write('1 hello');
  c.write('2 world');
  await c.stop(5000, 10_000);
  t.deepEqual(records.map((r) => [r.t, r.seq ?? null]), [['ready', null], ['ack', 1], ['ack', 2], ['end', null]]);
  t.is(c.exit?.code, 0);
});
