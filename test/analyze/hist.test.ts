import test from 'ava';
import { encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import {
  createHistogram,
  decode,
  decodeSparse,
  DEFAULT_LAYOUT,
  encode,
  encodeSparse,
  highestAtIndex,
  indexOfValue,
  mergeEncoded,
  record,
  sparseOf,
  summarize,
  valueFromIndex,
  type Histogram,
} from '../../src/core/histogram.ts';
import { bucketize, HistAcc, percentiles, summarizeSparse } from '../../src/analyze/hist.ts';

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

/** summarize() of several encoded histograms merged, from their buckets (what analysis does). */
const summarizeEncoded = (texts: string[], divisor = 1) => {
  const acc = new HistAcc();
  for (const t of texts) acc.add(decodeSparse(t));
  return summarizeSparse(acc.sparse(), divisor);
};
const summarizeFast = (h: Histogram, divisor = 1) => summarizeSparse(sparseOf(h), divisor);

test('the text form holds exactly the buckets, and an old journal\'s compressed base64 decodes to the same', (t) => {
  const hists = [createHistogram(), randomHist(1, 5000, 8), randomHist(2, 1, 3), randomHist(3, 20000, 16)];
  const one = createHistogram();
  record(one, 3_600_000_000);
  hists.push(one);
  for (const h of hists) {
    const text = encode(h);
    t.regex(text, /^1\/3:(\d+\*\d+(,\d+\*\d+)*)?$/);
    t.deepEqual(decodeSparse(text), sparseOf(h));
    t.deepEqual(decodeSparse(encodeIntoCompressedBase64(h)), sparseOf(h));
    t.is(encodeSparse(decodeSparse(text)), text);
    t.deepEqual(summarize(decode(text)), summarize(decode(encodeIntoCompressedBase64(h))));
  }
  t.is(encode(createHistogram()), '1/3:');
  for (const bad of ['', '1/3', '1/3:5', '1/3:5*0', '1/3:5*2,0*1', '1/3:5*2,', 'x/3:', '1/3:5*2;3*1', '1/3:-1*2']) t.throws(() => decodeSparse(bad), undefined, bad);
});

test('index and value mapping agrees with the library', (t) => {
  const h = createHistogram();
  for (const v of [1, 2, 1000, 2047, 2048, 2049, 4095, 4096, 123456, 9_999_999, 3_000_000_000]) {
    const i = h.countsArrayIndex(v);
    t.is(indexOfValue(DEFAULT_LAYOUT, v), i, `index of ${v}`);
    t.is(valueFromIndex(DEFAULT_LAYOUT, i), h.valueFromIndex(i));
    t.is(highestAtIndex(DEFAULT_LAYOUT, i), h.highestEquivalentValue(h.valueFromIndex(i)));
  }
});

test('sparse decode and summaries equal the library, single and merged', (t) => {
  const hists = [randomHist(1, 5000, 8), randomHist(2, 1, 3), randomHist(3, 20000, 16), randomHist(4, 300, 2)];
  for (const texts of [hists.map(encode), hists.map((h) => encodeIntoCompressedBase64(h))]) {
    for (const text of texts) {
      const lib = summarize(decode(text), 1000);
      t.deepEqual(summarizeSparse(decodeSparse(text), 1000), lib);
      t.deepEqual(summarizeFast(decode(text), 1000), lib);
      t.deepEqual(summarize(decode(text), 1000), lib);
    }
    t.deepEqual(summarizeEncoded(texts, 1000), summarize(mergeEncoded(texts), 1000));
    const merged = createHistogram();
    for (const text of texts) merged.add(decode(text));
    t.deepEqual(summarizeFast(merged), summarize(mergeEncoded(texts)));
    t.deepEqual(summarizeEncoded([]), summarize(createHistogram()));
  }
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
