/**
 * The C&C function in a region whose AWS endpoints accept connections and never answer: every
 * client takes the `cc` deadlines of functions/deadlines.ts, so a command ends with a 5xx inside
 * the function's 25 s timeout (API Gateway waits 30 s) instead of being killed by Lambda with no
 * answer. The analytics forwarder's PutEvents deadlines fit its 30 s timeout likewise.
 */
import * as crypto from "node:crypto";
import * as iot from "@aws-sdk/client-iot";
import * as sts from "@aws-sdk/client-sts";
import * as dynamodb from "@aws-sdk/client-dynamodb";
import * as libDynamodb from "@aws-sdk/lib-dynamodb";
import { z } from "zod";
import { describe, expect, it } from "vitest";
import { useSilentRegion } from "../support/silentRegion.js";
import { ccHandlerFromEnv } from "../../functions/cc/runtime.js";
import { CALL_DEADLINES, worstCaseMs } from "../../functions/deadlines.js";
import { silentLogger } from "../../functions/shared/observability.js";
import { commandEvent, newKey, ROLE_ARN, EXTERNAL_ID, OPS_TABLE, IDEMPOTENCY_TABLE } from "./support.js";

const CC_TIMEOUT_MS = 25_000; // infra/commandControlApi.ts default timeoutSeconds
const FORWARDER_TIMEOUT_MS = 30_000; // infra/analytics.ts timeoutSeconds

// Nothing upstream: every request is blackholed before it could be forwarded.
const peer = useSilentRegion();

describe("functions in a silent region", () => {
  it("C&C answers 5xx within its deadline budget, well inside its Lambda timeout", async () => {
    const budget = worstCaseMs(CALL_DEADLINES.cc);
    expect(budget).toBeLessThan(CC_TIMEOUT_MS / 2);
    const handler = ccHandlerFromEnv(
      {
        AWS_REGION: "us-east-1",
        IOT_ROLE_ARN: ROLE_ARN,
        IOT_ROLE_EXTERNAL_ID: EXTERNAL_ID,
        OPS_TABLE,
        IDEMPOTENCY_TABLE,
        CC_ALLOWED_POLICIES: JSON.stringify(["iot-dr-device"]),
      },
      { crypto, zod: { z } as never, iot, sts, dynamodb, libDynamodb, logger: silentLogger },
    );
    const started = Date.now();
    const response = await handler(commandEvent("suspend", { thingName: "sensor-1" }, newKey()));
    const took = Date.now() - started;
    expect(response.statusCode).toBeGreaterThanOrEqual(500);
    expect(took).toBeLessThan(budget + 2_000);
    expect(peer.faulted).toBeGreaterThan(0);
  }, 30_000);

  it("the forwarder's PutEvents deadlines fit its timeout", () => {
    expect(worstCaseMs(CALL_DEADLINES.forwarder)).toBeLessThan(FORWARDER_TIMEOUT_MS);
  });
});
