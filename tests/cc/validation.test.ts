import * as crypto from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { handleCommand, MAX_BODY_BYTES, type HandlerDeps } from "../../functions/cc/handler.js";
import { createValidator, LIMITS } from "../../functions/cc/validation.js";
import { commandEvent, makeCertificates } from "./support.js";

let devicePem: string;
let caPem: string;
let privateKey: string;
beforeAll(() => {
  const out = makeCertificates(1);
  [devicePem, caPem, privateKey] = out as [string, string, string];
});

const validate = (now = Date.now()) =>
  createValidator(z, { allowedPolicies: ["iot-dr-device"], crypto, now: () => now });

const good = () => ({
  thingName: "sensor-1",
  attributes: { serial: "SN-1" },
  groups: ["plant-a"],
  certificatePem: devicePem,
  policyName: "iot-dr-device",
});

function fieldsOf(
  command: Parameters<ReturnType<typeof validate>>[0],
  body: unknown,
  key: string | null = "key-00000001",
) {
  const v = validate()(command, body, key ?? undefined);
  if (v.ok) throw new Error("expected the command to be refused");
  return v.errors;
}

describe("command validation", () => {
  it("accepts a well-formed onboarding and drops the body's idempotency key from the command", () => {
    const v = validate()("onboard", { ...good(), idempotencyKey: "key-00000001" }, undefined);
    expect(v).toMatchObject({
      ok: true,
      idempotencyKey: "key-00000001",
      command: { command: "onboard", thingName: "sensor-1" },
    });
    expect(v.ok && "idempotencyKey" in v.command).toBe(false);
  });

  it.each([
    ["a thing name with a space", { thingName: "sensor 1" }, "thingName"],
    ["a thing name longer than 128", { thingName: "x".repeat(129) }, "thingName"],
    ["a policy outside the allow-list", { policyName: "admin" }, "policyName"],
    ["an attribute value with a space", { attributes: { serial: "SN 1" } }, "attributes.serial"],
    ["an attribute value longer than 800", { attributes: { serial: "x".repeat(801) } }, "attributes.serial"],
    ["a non-string attribute value", { attributes: { serial: 5 } }, "attributes.serial"],
    ["four attributes on an untyped thing", { attributes: { a: "1", b: "2", c: "3", d: "4" } }, "attributes"],
    ["a repeated group", { groups: ["plant-a", "plant-a"] }, "groups"],
    ["eleven groups", { groups: Array.from({ length: 11 }, (_, i) => `g${i}`) }, "groups"],
    ["an unknown field", { owner: "me" }, ""],
    [
      "a PEM that is not a certificate",
      { certificatePem: "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----" },
      "certificatePem",
    ],
  ])("refuses %s and names the field", (_what, patch, field) => {
    const errors = fieldsOf("onboard", { ...good(), ...patch });
    expect(errors.map((e) => e.field)).toContain(field);
    expect(errors.every((e) => e.message.length > 10)).toBe(true);
  });

  it("allows up to 50 attributes once the thing has a type", () => {
    const attributes = Object.fromEntries(
      Array.from({ length: LIMITS.attributesTyped }, (_, i) => [`a${i}`, "v"]),
    );
    expect(validate()("onboard", { ...good(), thingTypeName: "sensor", attributes }, "key-00000001").ok).toBe(
      true,
    );
    const tooMany = { ...attributes, extra: "v" };
    expect(
      fieldsOf("onboard", { ...good(), thingTypeName: "sensor", attributes: tooMany }).map((e) => e.field),
    ).toEqual(["attributes"]);
  });

  it("refuses a private key, a CA certificate and an expired certificate", () => {
    expect(
      fieldsOf("onboard", { ...good(), certificatePem: `${devicePem}\n${privateKey}` })[0]!.message,
    ).toMatch(/private key/);
    expect(fieldsOf("onboard", { ...good(), certificatePem: caPem })[0]!.message).toMatch(/CA certificate/);
    const later = validate(Date.now() + 400 * 24 * 3600 * 1000)("onboard", good(), "key-00000001");
    expect(later.ok ? [] : later.errors[0]!.message).toMatch(/expired/);
    expect(
      fieldsOf("onboard", { ...good(), certificatePem: `${devicePem}${devicePem}` })[0]!.message,
    ).toMatch(/exactly one/);
  });

  it("needs exactly one of certificateId or thingName to suspend", () => {
    expect(fieldsOf("suspend", {})[0]!.message).toMatch(/exactly one/);
    expect(fieldsOf("suspend", { thingName: "a", certificateId: "a".repeat(64) })[0]!.message).toMatch(
      /exactly one/,
    );
    expect(fieldsOf("resume", { certificateId: "A".repeat(64) })[0]!.field).toBe("certificateId");
  });

  it("needs an idempotency key, well-formed, and one only", () => {
    expect(fieldsOf("decommission", { thingName: "a" }, null)[0]!.field).toBe("Idempotency-Key");
    expect(fieldsOf("decommission", { thingName: "a" }, "short")[0]!.field).toBe("Idempotency-Key");
    expect(
      fieldsOf("decommission", { thingName: "a", idempotencyKey: "key-00000002" }, "key-00000001")[0]!.field,
    ).toBe("idempotencyKey");
  });
});

/** Deps that fail the test if touched: requests refused at the door must not reach any of them. */
const untouchable = new Proxy({} as HandlerDeps, {
  get(_t, prop) {
    if (prop === "validate") return validate();
    if (prop === "logger") return { info() {}, warn() {}, error() {} };
    if (prop === "then") return undefined;
    throw new Error(`refused request reached deps.${String(prop)}`);
  },
});

describe("the HTTP door", () => {
  it.each([
    ["an unknown path", { ...commandEvent("onboard", {}), rawPath: "/admin" }, 404],
    ["an unknown command", commandEvent("reboot", {}), 404],
    ["a GET", { ...commandEvent("onboard", {}), requestContext: { http: { method: "GET" } } }, 405],
    [
      "a non-JSON content type",
      { ...commandEvent("onboard", {}), headers: { "content-type": "text/plain" } },
      415,
    ],
    ["malformed JSON", commandEvent("onboard", "{not json", "key-00000001", true), 400],
    ["a JSON array", commandEvent("onboard", [], "key-00000001"), 400],
    ["an oversized body", commandEvent("onboard", { pad: "x".repeat(MAX_BODY_BYTES) }, "key-00000001"), 413],
  ])("answers %s with a 4xx and touches nothing", async (_what, event, status) => {
    const r = await handleCommand(event, untouchable);
    expect(r.statusCode).toBe(status);
    expect(JSON.parse(r.body).error.message.length).toBeGreaterThan(5);
  });

  it("reads base64-encoded bodies", async () => {
    const raw = Buffer.from(JSON.stringify({ thingName: "bad name" })).toString("base64");
    const r = await handleCommand(
      { ...commandEvent("decommission", raw, "key-00000001", true), isBase64Encoded: true },
      untouchable,
    );
    expect(r.statusCode).toBe(400);
    expect(JSON.parse(r.body).error.fields[0].field).toBe("thingName");
  });

  it("turns an unexpected failure into a 500 that reveals no internals", async () => {
    const deps = {
      ...(untouchable as object),
      validate: validate(),
      logger: { info() {}, warn() {}, error() {} },
      crypto,
      clock: { now: Date.now, sleep: async () => {} },
      idempotency: {
        claim: async () => {
          throw new Error("secret internal detail");
        },
      },
    } as unknown as HandlerDeps;
    const r = await handleCommand(commandEvent("decommission", { thingName: "a" }, "key-00000001"), deps);
    expect(r.statusCode).toBe(500);
    expect(r.body).not.toContain("secret internal detail");
  });
});
