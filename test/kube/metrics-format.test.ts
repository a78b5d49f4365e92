// The wire form of the metrics APIs: the quantity and duration texts Go's parsers (resource.Quantity,
// time.Duration via metav1.Duration) read, in the canonical forms metrics-server writes.
import test from 'ava';
import { bytesQuantity, cpuQuantity, goDuration, kubeTime, rateQuantity } from '../../src/kube/metrics-format.ts';

test('cpu: nanocores in the largest exact unit', (t) => {
  t.deepEqual([0, 0.25, 1, 2, 0.000_001, 0.123_456_789, 1.5].map(cpuQuantity), ['0', '250m', '1', '2', '1u', '123456789n', '1500m']);
});

test('memory: bytes in the largest exact binary unit', (t) => {
  t.deepEqual([0, 1000, 1024, 48 * 2 ** 20, 1536 * 1024, 2 ** 30 + 1, 4 * 2 ** 30].map(bytesQuantity), ['0', '1000', '1Ki', '48Mi', '1536Ki', '1073741825', '4Gi']);
});

test('rates: milli precision', (t) => {
  t.deepEqual([0, 10, 12.5, 0.0004, 227.4567].map(rateQuantity), ['0', '10', '12500m', '0', '227457m']);
});

test('durations and times as Go and metav1 print them', (t) => {
  t.deepEqual([15_000, 10_500, 60_000, 61_250, 800, 3_723_000].map(goDuration), ['15s', '10.5s', '1m0s', '1m1.25s', '800ms', '1h2m3s']);
  t.is(kubeTime(Date.UTC(2026, 11, 6, 19, 0, 1, 999)), '2026-12-06T19:00:01Z');
});
