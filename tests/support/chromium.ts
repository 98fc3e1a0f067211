// Debian's chromium, driven by playwright-core, for the page tests (the console, the report page, the
// patient page): one place for where it is and how it is started. stack/rxstack installs it as root.
import fs from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.RX_CHROMIUM ?? '/usr/bin/chromium';

export function assertChromium(): void {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: run stack/rxstack up as root (it apt-get installs chromium) or set RX_CHROMIUM`);
}

export function launchChromium(): Promise<Browser> {
  assertChromium();
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
}
