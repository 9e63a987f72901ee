/**
 * The local drill end to end, one scenario at a time, through the CLI in-process (`runCli`), with
 * a small fleet: the fault lands while registry operations are still replicating, and the JSON
 * figures it prints must show those operations, none of them lost after catch-up, no drift, every
 * telemetry message delivered, RTO inside the calculated bounds and a gated fail-back.
 */
import { describe, expect, it } from "vitest";
import { runCli } from "../../cli/main.js";
import { makeDrillCommand, defaultDrillDeps } from "../../cli/commands/drill.js";
import { allowanceSeconds, expectedRto, SCENARIOS, type DrillResult } from "../../drill/local.js";
import { workloadSize } from "../../drill/registryWorkload.js";
import { Command } from "commander";

const DEVICES = 12;
const REGISTRY_DEVICES = 4;

/** Runs `iot-dr drill` with the real dependencies, capturing stdout and stderr. */
async function drill(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const program = new Command("iot-dr").exitOverride();
  let code = 0;
  makeDrillCommand(() => ({
    ...defaultDrillDeps(),
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
  }))(program, (c) => (code = c));
  await program.parseAsync(["drill", ...args], { from: "user" });
  return { code, stdout, stderr };
}

describe("the local drill, each scenario end to end", () => {
  it.each(SCENARIOS)(
    "%s: fails over within the calculated RTO, loses nothing and fails back without drift",
    async (scenario) => {
      const out = await drill([
        "--scenario",
        scenario,
        "--devices",
        String(DEVICES),
        "--registry-devices",
        String(REGISTRY_DEVICES),
        "--json",
      ]);
      expect(out.code).toBe(0);
      // exactly one JSON document on stdout; progress went to stderr
      const result = JSON.parse(out.stdout) as DrillResult;
      expect(out.stdout.trim().split("\n")).toHaveLength(1);
      expect(out.stderr).toContain("fault injected");

      const slack = allowanceSeconds();
      const bounds = expectedRto(DEVICES, "failover", undefined, scenario).rtoSeconds;
      expect(result).toMatchObject({ scenario, devices: DEVICES, expectedRtoSeconds: bounds });
      expect(result.rtoSeconds).toBeGreaterThanOrEqual(bounds[0] - slack);
      expect(result.rtoSeconds).toBeLessThanOrEqual(bounds[1] + slack);
      expect(result.detectionSeconds).toBeLessThanOrEqual(result.rtoSeconds);
      expect(result.lostRegistryOps).toBe(0);
      expect(result.failedRegistryOps).toBe(0);
      // the workload in the primary (cut at the fault when the region dies) plus 4 changes in the standby
      const workload = workloadSize(REGISTRY_DEVICES);
      if (scenario === "region-down")
        expect(result.registryOps).toBeGreaterThanOrEqual(Math.ceil(workload / 2) + 4);
      else expect(result.registryOps).toBe(workload + 4);
      // the fault landed on operations the standby did not have yet
      expect(result.registryOpsDuringFault).toBeGreaterThan(0);
      expect(result.rpoSeconds).toBeGreaterThan(0);
      expect(result.registryCatchUpSeconds).toBeGreaterThan(0);
      // stranded: pending operations whose records were not yet in the standby's table when the region died
      if (scenario === "region-down")
        expect(result.strandedRegistryOps).toBeLessThanOrEqual(result.registryOpsDuringFault);
      else expect(result.strandedRegistryOps).toBe(0);
      expect(result.lostTelemetry).toBe(0);
      expect(result.sentTelemetry).toBeGreaterThan(DEVICES * 5);
      expect(result.driftAtEnd).toBe(0);
      expect(result.replicationLagMs.samples).toBeGreaterThan(0);
      expect(result.replicationLagMs.p99).toBeGreaterThanOrEqual(result.replicationLagMs.p50);

      const back = expectedRto(DEVICES, "failback").rtoSeconds;
      expect(result.failback.driftAtEnd).toBe(0);
      expect(result.failback.gate).toMatchObject({ drift: 0, fallback: false });
      expect(result.failback.caughtUpBeforeHealthy).toBe(true);
      expect(result.failback.rtoSeconds).toBeGreaterThanOrEqual(back[0] - slack);
      expect(result.failback.rtoSeconds).toBeLessThanOrEqual(back[1] + slack);
      // the timeline saw the fleet in both regions
      expect(result.timeline.some((p) => (p.connected["us-west-2"] ?? 0) === DEVICES)).toBe(true);
      expect(result.timeline.at(-1)?.active).toBe("us-east-1");
    },
    300_000,
  );
});

describe("drill command line", () => {
  const usage = async (args: string[]) => {
    let stderr = "";
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((t: string) => ((stderr += t), true)) as typeof process.stderr.write;
    try {
      return { code: await runCli(["drill", ...args]), stderr };
    } finally {
      process.stderr.write = write;
    }
  };

  it.each([
    [["--target", "gcp"], "--target must be one of local, aws"],
    [["--scenario", "meteor"], "--scenario must be one of broker-down"],
    [["--devices", "0"], "--devices must be a whole number from 1 to 50000"],
    [["--devices", "ten"], "--devices must be a whole number"],
    [["--devices", "5", "--registry-devices", "9"], "--registry-devices must be a whole number from 2 to 5"],
    [
      ["--target", "aws", "--registry-devices", "3"],
      "--registry-devices and --connect-rate apply to --target local only",
    ],
    [
      ["--target", "aws", "--connect-rate", "100"],
      "--registry-devices and --connect-rate apply to --target local only",
    ],
    [["--connect-rate", "0"], "--connect-rate must be a whole number from 1 to 100000"],
    [["--org", "acme"], "--org and --step-timeout apply to --target aws only"],
    [["--report", " "], "--report needs a folder"],
  ])("refuses %j with exit 2 and says what to change", async (args, message) => {
    const out = await usage(args);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain(message);
  });
});
