import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LoadscopeError } from '../core/errors.ts';

// Chromium through puppeteer-core: the distribution's browser (Debian's `chromium`), never a download.
// The few puppeteer calls used are typed here, so the module type-checks whether or not the optional
// dependency is installed.

/** The part of puppeteer's Page this module and the tests use. */
export interface Page {
  setViewport(v: { width: number; height: number; deviceScaleFactor?: number }): Promise<void>;
  goto(url: string, o?: { waitUntil?: 'load' | 'domcontentloaded' | 'networkidle0'; timeout?: number }): Promise<unknown>;
  waitForFunction(fn: string, o?: { timeout?: number }): Promise<unknown>;
  evaluate(fn: string): Promise<unknown>;
  screenshot(o: { path?: string; fullPage?: boolean; clip?: { x: number; y: number; width: number; height: number } }): Promise<unknown>;
  pdf(o: Record<string, unknown>): Promise<unknown>;
  on(event: 'console', fn: (m: { type(): string; text(): string }) => void): void;
  on(event: 'pageerror', fn: (e: Error) => void): void;
  on(event: 'request' | 'requestfailed', fn: (r: { url(): string; resourceType(): string }) => void): void;
  on(event: 'dialog', fn: (d: { message(): string; dismiss(): Promise<void> }) => void): void;
  mouse: { move(x: number, y: number, o?: { steps?: number }): Promise<void>; down(): Promise<void>; up(): Promise<void> };
  close(): Promise<void>;
}

/** The part of puppeteer's Browser used here. */
export interface Browser {
  newPage(): Promise<Page>;
  close(): Promise<void>;
  version(): Promise<string>;
  once(event: 'disconnected', fn: () => void): void;
}

interface Puppeteer {
  launch(o: Record<string, unknown>): Promise<Browser>;
}

/** The npm package this module drives (package.json dependency). */
const PUPPETEER = 'puppeteer-core';

/** Where to look for the browser: $LOADSCOPE_CHROMIUM first, then the usual distribution paths. */
export const CHROMIUM_CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome-stable', '/usr/bin/google-chrome'];

/** Flags for a quiet, offline headless browser that makes no request of its own. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-extensions',
  '--metrics-recording-only',
  '--mute-audio',
];

export function chromiumPath(): string | undefined {
  const env = process.env.LOADSCOPE_CHROMIUM;
  if (env) return existsSync(env) ? env : undefined;
  return CHROMIUM_CANDIDATES.find((p) => existsSync(p));
}

async function loadPuppeteer(): Promise<Puppeteer> {
  try {
    return ((await import(PUPPETEER)) as { default: Puppeteer }).default;
  } catch (cause) {
    // A puppeteer-core installed elsewhere (its package directory or entry file).
    const alt = process.env.LOADSCOPE_PUPPETEER;
    if (alt) {
      const entry = alt.endsWith('.js') ? alt : join(alt, 'lib', 'esm', 'puppeteer', 'puppeteer-core.js');
      return ((await import(pathToFileURL(entry).href)) as { default: Puppeteer }).default;
    }
    throw new LoadscopeError('ENVIRONMENT', 'puppeteer-core is not installed', {
      cause,
      hint: 'run `npm install` in the loadscope checkout (puppeteer-core is a dependency; it never downloads a browser)',
    });
  }
}

/** A browser with a fresh profile; closing it removes the profile. */
export async function launchBrowser(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath) {
    throw new LoadscopeError('ENVIRONMENT', 'no Chromium found', { hint: 'install Debian\'s `chromium` (scripts/setup.sh does) or set LOADSCOPE_CHROMIUM to a Chrome/Chromium binary' });
  }
  const puppeteer = await loadPuppeteer();
  const userDataDir = mkdtempSync(join(tmpdir(), 'loadscope-chromium-'));
  let browser: Browser;
  try {
    browser = await puppeteer.launch({ executablePath, headless: true, pipe: true, userDataDir, args: CHROMIUM_ARGS, timeout: 60_000 });
  } catch (cause) {
    rmSync(userDataDir, { recursive: true, force: true });
    throw new LoadscopeError('ENVIRONMENT', `Chromium (${executablePath}) did not start`, { cause, hint: 'check that it runs: chromium --headless --no-sandbox --dump-dom about:blank' });
  }
  const removeProfile = () => {
    try {
      rmSync(userDataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    } catch {
      // the browser may still be writing its profile; a leftover temporary directory is harmless
    }
  };
  const close = browser.close.bind(browser);
  browser.close = async () => {
    await close().catch(() => {});
    removeProfile();
  };
  browser.once('disconnected', removeProfile);
  return browser;
}

/** What renderImages wrote. */
export interface ImageFiles {
  pdf?: string;
  png?: string;
}

/**
 * Opens a report file in headless Chromium, waits until every chart is drawn and prints it to PDF
 * and/or a full-page PNG beside it (report.pdf, report.png).
 */
export async function renderImages(htmlPath: string, want: { pdf?: boolean; png?: boolean }): Promise<ImageFiles> {
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 1000 });
    await page.goto(pathToFileURL(htmlPath).href, { waitUntil: 'load', timeout: 60_000 });
    await page.waitForFunction('window.__loadscope && window.__loadscope.ready', { timeout: 60_000 });
    const base = htmlPath.replace(/\.html$/, '');
    const out: ImageFiles = {};
    if (want.png) {
      out.png = `${base}.png`;
      await page.screenshot({ path: out.png, fullPage: true });
    }
    if (want.pdf) {
      out.pdf = `${base}.pdf`;
      await page.pdf({ path: out.pdf, format: 'A4', landscape: true, printBackground: true, scale: 0.75, margin: { top: '10mm', bottom: '10mm', left: '8mm', right: '8mm' } });
    }
    return out;
  } finally {
    await browser.close();
  }
}
