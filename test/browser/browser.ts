// A real headless Chromium for the browser tests: Debian's /usr/bin/chromium (or CHROMIUM_PATH)
// driven by puppeteer-core, which never downloads a browser. Fresh profile per launch, no
// background traffic. The page's every request, console message and CSP violation is recorded.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { projectRoot } from '../../src/paths.js';

export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

export interface BrowserSession {
  browser: Browser;
  page: Page;
  /** Every URL the page requested (documents, scripts, fetches), in order. */
  requests: string[];
  console: Array<{ type: string; text: string }>;
  pageErrors: string[];
  /** securitypolicyviolation events seen by the page, as "directive blocked-uri". */
  cspViolations(): Promise<string[]>;
  /** Saves test-results/<dir>/<name>.png and returns its path. */
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

export async function openBrowser(shotsDir: string): Promise<BrowserSession> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install -y --no-install-recommends chromium (or set CHROMIUM_PATH)`);
  const profile = mkdtempSync(join(tmpdir(), 's3ap-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: profile,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-dev-shm-usage', `--user-data-dir=${profile}`],
    defaultViewport: { width: 1280, height: 900 },
    timeout: 60_000,
  });
  const page = await browser.newPage();
  page.setDefaultTimeout(30_000);
  const requests: string[] = [];
  const consoleMsgs: Array<{ type: string; text: string }> = [];
  const pageErrors: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('console', (m) => consoleMsgs.push({ type: m.type(), text: m.text() }));
  page.on('pageerror', (e) => pageErrors.push(String((e as Error).message ?? e)));
  // Runs before the page's own script, outside its CSP (injected through the DevTools protocol).
  // (Strings: the tests compile without the DOM library.)
  await page.evaluateOnNewDocument(`window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));`);
  const dir = join(projectRoot(), 'test-results', shotsDir);
  mkdirSync(dir, { recursive: true });
  return {
    browser, page, requests, console: consoleMsgs, pageErrors,
    cspViolations: () => page.evaluate('window.__csp ?? []') as Promise<string[]>,
    async screenshot(name) {
      const file = join(dir, `${name}.png`);
      await page.screenshot({ path: file as `${string}.png`, fullPage: true });
      return file;
    },
    async close() {
      await browser.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
