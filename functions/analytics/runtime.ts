/**
 * The deployed forwarder, built once per container from environment variables and modules the
 * callback adapter `require()`s inside its body.
 */
import type * as EventBridgeSdk from "@aws-sdk/client-eventbridge";
import { required, type Env } from "../shared/env.js";
import { forwardDeviceData, putEventsFromSdk } from "./forwarder.js";
import { systemClock } from "../shared/clock.js";
import type { Logger } from "../shared/observability.js";
import { sdkClientOptions } from "../deadlines.js";

/** The forwarder's Powertools service name (its log lines carry it). */
export const FORWARDER_SERVICE = "iot-dr-analytics-forwarder";

export interface ForwarderModules {
  eventbridge: typeof EventBridgeSdk;
  /** Loads the SigV4a signer global endpoints need (`require("@aws-sdk/signature-v4a")`); throws when it is not packaged. */
  loadSigV4a: () => void;
  logger: Logger;
}

export function forwarderFromEnv(
  env: Env,
  m: ForwarderModules,
): (event: unknown) => Promise<{ forwarded: number }> {
  const region = required(env, "AWS_REGION", "set by Lambda");
  const eventBusName = required(env, "EVENT_BUS_NAME", "the analytics bus name");
  const endpointId = env.GLOBAL_ENDPOINT_ID || undefined;
  if (endpointId) {
    try {
      m.loadSigV4a();
    } catch {
      throw new Error(
        "GLOBAL_ENDPOINT_ID is set but @aws-sdk/signature-v4a cannot be loaded: global endpoints need SigV4a; add the package to dependencies",
      );
    }
  }
  // PutEvents with the forwarder's deadlines (functions/deadlines.ts), inside its 30 s timeout.
  const client = new m.eventbridge.EventBridgeClient({ region, ...sdkClientOptions("forwarder") });
  const putEvents = putEventsFromSdk(m.eventbridge, client, endpointId);
  const sleep = systemClock.sleep;
  return (event) => forwardDeviceData(event, { putEvents, eventBusName, sleep, logger: m.logger });
}
