import { afterEach, describe, expect, it } from "vitest";
import { ENDPOINT, startRegions, waitFor, type Regions } from "./harness.js";

let regions: Regions | undefined;
afterEach(async () => {
  await regions?.close();
  regions = undefined;
});

describe("fleet reconnect spread", () => {
  it("200 clients cut off by a broker kill reconnect spread over the jitter window, not in one 100 ms slot", async () => {
    const windowMs = 2_000;
    regions = await startRegions(1);
    const r = regions;
    for (let i = 0; i < 200; i++) r.client({ backoff: { minDelayMs: windowMs } }).start();
    await waitFor("all on A", () => r.a.connectedClients() === 200, 20_000);

    const delays: number[] = [];
    for (const c of r.clients) c.on("reconnected", (e) => delays.push(e.durationMs));
    r.dns.setRecord(ENDPOINT, r.b.host, 1);
    await r.a.kill();
    await waitFor("all on B", () => r.b.connectedClients() === 200, 20_000);

    const slots = new Array(Math.ceil(windowMs / 100) + 10).fill(0);
    for (const d of delays) slots[Math.floor(d / 100)]++;
    const busiest = Math.max(...slots);
    const usedSlots = slots.slice(0, windowMs / 100).filter((n) => n > 0).length;
    // Uniform over 20 slots is ~10 per slot; a bunched fleet would put most of 200 in one.
    expect(busiest).toBeLessThanOrEqual(40);
    expect(usedSlots).toBeGreaterThanOrEqual(16);
    expect(Math.max(...delays) - Math.min(...delays)).toBeGreaterThan(windowMs * 0.7);
    // First attempts are drawn from [0, window): nobody waits much longer than the window.
    expect(Math.max(...delays)).toBeLessThan(windowMs + 1_000);
  });
});
