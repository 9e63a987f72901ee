/**
 * Hostile direct invokes and a `__proto__` attribute get a clear 4xx and change nothing, through
 * the real handler, validator and idempotency store against moto.
 */
import { describe, expect, it } from "vitest";
import { handleCommand, type HttpEvent } from "../../functions/cc/handler.js";
import { commandEvent, newKey, registrySnapshot, useCcWorld } from "./support.js";

const cc = useCcWorld(1);

describe("C&C: hostile direct invokes", () => {
  it.each([
    ["null", null],
    ["a number", 42],
    ["a null rawPath", { rawPath: null, requestContext: { http: { method: "POST" } } }],
    ["a numeric rawPath", { rawPath: 7, requestContext: { http: { method: "POST" } } }],
    ["an object rawPath", { rawPath: { a: 1 }, requestContext: { http: { method: "POST" } } }],
  ])("%s answers 400 BadRequest and changes nothing", async (_what, event) => {
    const before = await registrySnapshot(cc.world.iotClient);
    const response = await handleCommand(event as unknown as HttpEvent, cc.world.deps());
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain("rawPath");
    expect(await registrySnapshot(cc.world.iotClient)).toEqual(before);
  });

  it("a non-string method is refused as a wrong method, not a 500", async () => {
    const event = commandEvent("onboard", {}) as unknown as { requestContext: { http: { method: unknown } } };
    event.requestContext.http.method = 5;
    const response = await handleCommand(event as unknown as HttpEvent, cc.world.deps());
    expect(response.statusCode).toBe(405);
  });

  it("an attribute named __proto__ is refused with 400 naming it, instead of vanishing", async () => {
    const before = await registrySnapshot(cc.world.iotClient);
    // JSON text as API Gateway delivers it: JSON.parse keeps "__proto__" as an own key.
    const body = `{"thingName":"proto-1","thingTypeName":"sensor","attributes":{"__proto__":"x","serial":"SN-1"},"certificatePem":${JSON.stringify(cc.pem)},"policyName":"iot-dr-device"}`;
    const response = await handleCommand(commandEvent("onboard", body, newKey(), true), cc.world.deps());
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain("__proto__");
    expect(await registrySnapshot(cc.world.iotClient)).toEqual(before);
  });
});
