import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Command } from "commander";
import { afterAll, describe, expect, it } from "vitest";
import { makeRtoCommand } from "../../cli/commands/rto.js";
import { InputError, UsageError } from "../../cli/errors.js";
import { RTO_BOUNDS } from "../support/rto.js";
import { predictBurstClearSeconds } from "../../functions/replication/captureSizing.js";

const dir = mkdtempSync(path.join(tmpdir(), "iot-dr-rto-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BASE = {
  "iot-dr:role": "global",
  "iot-dr:primaryRegion": "us-east-1",
  "iot-dr:secondaryRegion": "us-west-2",
  "iot-dr:iotAccountId": "111111111111",
  "iot-dr:commandControlAccountId": "222222222222",
  "iot-dr:analyticsAccountId": "333333333333",
  "iot-dr:sharedServicesAccountId": "444444444444",
  "iot-dr:hostedZoneName": "iot.example.com",
};

function stackFile(name: string, extra: Record<string, unknown>): string {
  const file = path.join(dir, name);
  const lines = Object.entries({ ...BASE, ...extra }).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`);
  writeFileSync(file, `config:\n${lines.join("\n")}\n`);
  return file;
}

async function rto(args: string[]): Promise<string> {
  let out = "";
  const program = new Command("iot-dr").exitOverride();
  makeRtoCommand(() => ({ stdout: (t) => (out += t) }))(program, () => undefined);
  await program.parseAsync(["rto", ...args], { from: "user" });
  return out;
}

describe("iot-dr rto", () => {
  it("adds the time a provisioning burst takes to clear capture to the RPO of the event paths, at the config's iotApiRates", async () => {
    const file = stackFile("Pulumi.burst.yaml", {});
    const plain = JSON.parse(await rto(["--config", file, "--json"]));
    const burst = JSON.parse(await rto(["--config", file, "--burst", "5000", "--json"]));
    expect(plain.captureBurstClearSeconds).toBe(0);
    // ListThingPrincipals binds: 5,000 reads at 2 containers x 5 calls per 1,102 ms (the send
    // guard's window and a 100 ms read: 551 s), plus each batch's head, tail and poller time at
    // AWS_CAPTURE_LATENCIES (captureSizing's model, the one `iot-dr bench capture` measures against).
    expect(burst.captureBurstClearSeconds).toBe(predictBurstClearSeconds(5000, {}, { timeoutSeconds: 30 }));
    const reads = (5000 * 1.102) / 10;
    expect(burst.captureBurstClearSeconds).toBeGreaterThan(reads);
    expect(burst.captureBurstClearSeconds).toBeLessThan(reads * 1.05);
    expect(burst.rpoSeconds[1]).toBeCloseTo(plain.rpoSeconds[1] + burst.captureBurstClearSeconds, 3);
    const path = (doc: { rpoByPath: { path: string; seconds: number[] }[] }, p: string) =>
      doc.rpoByPath.find((x) => x.path === p)!.seconds[1];
    for (const p of ["registryEvent", "cloudTrail"])
      expect(path(burst, p)).toBeCloseTo(path(plain, p) + burst.captureBurstClearSeconds, 3);
    const raised = stackFile("Pulumi.raised.yaml", {
      "iot-dr:iotApiRates": ["ListThingPrincipals=20", "DescribeCertificate=20"],
    });
    const faster = JSON.parse(await rto(["--config", raised, "--burst", "5000", "--json"]));
    expect(faster.captureBurstClearSeconds).toBeLessThan(burst.captureBurstClearSeconds);
    expect(await rto(["--config", file, "--burst", "5000"])).toMatch(/capture burst clears in 569\.3 s/);
    await expect(rto(["--config", file, "--burst", "-3"])).rejects.toThrow(UsageError);
  });

  it("prints exactly one JSON document with every bound from the stack's config", async () => {
    const file = stackFile("Pulumi.fast.yaml", {
      "iot-dr:healthCheckIntervalSeconds": 10,
      "iot-dr:healthCheckFailureThreshold": 2,
      "iot-dr:failoverRecordTtlSeconds": 30,
      "iot-dr:deviceReresolveSeconds": 20,
    });
    const out = await rto(["--config", file, "--devices", "5000", "--json"]);
    expect(out.trim().split("\n")).toHaveLength(1);
    const doc = JSON.parse(out);
    expect(Object.keys(doc)).toEqual([...RTO_BOUNDS, "captureBurstClearSeconds", "rpo", "rpoByPath"]);
    expect(doc.rpoByPath.map((p: { path: string }) => p.path)).toEqual([
      "registryEvent",
      "cloudTrail",
      "ccJournal",
      "reconcilerOnly",
    ]);
    // Defaults: a 60-minute schedule, repair off: the reconciler-only path is not bounded.
    expect(doc.rpoByPath[1].seconds).toEqual([1, 301]);
    expect(doc.rpoByPath[3].seconds).toBeNull();
    expect(doc.dnsSeconds).toEqual([0, 30]);
    expect(doc.deviceSeconds).toEqual([0, 20]);
    expect(doc.reconnectSeconds[0]).toBe(10);
    expect(doc.rtoSeconds[0]).toBeLessThanOrEqual(doc.rtoSeconds[1]);
  });

  it("bounds the reconciler-only path by two schedules when the standby repairs, and prints every path", async () => {
    const file = stackFile("Pulumi.repair.yaml", {
      "iot-dr:reconcileRepair": true,
      "iot-dr:reconcileScheduleMinutes": 30,
    });
    const doc = JSON.parse(await rto(["--config", file, "--json"]));
    expect(doc.rpoByPath.find((p: { path: string }) => p.path === "reconcilerOnly").seconds).toEqual([
      0, 3600,
    ]);
    const text = await rto(["--config", file]);
    for (const path of ["registryEvent", "cloudTrail", "ccJournal", "reconcilerOnly"])
      expect(text).toContain(path);
    expect(text).toContain("device-side provisioning");
  });

  it("grows the bound when the TTL grows", async () => {
    const short = JSON.parse(
      await rto(["--config", stackFile("a.yaml", { "iot-dr:failoverRecordTtlSeconds": 10 }), "--json"]),
    );
    const long = JSON.parse(
      await rto(["--config", stackFile("b.yaml", { "iot-dr:failoverRecordTtlSeconds": 300 }), "--json"]),
    );
    expect(long.rtoSeconds[1] - short.rtoSeconds[1]).toBe(290);
  });

  it("prints a readable table without --json", async () => {
    const out = await rto(["--config", stackFile("c.yaml", {}), "--devices", "0"]);
    expect(out).toMatch(/detection .* s/);
    expect(out).toMatch(/RTO /);
  });

  it("rejects a device count that is not a whole number as a usage error", async () => {
    await expect(rto(["--config", stackFile("d.yaml", {}), "--devices", "many"])).rejects.toThrow(UsageError);
  });

  it("names the config key that is invalid", async () => {
    const file = stackFile("e.yaml", { "iot-dr:healthCheckIntervalSeconds": 15 });
    await expect(rto(["--config", file, "--json"])).rejects.toThrow(/healthCheckIntervalSeconds/);
    await expect(rto(["--config", file, "--json"])).rejects.toThrow(InputError);
  });

  it("says how to fix a missing config file", async () => {
    await expect(rto(["--config", path.join(dir, "missing.yaml")])).rejects.toThrow(
      /cannot read config file/,
    );
  });
});
