/**
 * The drill's own parts, without peers: the Route 53 emulator's verdicts, the measurement helpers,
 * the in-process certificate issuer and the drill's input checks.
 */
import * as crypto from "node:crypto";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { createIssuer } from "../../drill/certificates.js";
import { checkDrillOptions, DrillAborted, expectedRto, runLocalDrill } from "../../drill/local.js";
import { TelemetryLedger, percentile, quorum } from "../../drill/metrics.js";
import { Route53Emulator } from "../../drill/route53.js";
import { createValidator, pemProblem } from "../../functions/cc/validation.js";

function route53(answers: Record<string, boolean | "error">) {
  const changes: Array<[string, string]> = [];
  const r53 = new Route53Emulator({
    regions: ["a", "b"],
    intervalMs: 1000,
    failureThreshold: 2,
    check: async (region) => {
      if (answers[region] === "error") throw new Error("connect ECONNREFUSED");
      return answers[region] === true;
    },
    onAnswerChange: (active, previous) => changes.push([previous, active]),
  });
  return { r53, changes };
}

describe("Route 53 emulator", () => {
  it("fails over only after the failure threshold of consecutive failed checks", async () => {
    const answers: Record<string, boolean | "error"> = { a: true, b: true };
    const { r53, changes } = route53(answers);
    answers.a = false;
    await r53.round();
    expect(r53.active).toBe("a");
    answers.a = true; // one good answer resets the count
    await r53.round();
    answers.a = false;
    await r53.round();
    expect(r53.active).toBe("a");
    await r53.round();
    expect(r53.active).toBe("b");
    expect(changes).toEqual([["a", "b"]]);
  });

  it("counts an unreachable health check as a failure and fails back after as many good answers", async () => {
    const answers: Record<string, boolean | "error"> = { a: "error", b: true };
    const { r53, changes } = route53(answers);
    await r53.round();
    await r53.round();
    expect(r53.active).toBe("b");
    answers.a = true;
    await r53.round();
    expect(r53.active).toBe("b");
    await r53.round();
    expect(r53.active).toBe("a");
    expect(changes).toEqual([
      ["a", "b"],
      ["b", "a"],
    ]);
  });

  it("fails open to the primary when both checks are unhealthy", async () => {
    const { r53 } = route53({ a: false, b: false });
    await r53.round();
    await r53.round();
    expect([r53.healthy("a"), r53.healthy("b")]).toEqual([false, false]);
    expect(r53.active).toBe("a");
  });

  it("refuses a threshold Route 53 would not accept", () => {
    expect(
      () =>
        new Route53Emulator({
          regions: ["a", "b"],
          intervalMs: 1000,
          failureThreshold: 11,
          check: async () => true,
          onAnswerChange: () => undefined,
        }),
    ).toThrow(/failureThreshold must be an integer 1-10/);
  });
});

describe("drill measurements", () => {
  it("takes nearest-rank percentiles and refuses a percentile outside 0-100", () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile([], 99)).toBe(0);
    expect(() => percentile(values, 101)).toThrow(/percentile must be 0-100/);
  });

  it("needs every device of a small fleet for 99 %, and 990 of 1000", () => {
    expect(quorum(12)).toBe(12);
    expect(quorum(1000)).toBe(990);
  });

  it("counts a message once whichever broker got it, and who published where since the mark", () => {
    const ledger = new TelemetryLedger("dt/t", 0);
    ledger.record("a", "d1", 0, 100);
    ledger.record("b", "d1", 0, 200); // the same message redelivered after a move
    ledger.record("a", "d2", 0, 150);
    expect(ledger.receivedCount()).toBe(2);
    ledger.mark(1_000);
    ledger.record("b", "d1", 1, 1_500);
    ledger.record("b", "d2", 1, 2_500);
    ledger.record("b", "d2", 2, 3_500);
    expect(ledger.publishingIn("b")).toBe(2);
    expect(ledger.publishingIn("a")).toBe(0);
    expect(ledger.timeToCount("b", 2)).toBe(2_500);
    expect(ledger.timeToCount("b", 3)).toBeUndefined();
    expect(ledger.receivedCount()).toBe(5);
  });

  it("counts the health function's rounds only while they are on the clock, from the same calculator", () => {
    const factorDown = expectedRto(1000, "failover", undefined, "broker-down");
    const regionDown = expectedRto(1000, "failover", undefined, "region-down");
    const back = expectedRto(1000, "failback");
    expect(factorDown.rtoSeconds[0]).toBeLessThan(factorDown.rtoSeconds[1]);
    expect(factorDown.reconnectSeconds[0]).toBe(2); // 1000 devices at 500 connects per second
    // A dead region's function fails Route 53's checks at once; a fail-back is counted from the
    // gate's opening, its probes passing meanwhile: both without the rounds (1 to 2 s here).
    expect(factorDown.detectionSeconds).toEqual([2, 5.8]);
    expect(regionDown.detectionSeconds).toEqual([1, 3.8]);
    expect(back.rtoSeconds).toEqual(regionDown.rtoSeconds);
  });
});

describe("device certificates for onboarding", () => {
  it("issues distinct certificates that C&C validation accepts as device certificates", () => {
    const issuer = createIssuer();
    const pems = [issuer.issue("dev-1", 1), issuer.issue("dev-2", 2)];
    for (const pem of pems) expect(pemProblem(pem, crypto, Date.now())).toBeUndefined();
    const validate = createValidator(z, { allowedPolicies: ["p"], crypto, now: Date.now });
    const result = validate(
      "onboard",
      { thingName: "dev-1", attributes: {}, groups: [], certificatePem: pems[0], policyName: "p" },
      "key-12345678",
    );
    expect(result.ok).toBe(true);
    const fingerprints = pems.map((p) => new crypto.X509Certificate(p).fingerprint256);
    expect(new Set(fingerprints).size).toBe(2);
    expect(new crypto.X509Certificate(pems[1]!).subject).toBe("CN=dev-2");
  });

  it("refuses a serial that is not a positive integer", () => {
    expect(() => createIssuer().issue("dev", 0)).toThrow(/serial must be a positive integer/);
  });
});

describe("drill inputs", () => {
  it.each([
    [{ scenario: "meteor", devices: 10 }, /scenario must be one of broker-down/],
    [{ scenario: "region-down", devices: 0 }, /devices must be a whole number from 1 to 50000/],
    [
      { scenario: "region-down", devices: 5, registryDevices: 6 },
      /registry devices must be a whole number from 2 to the fleet size \(5\)/,
    ],
  ])("refuses %j naming the field", (options, message) => {
    expect(() => checkDrillOptions(options as never)).toThrow(message);
  });

  it("defaults the registry workload to ten devices", () => {
    expect(checkDrillOptions({ scenario: "region-down", devices: 1000 })).toEqual({ registryDevices: 10 });
    expect(checkDrillOptions({ scenario: "region-down", devices: 4 })).toEqual({ registryDevices: 4 });
  });

  it("starts nothing when the signal has already fired", async () => {
    const controller = new AbortController();
    controller.abort();
    const lines: string[] = [];
    await expect(
      runLocalDrill({
        scenario: "region-down",
        devices: 3,
        signal: controller.signal,
        progress: (l) => lines.push(l),
      }),
    ).rejects.toBeInstanceOf(DrillAborted);
    expect(lines.some((l) => l.includes("starting peers"))).toBe(false);
  });
});
