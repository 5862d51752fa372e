/**
 * Debian's Chromium for the browser tests, driven by puppeteer-core (which downloads no
 * browser of its own). `.ci/run` installs it (scripts/install-system-deps.sh); a machine
 * without it skips those tests with a warning naming the package.
 */
import { existsSync } from "node:fs";
import puppeteer, { type Browser } from "puppeteer-core";

export const CHROMIUM = "/usr/bin/chromium";
export const HAVE_CHROMIUM = existsSync(CHROMIUM);

/** Prints why `file`'s browser tests are skipped, when they are. */
export function warnWithoutChromium(file: string): void {
  if (!HAVE_CHROMIUM) console.warn(`${file}: SKIPPED — ${CHROMIUM} not found (install Debian's chromium: apt-get install -y chromium)`);
}

/** A headless Chromium. */
export function launchChromium(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Tests run as root, where Chromium's sandbox cannot start.
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
}
