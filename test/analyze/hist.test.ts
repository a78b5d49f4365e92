import test from 'ava';
import { deflateSync } from 'node:zlib';
import { createHistogram, decode, encode, mergeEncoded, record, summarize } from '../../src/core/histogram.ts';
import {
  bucketize,
  decodeHistogram,
  decodeSparse,
  DEFAULT_LAYOUT,
  highestAtIndex,
  indexOfValue,
  inflateZlib,
  percentiles,
  summarizeEncoded,
  summarizeFast,
  summarizeSparse,
  valueFromIndex,
} from '../../src/analyze/hist.ts';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function randomHist(seed: number, n: number, spread: number) {
  const r = rng(seed);
  const h = createHistogram();
  for (let i = 0; i < n; i++) record(h, Math.exp(r() * spread) * (1 + r() * 50));
  return h;
}

test('inflate matches zlib for stored, fixed and dynamic blocks', (t) => {
  const r = rng(7);
  const texts = [
    Buffer.alloc(0),
    Buffer.from('a'),
    Buffer.from('hello hello hello hello hello'),
    Buffer.from(Array.from({ length: 70000 }, () => Math.floor(r() * 7))),
    Buffer.from(Array.from({ length: 5000 }, () => Math.floor(r() * 256))),
  ];
  for (const buf of texts) {
    for (const level of [0, 1, 6, 9]) {
      const z = deflateSync(buf, { level });
      t.deepEqual(Buffer.from(inflateZlib(z)), buf);
    }
  }
  t.throws(() => inflateZlib(Buffer.from([1, 2, 3])));
});

test('index and value mapping agrees with the library', (t) => {
  const h = createHistogram() as unknown as { countsArrayIndex(v: number): number; valueFromIndex(i: number): number; highestEquivalentValue(v: number): number };
  for (const v of [1, 2, 1000, 2047, 2048, 2049, 4095, 4096, 123456, 9_999_999, 3_000_000_000]) {
    const i = h.countsArrayIndex(v);
    t.is(indexOfValue(DEFAULT_LAYOUT, v), i, `index of ${v}`);
    t.is(valueFromIndex(DEFAULT_LAYOUT, i), h.valueFromIndex(i));
    t.is(highestAtIndex(DEFAULT_LAYOUT, i), h.highestEquivalentValue(h.valueFromIndex(i)));
  }
});

test('sparse decode and summaries equal the library, single and merged', (t) => {
  const hists = [randomHist(1, 5000, 8), randomHist(2, 1, 3), randomHist(3, 20000, 16), randomHist(4, 300, 2)];
  const texts = hists.map(encode);
  for (const text of texts) {
    const lib = summarize(decode(text), 1000);
    t.deepEqual(summarizeSparse(decodeSparse(text), 1000), lib);
    t.deepEqual(summarizeFast(decodeHistogram(text), 1000), lib);
    t.deepEqual(summarize(decodeHistogram(text), 1000), lib);
  }
  t.deepEqual(summarizeEncoded(texts, 1000), summarize(mergeEncoded(texts), 1000));
  const merged = createHistogram();
  for (const text of texts) merged.add(decodeHistogram(text));
  t.deepEqual(summarizeFast(merged), summarize(mergeEncoded(texts)));
  t.deepEqual(summarizeEncoded([]), summarize(createHistogram()));
});

test('percentiles and buckets', (t) => {
  const h = createHistogram();
  for (let v = 1; v <= 100; v++) record(h, v * 1000);
  const s = decodeSparse(encode(h));
  const [p50, p100] = percentiles(s, [50, 100], 1000);
  t.true(Math.abs(p50 - 50) < 0.1);
  t.true(Math.abs(p100 - 100) < 0.1);
  t.deepEqual(bucketize(s, [10.5, 50.5, 1e9], 1000), [10, 40, 50]);
});
