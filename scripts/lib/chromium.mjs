// Launches the system's headless Chromium through playwright-core (installed in tools/; its own
// browser download does not work on these machines). The flags are the ones in webdriver.json,
// which wasm-bindgen-test-runner reads too, so they live in one place. playwright's launch()
// gives every browser a fresh temporary profile (--user-data-dir) and deletes it afterwards.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const root = new URL('../../', import.meta.url);
const require = createRequire(new URL('tools/package.json', root));

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

export function chromiumArgs() {
  const caps = JSON.parse(readFileSync(new URL('webdriver.json', root), 'utf8'));
  return caps['goog:chromeOptions'].args;
}

export async function launchChromium() {
  let playwright;
  try {
    playwright = require('playwright-core');
  } catch (e) {
    throw new Error(`playwright-core is not installed in tools/ (run scripts/setup.sh): ${e.message}`);
  }
  return playwright.chromium.launch({ executablePath: CHROMIUM, headless: true, args: chromiumArgs() });
}

/**
 * Opens `url` in a new page of `browser` and waits (up to `timeout` ms) for the page to publish
 * `window[name]`: `{ ok: true, result }`, whose result it returns, or `{ ok: false, error }`,
 * which throws with everything the page logged. What the page logs is pushed to `logs`.
 */
export async function pageResult(browser, url, name, { timeout = 120_000, logs = [] } = {}) {
  const page = await browser.newPage();
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  await page.goto(url);
  const outcome = await page.waitForFunction((key) => window[key], name, { timeout, polling: 500 }).then((h) => h.jsonValue());
  if (!outcome.ok) throw new Error(`page failed: ${outcome.error}\n${logs.join('\n')}`);
  return outcome.result;
}
