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
