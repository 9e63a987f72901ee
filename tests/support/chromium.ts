/**
 * Debian's chromium, headless, driven by playwright-core: one browser per test file with a fresh
 * profile, for reports that must open from disk and fetch nothing.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll } from "vitest";
import { chromium, type BrowserContext, type Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

export interface HeadlessChromium {
  /** A scratch folder of the file's own, removed afterwards (the profile lives in it too). */
  dir(): string;
  /** A new page that has opened `file`, and every URL it requested. */
  open(file: string): Promise<{ page: Page; requests: string[] }>;
}

/** Registers the hooks that start and stop the browser; use its methods inside tests. */
export function useHeadlessChromium(prefix: string): HeadlessChromium {
  let browser: BrowserContext | undefined;
  let dir: string | undefined;
  beforeAll(async () => {
    if (!fs.existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: install it with 'apt-get install -y chromium' (see .ci/run)`);
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    // A fresh profile per run (playwright passes it as --user-data-dir).
    browser = await chromium.launchPersistentContext(path.join(dir, "profile"), {
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });
  const started = () => {
    if (!browser || !dir) throw new Error("useHeadlessChromium(): the browser is not started yet");
    return { browser, dir };
  };
  return {
    dir: () => started().dir,
    async open(file) {
      const page = await started().browser.newPage();
      const requests: string[] = [];
      page.on("request", (r) => requests.push(r.url()));
      await page.goto(`file://${file}`);
      return { page, requests };
    },
  };
}
