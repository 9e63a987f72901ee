/**
 * The drill's HTML report opened in headless Chromium (playwright-core driving Debian's chromium):
 * the timeline chart is there with its series (devices per region, replication lag, health per
 * factor, DNS answer), the figures table shows the bounds verdicts, and the page fetches nothing.
 */
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { expectedRto, LOCAL_DRILL_CONFIG, type DrillResult } from "../../drill/local.js";
import { renderReport, writeReport } from "../../drill/report.js";
import type { TimelinePoint } from "../../drill/metrics.js";
import { useHeadlessChromium } from "../support/chromium.js";

/** A result shaped like a region-down drill of 20 devices: fault at 5 s, moved by 8 s, back by 20 s. */
function sampleResult(): DrillResult {
  const timeline: TimelinePoint[] = [];
  for (let t = 1; t <= 25; t++) {
    const onSecondary = t >= 8 && t < 20;
    const primaryDown = t >= 5 && t < 15;
    const factors = (ok: boolean) => ({
      iotBroker: ok,
      applicationServices: ok,
      commandControl: true,
      analytics: true,
    });
    timeline.push({
      t,
      connected: { "us-east-1": onSecondary || primaryDown ? 0 : 20, "us-west-2": onSecondary ? 20 : 0 },
      lagMs: t % 3 === 0 ? 400 + t * 10 : null,
      health: { "us-east-1": factors(!primaryDown), "us-west-2": factors(true) },
      active: t >= 7 && t < 19 ? "us-west-2" : "us-east-1",
    });
  }
  const bounds = expectedRto(20, "failover").rtoSeconds;
  return {
    target: "local",
    scenario: "region-down",
    devices: 20,
    registryDevices: 4,
    detectionSeconds: 2.1,
    rtoSeconds: 3.2,
    expectedRtoSeconds: bounds,
    expectedDetectionSeconds: expectedRto(20, "failover").detectionSeconds,
    allowanceSeconds: 2,
    sentTelemetry: 480,
    lostTelemetry: 0,
    registryOps: 8,
    failedRegistryOps: 0,
    lostRegistryOps: 0,
    registryOpsDuringFault: 3,
    rpoSeconds: 1.2,
    registryCatchUpSeconds: null,
    strandedRegistryOps: 3,
    replicationLagMs: { p50: 450, p99: 640, samples: 40 },
    driftAtEnd: 0,
    failback: {
      rtoSeconds: 3.5,
      detectionSeconds: 2.2,
      expectedRtoSeconds: expectedRto(20, "failback").rtoSeconds,
      driftAtEnd: 0,
      gate: { method: "functions/reconcile compareRegions", fallback: false, drift: 0, attempts: 1 },
      caughtUpBeforeHealthy: true,
    },
    throttledConnects: { "us-east-1": 0, "us-west-2": 3 },
    wallSeconds: 70,
    config: LOCAL_DRILL_CONFIG,
    events: [
      { t: 5, label: "fault injected: region-down in us-east-1" },
      { t: 7, label: "DNS answer moved from us-east-1 to us-west-2" },
      { t: 19, label: "DNS answer moved from us-west-2 to us-east-1" },
    ],
    timeline,
    drift: [],
  };
}

describe("drill HTML report in headless Chromium", () => {
  const chromium = useHeadlessChromium("drill-report-");

  it("opens from disk with the timeline chart and every series drawn, fetching nothing", async () => {
    const file = writeReport(path.join(chromium.dir(), "out"), sampleResult());
    expect(path.basename(file)).toBe("report.html");
    const { page, requests } = await chromium.open(file);

    expect(await page.locator("svg#timeline").count()).toBe(1);
    const series = await page
      .locator("svg#timeline [data-series]")
      .evaluateAll((els) => els.map((e) => e.getAttribute("data-series")));
    expect(series).toEqual(
      expect.arrayContaining([
        "connected:us-east-1",
        "connected:us-west-2",
        "replication-lag",
        "health:us-east-1:iotBroker",
        "health:us-west-2:analytics",
        "active-region",
      ]),
    );
    // the connected series are real lines across the run, the lag points and health cells are drawn
    const lineLength = await page
      .locator('svg#timeline path[data-series="connected:us-west-2"]')
      .evaluate((p) => (p as unknown as { getTotalLength(): number }).getTotalLength());
    expect(lineLength).toBeGreaterThan(100);
    expect(await page.locator('svg#timeline [data-series="replication-lag"] circle').count()).toBe(8);
    const failedCells = await page
      .locator('svg#timeline [data-series="health:us-east-1:iotBroker"] rect[fill="#d62728"]')
      .count();
    expect(failedCells).toBe(10);
    expect(await page.locator("svg#timeline line.event").count()).toBe(3);
    const box = await page.locator("svg#timeline").boundingBox();
    expect(box!.width).toBeGreaterThan(800);

    const figures = await page.locator("#figures").innerText();
    expect(figures).toMatch(/RTO\s+3.2 s, expected .* within/);
    expect(figures).toContain("Registry operations lost (RPO)");
    expect(requests.every((u) => u.startsWith("file://"))).toBe(true);
    await page.close();
  });

  it("marks a figure outside its bounds and escapes labels it did not write", () => {
    const result = sampleResult();
    result.rtoSeconds = 999;
    result.events.push({ t: 9, label: "<script>alert(1)</script>" });
    const html = renderReport(result);
    expect(html).toMatch(/RTO<\/th><td>999 s, expected [^<]*<span class="bad">outside/);
    expect(html).not.toContain("<script>");
    expect(html).toContain("&lt;script&gt;");
  });
});
