import test from 'ava';
import { LoadscopeError } from '../../src/core/errors.ts';
import { hostileChar, LIMITS } from '../../src/scenario/limits.ts';
import { parseScenario } from '../../src/scenario/load.ts';

// Oversized and hostile values are refused where they are written, with the limit in the reason (README
// "Scenario limits"); the largest value within each limit is accepted.

function problems(text: string): string[] {
  try {
    parseScenario(text, 'x.yaml');
  } catch (e) {
    if (e instanceof LoadscopeError) return e.problems.map((p) => `${p.line}:${p.col} ${p.message}`);
    throw e;
  }
  return [];
}

const stage = (s: string) => `name: l\nstages:\n  - ${s}\n`;
const request = (r: string) => `name: l\nrequests:\n  - ${r}\nstages:\n  - { duration: 1s, rate: 1 }\n`;

const refused: [string, string, RegExp][] = [
  ['a duration of a year', stage('{ duration: 8760h, rate: 10 }'), /^3:17 stages\.0\.duration: "8760h" is longer than the limit of 24h$/],
  ['stages that together last more than 24 h', 'name: l\nstages:\n  - { duration: 20h, rate: 1 }\n  - { duration: 4h1s, rate: 1 }\n', /^3:3 stages: the stages together last at most 24h$/],
  ['a request timeout of an hour', `${stage('{ duration: 1s, rate: 1 }')}requestTimeout: 1h\n`, /^4:17 requestTimeout: "1h" is longer than the limit of 10m$/],
  ['a rate of 10^9', stage('{ duration: 1s, rate: 1e9 }'), /^3:27 stages\.0\.rate: a rate is at most 1,000,000 requests\/s$/],
  ['a ramp to 10^9', stage('{ duration: 1s, rate: { from: 0, to: 1000000001 } }'), /stages\.0\.rate\.to: a rate is at most 1,000,000 requests\/s$/],
  ['a negative rate', stage('{ duration: 1s, rate: { from: -5, to: 10 } }'), /stages\.0\.rate\.from: /],
  ['a negative duration', stage('{ duration: -5s, rate: 1 }'), /"-5s" is not a duration/],
  ['a 10 MB header value', request(`{ path: /, headers: { x-big: ${'v'.repeat(10 << 20)} } }`), /^1:1 the file has \d+ bytes; a scenario has at most 1048576 \(1 MiB\)$/],
  ['a 9 KiB header value', request(`{ path: /, headers: { x-big: ${'v'.repeat(9 * 1024)} } }`), /^3:34 requests\.0\.headers\.x-big: header value of 9216 bytes is over the limit of 8192 bytes$/],
  ['CR LF in a header value (header injection)', request('{ path: /, headers: { x-a: "v\\r\\nSet-Cookie: s=1" } }'), /header value contains the control character U\+000D at character 2; HTTP forbids it$/],
  ['a header name that is not a token', request('{ path: /, headers: { "x a": v } }'), /header name "x a" is not an HTTP token/],
  ['65 headers', request(`{ path: /, headers: { ${Array.from({ length: 65 }, (_, i) => `h${i}: v`).join(', ')} } }`), /requests\.0\.headers: at most 64 headers per request \(65 here\)$/],
  ['a space in a path', request('{ path: "/a b" }'), /path contains a space at character 3; percent-encode it/],
  ['a bidi override in a stage name', stage('{ name: "evil\u202Egnp.exe", duration: 1s, rate: 1 }'), /^3:13 stages\.0\.name: a name contains a bidi control \(U\+202E\) at character 5; use printable characters$/],
  ['a bidi isolate in a request name', request('{ name: "a\u2067b", path: / }'), /a name contains a bidi control \(U\+2067\) at character 2/],
  ['an escape sequence in a stress name', `${stage('{ duration: 10s, rate: 1 }')}stress:\n  - { name: "\\e[31mred", start: 1s, duration: 1s, cores: 1 }\n`, /stress\.0\.name: a name contains a control character \(U\+001B\) at character 1/],
  ['a NUL in the description', `${stage('{ duration: 1s, rate: 1 }')}description: "a\\0b"\n`, /description: the text contains a control character \(U\+0000\)/],
  ['a name of 65 characters', stage(`{ name: ${'n'.repeat(65)}, duration: 1s, rate: 1 }`), /a name has at most 64 characters$/],
  ['100 replicas', `${stage('{ duration: 1s, rate: 1 }')}services: { backend: { replicas: 100 } }\n`, /services\.backend\.replicas: /],
  ['an autoscaler to 10^6 replicas', `${stage('{ duration: 1s, rate: 1 }')}autoscaler: { scaleTargetRef: { kind: Deployment, name: backend }, maxReplicas: 1000000, metrics: [{ type: Pods, pods: { metric: { name: http_requests_per_second }, target: { type: AverageValue, averageValue: 10 } } }] }\n`, /autoscaler\.maxReplicas: at most 64 replicas$/],
];
for (const [what, text, want] of refused) {
  test(`refused with a reason: ${what}`, (t) => {
    const got = problems(text);
    t.true(got.some((p) => want.test(p)), got.join('\n') || 'accepted');
  });
}

test('the largest value within each limit is accepted', (t) => {
  const text = [
    'name: edge',
    `description: "${'d'.repeat(LIMITS.descriptionChars - 2)}\\n\\t"`,
    'requests:',
    `  - { name: ${'n'.repeat(LIMITS.nameChars)}, path: "/${'p'.repeat(LIMITS.pathBytes - 1)}", body: "", headers: { x-v: "${'v'.repeat(LIMITS.headerValueBytes - 1)}\\t", ${Array.from({ length: LIMITS.headers - 1 }, (_, i) => `h${i}: "ü"`).join(', ')} } }`,
    'stages:',
    '  - { name: "日本語 ünïcode 😀", duration: 23h59m59s, rate: 1000000 }',
    '  - { duration: 1s, rate: { from: 0, to: 1000000 } }',
    'requestTimeout: 10m',
    'services: { backend: { replicas: 64 } }',
    '',
  ].join('\n');
  t.deepEqual(problems(text), []);
});

test('hostileChar names the first control, bidi or separator character; newlines and tabs only in text', (t) => {
  t.is(hostileChar('plain ünïcode 😀'), undefined);
  t.is(hostileChar('a\u202Db'), 'contains a bidi control (U+202D) at character 2');
  t.is(hostileChar('a\u2028b'), 'contains a line separator (U+2028) at character 2');
  t.is(hostileChar('a\u0085'), 'contains a control character (U+0085) at character 2');
  t.is(hostileChar('two\nlines\tok', true), undefined);
  t.is(hostileChar('two\nlines'), 'contains a control character (U+000A) at character 4');
});
