/**
 * `iot-dr drill --target aws` through fakes: a fake "AWS" in which the override parameter drives a
 * health check, the health check drives the DNS answer and the DNS answer moves a fake fleet, all
 * on a virtual clock. Proves the override is forced, measured against and restored, also when a
 * step fails or the outputs are incomplete.
 */
import { describe, expect, it } from "vitest";
import { Command } from "commander";
import { makeDrillCommand, defaultDrillDeps } from "../../cli/commands/drill.js";
import { checkOutputs, runAwsDrill, type AwsDrillDeps, type AwsDrillOutputs } from "../../drill/aws.js";
import type { OverrideMode } from "../../functions/health/policy.js";

const OUTPUTS: AwsDrillOutputs = {
  primaryRegion: "eu-west-1",
  secondaryRegion: "eu-central-1",
  deviceEndpoint: "devices.example.com",
  healthCheckUrls: {
    "eu-west-1": "https://hc-1.example/secret",
    "eu-central-1": "https://hc-2.example/secret",
  },
  overrideParameters: {
    "eu-west-1": "/iot-dr/health/override/eu-west-1",
    "eu-central-1": "/iot-dr/health/override/eu-central-1",
  },
};
const PRIMARY_IP = "203.0.113.10";
const SECONDARY_IP = "198.51.100.20";

interface FakeOptions {
  /** Devices that never move (a fleet that fails to follow DNS). */
  stuck?: number;
  /** Fail this call once. */
  failSet?: OverrideMode;
  initialOverride?: OverrideMode;
  outputs?: Partial<AwsDrillOutputs>;
}

/** A small world: the override moves the health answer after 2 s, DNS after 3 s, devices 1 s after DNS. */
function fakeAws(options: FakeOptions = {}) {
  let now = 1_000_000;
  let override: OverrideMode = options.initialOverride ?? "automatic";
  const overrideLog: Array<{ at: number; mode: OverrideMode }> = [];
  let fleetStopped = false;
  let devices = 0;
  const forcedAt = (t: number) =>
    [...overrideLog].reverse().find((o) => o.at <= t)?.mode === "force-unhealthy";
  const dnsOnPrimary = (t: number) => !forcedAt(t - 3_000);
  const deps: AwsDrillDeps = {
    readOutputs: async () => ({ ...OUTPUTS, ...options.outputs }) as AwsDrillOutputs,
    getOverride: async () => override,
    setOverride: async (_region, parameter, mode) => {
      expect(parameter).toBe(OUTPUTS.overrideParameters["eu-west-1"]);
      if (options.failSet === mode) {
        options.failSet = undefined;
        throw new Error("AccessDenied: ssm:PutParameter");
      }
      override = mode;
      overrideLog.push({ at: now, mode });
    },
    resolve: async () => [dnsOnPrimary(now) ? PRIMARY_IP : SECONDARY_IP],
    checkHealth: async () => !forcedAt(now - 2_000),
    fleet: ({ count }) => {
      devices = count;
      return {
        start: async () => undefined,
        connectedByTarget: (): Record<string, number> => {
          const stuck = options.stuck ?? 0;
          return dnsOnPrimary(now - 1_000)
            ? { [`${PRIMARY_IP}:8883`]: devices }
            : { [`${PRIMARY_IP}:8883`]: stuck, [`${SECONDARY_IP}:8883`]: devices - stuck };
        },
        stop: async () => {
          fleetStopped = true;
          return { sent: devices * 10, lost: 0 };
        },
      };
    },
    expectedRto: (_n, direction) => (direction === "failover" ? [2, 12] : [2, 14]),
    now: () => now,
    sleep: async (ms) => {
      now += ms;
    },
  };
  return { deps, overrideLog, current: () => override, fleetStopped: () => fleetStopped };
}

describe("drill --target aws through fakes", () => {
  it("forces fail-over with the override, measures it and restores the override for fail-back", async () => {
    const aws = fakeAws();
    const result = await runAwsDrill(aws.deps, { devices: 100, stepTimeoutSeconds: 60 });
    expect(aws.overrideLog.map((o) => o.mode)).toEqual(["force-unhealthy", "automatic"]);
    expect(aws.current()).toBe("automatic");
    expect(result).toMatchObject({
      target: "aws",
      devices: 100,
      overrideRestored: "automatic",
      expectedRtoSeconds: [2, 12],
    });
    // DNS moves 3 s after the override, devices 1 s later (virtual clock, polled every 0.5 s)
    expect(result.detectionSeconds).toBeGreaterThanOrEqual(3);
    expect(result.detectionSeconds).toBeLessThanOrEqual(3.5);
    expect(result.rtoSeconds).toBeGreaterThanOrEqual(4);
    expect(result.rtoSeconds).toBeLessThanOrEqual(result.expectedRtoSeconds[1]);
    expect(result.failback.rtoSeconds).toBeGreaterThan(0);
    expect(aws.fleetStopped()).toBe(true);
  });

  it("restores the override when a step after forcing it fails", async () => {
    const aws = fakeAws({ stuck: 50 });
    await expect(runAwsDrill(aws.deps, { devices: 100, stepTimeoutSeconds: 20 })).rejects.toThrow(
      /gave up waiting for 99% of devices to move/,
    );
    expect(aws.overrideLog.map((o) => o.mode)).toEqual(["force-unhealthy", "automatic"]);
    expect(aws.current()).toBe("automatic");
    expect(aws.fleetStopped()).toBe(true);
  });

  it("restores the override in the end when the fail-back write fails once", async () => {
    const aws = fakeAws({ failSet: "automatic" });
    const lines: string[] = [];
    await expect(
      runAwsDrill(aws.deps, { devices: 10, stepTimeoutSeconds: 60, progress: (l) => lines.push(l) }),
    ).rejects.toThrow(/AccessDenied/);
    // the fail-back write failed; the finally block wrote it again
    expect(aws.current()).toBe("automatic");
    expect(lines.join("\n")).toContain("restoring the override of eu-west-1 to automatic");
  });

  it("restores the override when interrupted after forcing it", async () => {
    const aws = fakeAws();
    const controller = new AbortController();
    const deps: AwsDrillDeps = {
      ...aws.deps,
      resolve: async (name) => {
        if (aws.current() === "force-unhealthy") controller.abort();
        return aws.deps.resolve(name);
      },
    };
    await expect(
      runAwsDrill(deps, { devices: 10, stepTimeoutSeconds: 60, signal: controller.signal }),
    ).rejects.toThrow(/interrupted/);
    expect(aws.current()).toBe("automatic");
  });

  it("refuses to start when the override is not automatic, and changes nothing", async () => {
    const aws = fakeAws({ initialOverride: "force-healthy" });
    await expect(runAwsDrill(aws.deps, { devices: 10, stepTimeoutSeconds: 10 })).rejects.toThrow(
      /override of eu-west-1 is 'force-healthy'.*set \/iot-dr\/health\/override\/eu-west-1 to automatic/,
    );
    expect(aws.overrideLog).toEqual([]);
  });

  it("names every output the deployed stacks do not export", () => {
    expect(() =>
      checkOutputs({ primaryRegion: "eu-west-1", secondaryRegion: "eu-central-1", healthCheckUrls: {} }),
    ).toThrow(
      /do not export what the drill needs: deviceEndpoint, overrideParameters, healthCheckUrls.eu-west-1, healthCheckUrls.eu-central-1/,
    );
    expect(checkOutputs(OUTPUTS)).toEqual(OUTPUTS);
  });

  it("runs through the CLI with --json, printing one document", async () => {
    const aws = fakeAws();
    let stdout = "";
    let stderr = "";
    const program = new Command("iot-dr").exitOverride();
    makeDrillCommand(() => ({
      ...defaultDrillDeps(),
      awsDeps: () => aws.deps,
      stdout: (t) => void (stdout += t),
      stderr: (t) => void (stderr += t),
    }))(program, () => undefined);
    await program.parseAsync(["drill", "--target", "aws", "--devices", "20", "--json"], { from: "user" });
    const result = JSON.parse(stdout) as {
      target: string;
      lostRegistryOps: null;
      failback: { rtoSeconds: number };
    };
    expect(result).toMatchObject({ target: "aws", lostRegistryOps: null });
    expect(stderr).toContain("override of eu-west-1 set to force-unhealthy");
    expect(aws.current()).toBe("automatic");
  });
});
