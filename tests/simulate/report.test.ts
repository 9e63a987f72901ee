/**
 * The simulation's HTML report opened in headless Chromium (playwright-core driving Debian's
 * chromium), as the drill report is: both charts with their series, the quota line, the figures
 * with the rto verdict, and nothing fetched.
 */
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { useHeadlessChromium } from "../support/chromium.js";
import { simulate } from "../../simulate/engine.js";
import { defaultParams } from "../../simulate/params.js";
import { writeSimReport } from "../../simulate/report.js";
import { summarize } from "../../simulate/summary.js";

describe("simulation HTML report in headless Chromium", () => {
  const chromium = useHeadlessChromium("sim-report-");

  it("opens from disk with the curves drawn against the quota, fetching nothing", async () => {
    const outcome = simulate({ ...defaultParams(20_000), connectQuota: 300 });
    const summary = summarize(outcome, 1.5, 100e6);
    const file = writeSimReport(path.join(chromium.dir(), "out"), summary, outcome.seconds);
    const { page, requests } = await chromium.open(file);

    const series = await page
      .locator("svg#curves [data-series]")
      .evaluateAll((els) => els.map((e) => e.getAttribute("data-series")));
    expect(series).toEqual(
      expect.arrayContaining([
        "connected",
        "connects-healthy",
        "refused",
        "connects-failed-region",
        "quota",
        "p50",
        "p99",
      ]),
    );
    // the connected curve rises across the plot; the admitted connects never cross the quota line
    const length = await page
      .locator('svg#curves path[data-series="connected"]')
      .evaluate((p) => (p as unknown as { getTotalLength(): number }).getTotalLength());
    expect(length).toBeGreaterThan(300);
    const quotaY = Number(await page.locator('svg#curves [data-series="quota"]').getAttribute("y1"));
    const ys = await page
      .locator('svg#curves path[data-series="connects-healthy"]')
      .evaluate((p) =>
        [...(p.getAttribute("d") ?? "").matchAll(/[ML][\d.]+,([\d.]+)/g)].map((m) => Number(m[1])),
      );
    expect(ys.length).toBeGreaterThan(50);
    expect(Math.min(...ys)).toBeGreaterThanOrEqual(quotaY - 0.5); // SVG y grows downwards
    const box = await page.locator("svg#curves").boundingBox();
    expect(box!.width).toBeGreaterThan(800);

    const figures = await page.locator("#figures").innerText();
    expect(figures).toMatch(/Devices\s+20,000/);
    expect(figures).toMatch(
      /Expected RTO \(iot-dr rto\)\s+[\d.]+–[\d.]+ s \(99 % of the fleet: [\d.]+–[\d.]+ s\); 99 % at [\d.]+ s (within|outside)/,
    );
    expect(figures).toMatch(/Connect quota\s+300\/s per region/);
    expect(requests.filter((u) => !u.startsWith("file://"))).toEqual([]);
  }, 60_000);
});
