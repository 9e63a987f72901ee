/**
 * The health functions' SDK calls in a region whose endpoints accept connections and never answer:
 * even without the round's abort signal, each call ends by the `healthProbe` deadlines of
 * functions/deadlines.ts (one attempt, 1.5 s per request), inside Route 53's 2 s answer budget.
 */
import * as lambda from "@aws-sdk/client-lambda";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { describe, expect, it } from "vitest";
import { useSilentRegion } from "../support/silentRegion.js";
import { sdkAwsPorts } from "../../functions/health/plugins.js";
import { CALL_DEADLINES, worstCaseMs } from "../../functions/deadlines.js";

const peer = useSilentRegion();

describe("health probes in a silent region", () => {
  it("a probe's SDK call that never gets an answer fails within the healthProbe deadline (before: the SDK only warned and kept waiting)", async () => {
    expect(CALL_DEADLINES.healthProbe.requestTimeoutMs).toBeLessThan(2_000);
    const ports = sdkAwsPorts(
      { AWS_REGION: "us-east-1", AWS_ENDPOINT_URL: peer.endpoint },
      { lambda, NodeHttpHandler },
    );
    const started = Date.now();
    // A signal that never fires: only the deadlines can end the call.
    const error = await ports.functionState("iot-dr-app", new AbortController().signal).then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    const took = Date.now() - started;
    expect(error?.name).toBe("TimeoutError");
    expect(error?.message).toContain(`${CALL_DEADLINES.healthProbe.requestTimeoutMs} ms requestTimeout`);
    expect(took).toBeLessThan(worstCaseMs(CALL_DEADLINES.healthProbe) + 500);
    expect(peer.faulted).toBe(1);
  });
});
