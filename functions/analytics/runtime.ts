/**
 * The deployed forwarder, built once per container from environment variables and modules the
 * callback adapter `require()`s inside its body.
 */
import type * as EventBridgeSdk from "@aws-sdk/client-eventbridge";
import { forwardDeviceData, putEventsFromSdk, type ForwarderLogger } from "./forwarder.js";
import { sdkClientOptions } from "../deadlines.js";

type Env = Record<string, string | undefined>;

export interface ForwarderModules {
  eventbridge: typeof EventBridgeSdk;
  /** Loads the SigV4a signer global endpoints need (`require("@aws-sdk/signature-v4a")`); throws when it is not packaged. */
  loadSigV4a: () => void;
  logger: ForwarderLogger;
}

export function forwarderFromEnv(
  env: Env,
  m: ForwarderModules,
): (event: unknown) => Promise<{ forwarded: number }> {
  const region = env.AWS_REGION;
  if (!region) throw new Error("environment variable AWS_REGION is not set (Lambda sets it)");
  const eventBusName = env.EVENT_BUS_NAME;
  if (!eventBusName)
    throw new Error("environment variable EVENT_BUS_NAME is not set: the analytics bus name");
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
  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
  return (event) => forwardDeviceData(event, { putEvents, eventBusName, sleep, logger: m.logger });
}
