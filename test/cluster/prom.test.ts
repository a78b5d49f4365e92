import test from 'ava';
import http from 'node:http';
import { parseProm, parsePromValue, sumMetric } from '../../src/cluster/prom.ts';
import { LoadscopeError } from '../../src/core/errors.ts';
import { request, serviceFor } from '../helpers/with-server.ts';

/** GET with the path sent as is (a URL string would percent-encode the quote). */
function rawGet(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject);
  });
}

test('tricky hand-written lines', (t) => {
  const text = [
    '# HELP http_requests_total The total number of HTTP requests, with a \\\\ and a \\n in the help.',
    '# TYPE http_requests_total counter',
    'http_requests_total{method="post",code="200"} 1027 1395066363000',
    'http_requests_total{method="post",code="400"}    3 1395066363000',
    '',
    '# A plain comment { with "quotes" }',
    '#TYPE odd_spacing gauge',
    'msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9',
    'metric_without_timestamp_and_labels 12.47',
    'something_weird{problem="division by zero"} +Inf -3982045',
    'neg_inf -Inf',
    'not_a_number NaN',
    'empty_labels{} 0',
    'trailing_comma{a="1",} 2',
    'spaced { a = "x" , b="}{,=" } 3',
    '  indented_sample 4',
    'colon:name_total{le="0.005"} 5e-3\r',
    'empty_value{v=""} -0.5',
    'unicode{v="größe ☃"} .5',
    'http_request_duration_seconds_bucket{le="+Inf"} 144320',
  ].join('\n');
  const s = parseProm(text);
  t.is(s.length, 15);
  t.deepEqual(s[0], { name: 'http_requests_total', labels: { method: 'post', code: '200' }, value: 1027, timestampMs: 1395066363000 });
  t.is(s[1].value, 3);
  t.deepEqual(s[2].labels, { path: 'C:\\DIR\\FILE.TXT', error: 'Cannot find file:\n"FILE.TXT"' });
  t.is(s[2].value, 1.458255915e9);
  t.deepEqual(s[3], { name: 'metric_without_timestamp_and_labels', labels: {}, value: 12.47 });
  t.deepEqual(s[4], { name: 'something_weird', labels: { problem: 'division by zero' }, value: Infinity, timestampMs: -3982045 });
  t.is(s[5].value, -Infinity);
  t.true(Number.isNaN(s[6].value));
  t.deepEqual(s[7].labels, {});
  t.deepEqual(s[8].labels, { a: '1' });
  t.deepEqual(s[9], { name: 'spaced', labels: { a: 'x', b: '}{,=' }, value: 3 });
  t.is(s[10].name, 'indented_sample');
  t.deepEqual(s[11], { name: 'colon:name_total', labels: { le: '0.005' }, value: 0.005 });
  t.deepEqual(s[12].labels, { v: '' });
  t.is(s[12].value, -0.5);
  t.deepEqual(s[13], { name: 'unicode', labels: { v: 'größe ☃' }, value: 0.5 });
  t.deepEqual(s[14], { name: 'http_request_duration_seconds_bucket', labels: { le: '+Inf' }, value: 144320 });
});

test('values as Go ParseFloat reads them', (t) => {
  t.is(parsePromValue('+Inf'), Infinity);
  t.is(parsePromValue('inf'), Infinity);
  t.is(parsePromValue('-inf'), -Infinity);
  t.true(Number.isNaN(parsePromValue('nan')!));
  t.is(parsePromValue('1E3'), 1000);
  t.is(parsePromValue('-0'), -0);
  t.is(parsePromValue('3.'), 3);
  t.is(parsePromValue(''), undefined);
  t.is(parsePromValue('0x10'), undefined);
  t.is(parsePromValue('1,5'), undefined);
  t.is(parsePromValue('Infinity'), undefined);
});

test('malformed lines fail with their line number', (t) => {
  const bad: [string, RegExp][] = [
    ['ok 1\n{a="1"} 1', /line 2: expected a metric name/],
    ['m{a="1} 1', /line 1: unterminated value of label a/],
    ['m{a="\\t"} 1', /line 1: invalid escape "\\t"/],
    ['m{a="1" b="2"} 1', /expected "," or "}" after label a/],
    ['m{a="1",a="2"} 1', /label a given twice/],
    ['m{1a="x"} 1', /expected a label name/],
    ['m{a=x} 1', /expected '"' to open the value of label a/],
    ['m', /expected "\{" or whitespace after m/],
    ['m ', /expected "value \[timestamp\]" after m/],
    ['m one', /invalid value "one"/],
    ['m 1 2 3', /expected "value \[timestamp\]"/],
    ['m 1 1.5', /invalid timestamp "1.5"/],
    ['m-1 1', /expected "\{" or whitespace after m/],
    ['# TYPE m countr', /unknown metric type "countr" for m/],
    ['# HELP 9m help', /invalid metric name "9m" in # HELP/],
  ];
  for (const [text, message] of bad) {
    const err = t.throws(() => parseProm(text), { instanceOf: LoadscopeError }, text);
    t.is(err?.code, 'INTERNAL');
    t.regex(err?.message ?? '', message, text);
  }
});

test('sumMetric by name, by label values, by predicate', (t) => {
  const s = parseProm('a{s="200",m="GET"} 2\na{s="500",m="GET"} 3\na{s="200",m="POST"} 5\nab 100\n');
  t.is(sumMetric(s, 'a'), 10);
  t.is(sumMetric(s, 'a', { s: '200' }), 7);
  t.is(sumMetric(s, 'a', { s: '200', m: 'GET' }), 2);
  t.is(sumMetric(s, 'a', (l) => l.s.startsWith('5')), 3);
  t.is(sumMetric(s, 'a', { missing: 'x' }), 0);
  t.is(sumMetric(s, 'nothing'), 0);
});

test('what the services emit parses, and histograms are consistent', async (t) => {
  const svc = await serviceFor(t, { role: 'backend', name: 'quote"and\\back', config: { routes: { '/a': { delayMs: 3 } } } });
  for (const path of ['/a', '/a', '/b?x=1', '/c"quoted\\', '/d%0Anewline']) await rawGet(svc.port, path);
  const raw = (await request(`${svc.url}/metrics`)).body.toString();
  const s = parseProm(raw);
  t.deepEqual(s.find((x) => x.name === 'loadscope_service_info')?.labels, { name: 'quote"and\\back', role: 'backend' });
  t.truthy(s.find((x) => x.name === 'loadscope_http_requests_total' && x.labels.route === '/c"quoted\\'));
  for (const route of ['/a', '/b', '/c"quoted\\', '/d%0Anewline']) {
    const buckets = s.filter((x) => x.name === 'loadscope_http_request_duration_seconds_bucket' && x.labels.route === route);
    t.is(buckets.length, 15, route);
    t.is(buckets[0].labels.le, '0.0005');
    t.is(buckets.at(-1)!.labels.le, '+Inf');
    for (let i = 1; i < buckets.length; i++) t.true(buckets[i].value >= buckets[i - 1].value);
    const count = sumMetric(s, 'loadscope_http_request_duration_seconds_count', { route });
    t.is(buckets.at(-1)!.value, count);
    t.is(sumMetric(s, 'loadscope_http_requests_total', { route }), count);
  }
  t.is(sumMetric(s, 'loadscope_http_request_duration_seconds_bucket', { route: '/a', le: '0.0025' }), 0);
  t.true(sumMetric(s, 'loadscope_http_request_duration_seconds_sum', { route: '/a' }) >= 0.006);
  t.true(sumMetric(s, 'process_resident_memory_bytes') > 10e6);
  const start = sumMetric(s, 'process_start_time_seconds');
  t.true(Math.abs(start - Date.now() / 1000) < 120, `start ${start}`);
  t.true(sumMetric(s, 'process_cpu_seconds_total') > 0);
});
