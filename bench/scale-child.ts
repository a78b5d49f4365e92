// The synthetic one-hour run in its own process (so its peak RSS is its own): writes the journal,
// then times reading it back, buildResult and renderReport. Prints one JSON line.
// argv[2]: JSON { windows, events, dir }.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildResult } from '../src/correlate/results.ts';
import type { JournalRecord } from '../src/model/types.ts';
import { renderReport } from '../src/report/render.ts';
import { syntheticJournal } from './lib/synthetic.ts';

const opts = JSON.parse(process.argv[2] ?? '{}') as { windows: number; events: number; dir: string };
const journalPath = join(opts.dir, 'events.ndjson');
const recs = syntheticJournal({ windows: opts.windows, events: opts.events });
writeFileSync(journalPath, recs.map((r) => JSON.stringify(r)).join('\n') + '\n');
const rssBefore = process.memoryUsage().rss;
const t0 = performance.now();
const records = readFileSync(journalPath, 'utf8')
  .split('\n')
  .filter((l) => l !== '')
  .map((l) => JSON.parse(l) as JournalRecord);
const t1 = performance.now();
const result = buildResult(records);
const t2 = performance.now();
const header = records.find((r) => r.type === 'run') as { scenarioText: string };
const html = renderReport(result, header.scenarioText);
const t3 = performance.now();
const resultsText = JSON.stringify(result, null, 2);
writeFileSync(join(opts.dir, 'report.html'), html);
writeFileSync(join(opts.dir, 'results.json'), resultsText);
process.stdout.write(
  JSON.stringify({
    records: records.length,
    windows: result.windows.length,
    readMs: t1 - t0,
    buildMs: t2 - t1,
    renderMs: t3 - t2,
    totalMs: t3 - t0,
    journalBytes: statSync(journalPath).size,
    resultsBytes: Buffer.byteLength(resultsText),
    reportBytes: Buffer.byteLength(html),
    rssBeforeBytes: rssBefore,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  }) + '\n',
);
