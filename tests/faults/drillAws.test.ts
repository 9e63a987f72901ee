/**
 * `iot-dr drill --target aws` against a half-dead region: the drill's real AWS edges
 * (drill/awsDeps.ts: the SSM client from `awsClient`, stack outputs through the workspace) talk to
 * moto through the fault peer (peers/faults.ts); the parts no loopback AWS has (the fleet, DNS, the
 * health-check URL) are fakes that report the primary as healthy. Each fault hits SSM right after
 * the drill read the override, so the first PutParameter (force-unhealthy) meets it: the drill must
 * end within its deadlines with an error naming SSM, the region and the endpoint, print what it had
 * measured, and say whether the override was restored.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Command } from "commander";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { useMotoEnv } from "../support/useMoto.js";
import { FAULTS, startFaultPeer, type FaultPeer } from "../../peers/faults.js";
import { startWatch, stopWatch } from "../../cli/aws.js";
import { globalOutputs, primaryOutputs, secondaryOutputs } from "../support/stackOutputs.js";
import { FakeStackWorkspace } from "../../cli/automation/fake.js";
import { AwsDrillFailed, runAwsDrill, type AwsDrillDeps, type AwsDrillPartial } from "../../drill/aws.js";
import { awsDrillDeps } from "../../drill/awsDeps.js";
import { makeDrillCommand, defaultDrillDeps } from "../../cli/commands/drill.js";

const PRIMARY = "eu-west-1";
const SECONDARY = "eu-central-1";
const PRIMARY_IP = "203.0.113.10";
const PARAMETER = `/iot-dr/health/override/${PRIMARY}`;

let peer: FaultPeer;
const moto = useMotoEnv(PRIMARY, {
  resetBeforeEach: false,
  // Every SDK call of the drill goes through the fault peer in front of moto.
  extra: async () => {
    peer = await startFaultPeer(moto.endpoint);
    return { AWS_ENDPOINT_URL: peer.endpoint };
  },
});

beforeAll(async () => {
  // moto loads its SSM backend on first use (seconds): warm it so the 0.5 s call deadline meets faults only.
  await new SSMClient(moto.clientConfig(PRIMARY))
    .send(new GetParameterCommand({ Name: PARAMETER }))
    .catch(() => undefined);
}, 60_000);
afterAll(async () => {
  await peer?.stop();
});
afterEach(async () => {
  stopWatch();
  await peer.set("pass");
});

/** The deployed stacks' outputs as the Automation API reports them (the health path is secret). */
function workspace() {
  const health = (host: string) => ({
    healthCheckHost: host,
    healthCheckResourcePath: "/health/s3cr3t-path-of-forty-letters-abcdefghijklmnop",
  });
  const secretOutputs = ["healthCheckResourcePath"];
  return new FakeStackWorkspace({
    primary: { outputs: primaryOutputs(PRIMARY, health("hc-1.example")), secretOutputs },
    secondary: { outputs: secondaryOutputs(SECONDARY, PRIMARY, health("hc-2.example")), secretOutputs },
    global: {
      outputs: globalOutputs(PRIMARY, SECONDARY, {
        deviceEndpoint: "devices.example.com",
        failoverRecordNames: ["devices.example.com", "cc.example.com"],
      }),
    },
  });
}

/** Real SSM and stack-output edges; a fleet that connects at once and sets the fault as it starts. */
function deps(setFault: () => Promise<void>): AwsDrillDeps {
  const real = awsDrillDeps({
    workspace: workspace(),
    expectedRto: () => [60, 120],
    tls: { port: 8883, rootCa: "CA", devicePolicy: "iot-dr-device" },
  });
  return {
    ...real,
    // Onboarding through C&C is proven in tests/drill/awsOnboard.test.ts; SSM is what this file breaks.
    onboard: async (names) => names.map((n) => ({ certificatePem: `CERT ${n}`, privateKeyPem: "KEY" })),
    decommission: async () => [],
    resolve: async () => [PRIMARY_IP],
    checkHealth: async () => true,
    fleet: ({ count }) => ({
      start: setFault,
      connectedByTarget: () => ({ [`${PRIMARY_IP}:8883`]: count }),
      stop: async () => ({ sent: 12, lost: 0 }),
    }),
    sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 20))),
  };
}

describe("drill --target aws against a half-dead SSM", () => {
  for (const fault of FAULTS) {
    it(`${fault}: ends with an error naming SSM PutParameter, the region and the endpoint, and keeps what it measured`, async () => {
      // Every attempt cut at 0.5 s (as --call-timeout 0.5); idle budget 5 s.
      startWatch({ idleMs: 5_000, callTimeoutMs: 500 });
      const lines: string[] = [];
      const started = Date.now();
      const failure = await runAwsDrill(
        deps(() => peer.set(fault, { slowMs: 1500, dripMs: 200 })),
        { devices: 3, stepTimeoutSeconds: 10, progress: (line) => lines.push(line) },
      ).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(failure).toBeInstanceOf(AwsDrillFailed);
      const partial = (failure as AwsDrillFailed).partial;
      expect(partial.error).toMatch(/SSM PutParameter/);
      expect(partial.error).toContain(PRIMARY);
      expect(partial.error).toContain(peer.endpoint);
      // Measured before the fault: the fleet on the primary; the fleet was stopped and counted.
      expect(partial.events.map((e) => e.label)).toContain(`3 devices connected to ${PRIMARY}`);
      expect(partial.measured).toEqual({ sentTelemetry: 12, lostTelemetry: 0 });
      // The restore met the same fault: the drill says so, and how to restore by hand.
      expect(partial.overrideRestored).toBeNull();
      expect(lines.join("\n")).toContain(`set ${PARAMETER} to automatic by hand`);
      // A refused port never reaches the peer: the socket error says so instead.
      if (fault === "refuse") expect(partial.error).toContain("ECONNREFUSED");
      else expect(peer.faulted).toBeGreaterThan(0);
    });
  }

  it("a failure whose message carries the health-check URL shows the secret path masked", async () => {
    const lines: string[] = [];
    const failing: AwsDrillDeps = {
      ...deps(async () => undefined),
      checkHealth: async (url) => {
        throw new Error(`GET ${url}: socket hang up`);
      },
    };
    const failure = (await runAwsDrill(failing, {
      devices: 1,
      stepTimeoutSeconds: 10,
      progress: (line) => lines.push(line),
    }).catch((err: unknown) => err)) as AwsDrillFailed;
    expect(failure).toBeInstanceOf(AwsDrillFailed);
    expect(failure.partial.error).toBe("GET https://hc-1.example[secret]: socket hang up");
    expect(JSON.stringify(failure.partial) + lines.join("\n")).not.toContain("s3cr3t-path");
    expect(failure.partial.overrideRestored).toBe("automatic");
  });

  it("the command prints the partial result as JSON and exits 1", async () => {
    startWatch({ idleMs: 5_000, callTimeoutMs: 500 });
    let stdout = "";
    let stderr = "";
    let code = 0;
    const program = new Command("iot-dr").exitOverride();
    makeDrillCommand(() => ({
      ...defaultDrillDeps(),
      awsDeps: () => deps(() => peer.set("blackhole")),
      stdout: (t) => (stdout += t),
      stderr: (t) => (stderr += t),
      onInterrupt: () => () => undefined,
    }))(program, (c) => (code = c));
    // The TLS material a run against AWS needs (refused without it: tests/drill/aws.test.ts).
    const rootCa = path.join(mkdtempSync(path.join(tmpdir(), "iot-dr-ca-")), "AmazonRootCA1.pem");
    writeFileSync(rootCa, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    await program.parseAsync(["drill", "--target", "aws", "--devices", "2", "--json", "--root-ca", rootCa], {
      from: "user",
    });
    expect(code).toBe(1);
    const partial = JSON.parse(stdout) as AwsDrillPartial;
    expect(partial).toMatchObject({ target: "aws", devices: 2, overrideRestored: null });
    expect(partial.events.length).toBeGreaterThan(1);
    expect(stderr).toContain("SSM PutParameter");
    // No secret of the stack outputs reaches any output.
    expect(stdout + stderr).not.toContain("s3cr3t-path");
  });
});
