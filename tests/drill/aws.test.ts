/**
 * `iot-dr drill --target aws` through fakes: a fake "AWS" in which the override parameter drives a
 * health check, the health check drives the DNS answer and the DNS answer moves a fake fleet, all
 * on a virtual clock. Proves the override is forced, measured against and restored, also when a
 * step fails or the outputs are incomplete.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it, vi } from "vitest";
import { Command } from "commander";
import { makeDrillCommand, defaultDrillDeps } from "../../cli/commands/drill.js";
import { runCli } from "../../cli/main.js";
import type { DrillTlsSettings } from "../../drill/awsDeps.js";
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
  ccEndpoint: "cc.example.com",
};
const PRIMARY_IP = "203.0.113.10";
const ROOT_CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "iot-dr-drill-aws-"));
const rootCa = path.join(tmp, "AmazonRootCA1.pem");
fs.writeFileSync(rootCa, ROOT_CA_PEM);
const SECONDARY_IP = "198.51.100.20";

interface FakeOptions {
  /** Devices that never move (a fleet that fails to follow DNS). */
  stuck?: number;
  /** Fail this call once. */
  failSet?: OverrideMode;
  initialOverride?: OverrideMode;
  outputs?: Partial<AwsDrillOutputs>;
  /** C&C refuses the device at this index. */
  failOnboardAfter?: number;
}

/** A small world: the override moves the health answer after 2 s, DNS after 3 s, devices 1 s after DNS. */
function fakeAws(options: FakeOptions = {}) {
  let now = 1_000_000;
  let override: OverrideMode = options.initialOverride ?? "automatic";
  const overrideLog: Array<{ at: number; mode: OverrideMode }> = [];
  let fleetStopped = false;
  let devices = 0;
  const onboarded: string[] = [];
  const decommissioned: string[] = [];
  let fleetIds: string[] = [];
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
    onboard: async (thingNames, ccEndpoint) => {
      expect(ccEndpoint).toBe(OUTPUTS.ccEndpoint);
      if (options.failOnboardAfter !== undefined && thingNames.length > options.failOnboardAfter) {
        onboarded.push(...thingNames.slice(0, options.failOnboardAfter));
        throw new Error(
          `C&C in eu-west-1 refused to onboard ${thingNames[options.failOnboardAfter]}: HTTP 422`,
        );
      }
      onboarded.push(...thingNames);
      return thingNames.map((n) => ({ certificatePem: `CERT ${n}`, privateKeyPem: `KEY ${n}` }));
    },
    decommission: async (thingNames) => {
      decommissioned.push(...thingNames);
      return [];
    },
    connection: { port: 443, alpn: "x-amzn-mqtt-ca" },
    fleet: ({ count, clientIdPrefix, identities }) => {
      devices = count;
      fleetIds = identities.map((d, i) => `${clientIdPrefix}-${i} ${d.certificatePem}`);
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
  return {
    deps,
    overrideLog,
    current: () => override,
    fleetStopped: () => fleetStopped,
    onboarded,
    decommissioned,
    fleetIds: () => fleetIds,
  };
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
    // Each device connects as the thing C&C onboarded, with its own identity, and leaves the registry at the end.
    expect(result).toMatchObject({
      devicesOnboarded: 100,
      connection: { port: 443, alpn: "x-amzn-mqtt-ca" },
    });
    expect(aws.onboarded).toHaveLength(100);
    expect(aws.fleetIds()[7]).toBe(`${aws.onboarded[7]} CERT ${aws.onboarded[7]}`);
    expect(aws.decommissioned).toEqual(aws.onboarded);
  });

  it("stops before the fault when C&C refuses a device, decommissions what it onboarded and never touches the override", async () => {
    const aws = fakeAws({ failOnboardAfter: 3 });
    await expect(runAwsDrill(aws.deps, { devices: 10, stepTimeoutSeconds: 10 })).rejects.toThrow(
      /C&C in eu-west-1 refused to onboard .*-3: HTTP 422/,
    );
    expect(aws.overrideLog).toEqual([]);
    expect(aws.decommissioned).toHaveLength(10);
    expect(aws.decommissioned.slice(0, 3)).toEqual(aws.onboarded);
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
      /do not export what the drill needs: deviceEndpoint, overrideParameters, ccEndpoint, healthCheckUrls.eu-west-1, healthCheckUrls.eu-central-1/,
    );
    expect(checkOutputs(OUTPUTS)).toEqual(OUTPUTS);
  });

  it("runs through the CLI with --json, printing one document", async () => {
    const aws = fakeAws();
    let stdout = "";
    let stderr = "";
    let tls: DrillTlsSettings | undefined;
    const program = new Command("iot-dr").exitOverride();
    makeDrillCommand(() => ({
      ...defaultDrillDeps(),
      awsDeps: (options) => {
        tls = options.tls;
        return aws.deps;
      },
      stdout: (t) => void (stdout += t),
      stderr: (t) => void (stderr += t),
    }))(program, () => undefined);
    await program.parseAsync(
      ["drill", "--target", "aws", "--devices", "20", "--json", "--root-ca", rootCa, "--port", "443"],
      { from: "user" },
    );
    expect(tls).toEqual({ port: 443, rootCa: ROOT_CA_PEM, devicePolicy: "iot-dr-device" });
    const result = JSON.parse(stdout) as {
      target: string;
      lostRegistryOps: null;
      failback: { rtoSeconds: number };
    };
    expect(result).toMatchObject({ target: "aws", lostRegistryOps: null });
    expect(stderr).toContain("override of eu-west-1 set to force-unhealthy");
    expect(aws.current()).toBe("automatic");
  });

  it("refuses --target aws without the TLS material, exit 2 naming the flag, before anything starts", async () => {
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const notPem = path.join(tmp, "not-a-ca.txt");
    fs.writeFileSync(notPem, "hello");
    try {
      const run = async (...args: string[]) => {
        stderr.mockClear();
        const code = await runCli(["drill", "--target", "aws", "--devices", "5", ...args]);
        return { code, text: stderr.mock.calls.map((c) => String(c[0])).join("") };
      };
      const missing = await run();
      expect(missing.code).toBe(2);
      expect(missing.text).toMatch(/--target aws needs --root-ca <file>.*mutual TLS.*AmazonRootCA1\.pem/);
      const empty = await run("--root-ca", notPem);
      expect(empty.code).toBe(2);
      expect(empty.text).toContain(`--root-ca ${notPem} holds no PEM certificate`);
      const plain = await run("--root-ca", rootCa, "--port", "1883");
      expect(plain.code).toBe(2);
      expect(plain.text).toMatch(/--port must be 8883 .* or 443 .*x-amzn-mqtt-ca.*got '1883'/);
      const wrongTarget = await runCli(["drill", "--target", "local", "--root-ca", rootCa]);
      expect(wrongTarget).toBe(2);
    } finally {
      stderr.mockRestore();
    }
  });
});
