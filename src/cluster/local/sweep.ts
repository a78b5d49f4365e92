import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { processStartTime } from '../../core/ledger.ts';
import { CGROUP_DIR, detectCgroups, cgroupDirs, removeCgroupDirs } from './cgroup.ts';
import { deleteLink, ip, listLinks, listNetns, names, usedOctets } from './net.ts';

// Claims of live local clusters, and the sweep of what dead ones left. A run first writes a claim
// (owner pid and start time, its tag, its /24) with O_EXCL, then creates its namespaces, links and
// cgroups, all named after the tag. The run's Ledger lists each of them too; this sweep is the
// second net: it also removes what a run created but had not listed yet, cgroups that the janitor
// could not remove while killed tasks were still exiting, and anything named after a tag whose
// claim is gone or whose owner is dead.

/** A live run's claim: its tag (names of everything it creates) and the third octet of its addresses. */
export interface RunClaim {
  tag: string;
  octet: number;
  /** Deletes the claim (after everything it covered is gone). */
  release(): void;
}

interface ClaimFile {
  tag: string;
  runId: string;
  ownerPid: number;
  ownerStartTime: string;
  octet?: number;
}

/**
 * Where claims live: one directory for the whole machine (not per ledger directory), because
 * every run's sweep looks at every tag on the machine and must see every live claim.
 */
export const CLAIM_DIR = '/run/loadscope/local';

function claimDir(): string {
  mkdirSync(CLAIM_DIR, { recursive: true });
  return CLAIM_DIR;
}

function readClaims(dir: string): ClaimFile[] {
  const out: ClaimFile[] = [];
  for (const f of readdirSync(dir)) {
    if (!/^run-[0-9a-f]{6}\.json$/.test(f)) continue;
    try {
      out.push(JSON.parse(readFileSync(join(dir, f), 'utf8')) as ClaimFile);
    } catch {
      // torn write of a run that died while claiming: its tag is not live
    }
  }
  return out;
}

function alive(c: ClaimFile): boolean {
  return processStartTime(c.ownerPid) === c.ownerStartTime;
}

function createExclusive(path: string, text: string): boolean {
  try {
    writeFileSync(path, text, { flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/** Claims a tag and a free 198.18.x.0/24 + 198.19.x.0/24 pair for `runId` (owned by this process). */
export async function claimRun(runId: string): Promise<RunClaim> {
  const dir = claimDir();
  const owner = { runId, ownerPid: process.pid, ownerStartTime: processStartTime(process.pid) ?? '' };
  let tag = '';
  for (let i = 0; ; i++) {
    tag = createHash('sha256').update(`${runId}/${process.pid}/${i === 0 ? '' : randomBytes(4).toString('hex')}`).digest('hex').slice(0, 6);
    if (createExclusive(join(dir, `run-${tag}.json`), JSON.stringify({ tag, ...owner }))) break;
    if (i > 20) throw new Error('cannot claim a run tag');
  }
  const claimFile = join(dir, `run-${tag}.json`);
  try {
    const used = await usedOctets();
    const live = new Map(readClaims(dir).filter(alive).map((c) => [c.tag, c]));
    const start = parseInt(tag, 16) % 254;
    for (let k = 0; k < 254; k++) {
      const octet = 1 + ((start + k) % 254);
      if (used.has(octet)) continue;
      const lock = join(dir, `octet-${octet}`);
      if (!createExclusive(lock, tag)) {
        const holder = readFileSync(lock, 'utf8').trim();
        if (live.has(holder) || holder === tag) continue;
        rmSync(lock, { force: true });
        if (!createExclusive(lock, tag)) continue;
      }
      writeFileSync(`${claimFile}.tmp`, JSON.stringify({ tag, ...owner, octet }));
      renameSync(`${claimFile}.tmp`, claimFile);
      return {
        tag,
        octet,
        release: () => {
          rmSync(lock, { force: true });
          rmSync(claimFile, { force: true });
        },
      };
    }
  } catch (err) {
    rmSync(claimFile, { force: true });
    throw err;
  }
  rmSync(claimFile, { force: true });
  throw new Error('no free /24 left in 198.18.0.0/16 for the local cluster');
}

/**
 * Removes everything named after a tag that no live run claims: namespaces, links, cgroups (their
 * processes killed first), stale claims and address locks. Returns one line per thing removed.
 */
export async function sweepLocalLeftovers(): Promise<string[]> {
  const dir = claimDir();
  const claims = readClaims(dir);
  const live = new Set(claims.filter(alive).map((c) => c.tag));
  const stale = (tag: string | undefined) => tag !== undefined && !live.has(tag);
  const done: string[] = [];

  const layout = detectCgroups();
  if (typeof layout !== 'string') {
    for (const root of cgroupDirs(layout, CGROUP_DIR)) {
      let entries: string[] = [];
      try {
        entries = readdirSync(root, { withFileTypes: true })
          .filter((e) => e.isDirectory())
          .map((e) => e.name);
      } catch {
        continue;
      }
      for (const tag of entries.filter((e) => /^[0-9a-f]{6}$/.test(e) && stale(e))) {
        const path = join(root, tag);
        if (await removeCgroupDirs([path])) done.push(`removed cgroup ${path}`);
      }
    }
  }
  for (const ns of listNetns()) {
    if (!stale(names.netnsRe.exec(ns)?.[1])) continue;
    await ip(['netns', 'del', ns]).then(
      () => done.push(`deleted network namespace ${ns}`),
      () => undefined,
    );
  }
  for (const link of listLinks()) {
    const tag = names.vethRe.exec(link)?.[1] ?? names.bridgeRe.exec(link)?.[1];
    if (!stale(tag)) continue;
    await deleteLink(link);
    done.push(`deleted link ${link}`);
  }
  for (const f of readdirSync(dir)) {
    const octet = /^octet-\d+$/.test(f);
    const claim = /^run-([0-9a-f]{6})\.json$/.exec(f);
    if (octet && stale(readFileSync(join(dir, f), 'utf8').trim())) rmSync(join(dir, f), { force: true });
    if (claim && stale(claim[1])) rmSync(join(dir, f), { force: true });
  }
  if (typeof layout !== 'string' && live.size === 0) {
    for (const root of cgroupDirs(layout, CGROUP_DIR)) {
      try {
        rmdirSync(root);
      } catch {
        // absent, or another run's cgroups are in it
      }
    }
  }
  return done;
}
