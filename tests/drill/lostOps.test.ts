/**
 * The local drill can report a lost registry operation: with the global table made to drop the
 * replication of one device's thing record from the standby back to the primary, the onboarding
 * made in the standby during the outage is missing in the primary after catch-up, and the report
 * says so (the fail-back gate stays closed and is forced, so the drill still ends and reports).
 */
import { describe, expect, it } from "vitest";
import { runLocalDrill } from "../../drill/local.js";
import { drillFindings } from "../../drill/summary.js";

describe("a drill that loses a registry operation", () => {
  it("reports it as lost after catch-up, with the gate forced open", async () => {
    const dropped: string[] = [];
    const result = await runLocalDrill({
      scenario: "broker-down",
      devices: 4,
      registryDevices: 2,
      dropReplication: (pk, from, to) => {
        const drop = pk.includes('"thing#drill-device-new-0"') && from === "us-west-2" && to === "us-east-1";
        if (drop) dropped.push(pk);
        return drop;
      },
    });
    expect(dropped.length).toBeGreaterThan(0);
    expect(result.lostRegistryOps).toBeGreaterThanOrEqual(1);
    expect(result.failback.gate.fallback).toBe(true);
    expect(result.failback.driftAtEnd).toBeGreaterThan(0);
    expect(result.drift.some((d) => d.key === "thing#drill-device-new-0")).toBe(true);
    // What `iot-dr drill` names before it exits 1.
    expect(drillFindings(result)).toEqual(
      expect.arrayContaining([
        `${result.lostRegistryOps} registry operation(s) lost`,
        expect.stringMatching(/forced open/),
      ]),
    );
  }, 300_000);
});
