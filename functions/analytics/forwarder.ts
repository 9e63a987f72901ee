/**
 * Device data from an IoT rule to the analytics event bus through the EventBridge global endpoint.
 * IoT rule actions cannot target EventBridge at all (no such action type), let alone a global
 * endpoint, so the rule invokes this function, which calls PutEvents with the endpoint id: the
 * endpoint routes to the healthy region and replicates to the other one.
 */
import type * as EventBridgeSdk from "@aws-sdk/client-eventbridge";
import type { Clock } from "../shared/clock.js";
import type { Logger } from "../shared/observability.js";

/** What the topic rule's SQL hands over (see `deviceDataRuleSql`). */
export interface DeviceDataMessage {
  /** Unique per message (`newuuid()` in the rule): consumers drop duplicates by it. */
  messageId: string;
  topic: string;
  /** MQTT client id of the publishing device. */
  clientId?: string;
  /** Milliseconds since the epoch when IoT received the message (`timestamp()`). */
  receivedAt: number;
  payload: unknown;
}

export interface BusEntry {
  Source: string;
  DetailType: string;
  Detail: string;
  EventBusName: string;
  Time: Date;
}

/** PutEvents, answering for each entry (same order) either success or an error code. */
export type PutEvents = (
  entries: BusEntry[],
) => Promise<({ ok: true } | { ok: false; code: string; message?: string })[]>;

export interface ForwarderDeps {
  putEvents: PutEvents;
  /** Name of the bus (identical in both regions, as global endpoints require). */
  eventBusName: string;
  sleep: Clock["sleep"];
  logger: Logger;
  /** PutEvents attempts for entries that fail; default 4. */
  maxAttempts?: number;
}

export const DEVICE_DATA_SOURCE = "iot-dr.device-data";
export const DEVICE_DATA_DETAIL_TYPE = "DeviceTelemetry";

/** The topic rule SQL that produces a DeviceDataMessage for every message on `topicFilter`. */
export function deviceDataRuleSql(topicFilter: string): string {
  if (!/^[^'#]*(#)?$/.test(topicFilter) || topicFilter.includes("'")) {
    throw new Error(
      `'${topicFilter}' is not a usable MQTT topic filter for a rule (no quotes; '#' only at the end)`,
    );
  }
  return `SELECT newuuid() AS messageId, topic() AS topic, clientid() AS clientId, timestamp() AS receivedAt, * AS payload FROM '${topicFilter}'`;
}

// Errors are named plain Errors, not subclasses: Pulumi's closure serializer drops class field
// initializers and Error's constructor state.
const named = (name: string, message: string): Error => Object.assign(new Error(message), { name });

/** For input that no retry can fix; the function's failure destination keeps it. */
export const invalidDeviceData = (message: string) => named("InvalidDeviceData", message);

/** When entries still fail after every attempt; Lambda retries, then dead-letters. */
export const forwardFailed = (message: string) => named("ForwardFailed", message);

function parseMessage(event: unknown): DeviceDataMessage {
  const e = event as Partial<DeviceDataMessage> | null;
  if (typeof e !== "object" || e === null || Array.isArray(e)) {
    throw invalidDeviceData("the rule event must be a JSON object (check the rule SQL)");
  }
  if (typeof e.messageId !== "string" || e.messageId === "")
    throw invalidDeviceData("the rule event has no messageId (newuuid())");
  if (typeof e.topic !== "string" || e.topic === "")
    throw invalidDeviceData("the rule event has no topic (topic())");
  if (typeof e.receivedAt !== "number" || !Number.isFinite(e.receivedAt)) {
    throw invalidDeviceData("the rule event has no numeric receivedAt (timestamp())");
  }
  return e as DeviceDataMessage;
}

/** The device id of a `dt/<deviceId>/...` topic, else the client id. */
export function deviceIdOf(message: DeviceDataMessage): string {
  const segments = message.topic.split("/");
  return (segments[0] === "dt" && segments[1]) || message.clientId || "unknown";
}

/**
 * Forwards one rule event (or a batch of them) to the bus. Entries that EventBridge refuses are
 * retried with backoff; only those, so that an accepted event is never sent twice by us.
 */
export async function forwardDeviceData(event: unknown, deps: ForwarderDeps): Promise<{ forwarded: number }> {
  const messages = (Array.isArray(event) ? event : [event]).map(parseMessage);
  let pending: BusEntry[] = messages.map((m) => ({
    Source: DEVICE_DATA_SOURCE,
    DetailType: DEVICE_DATA_DETAIL_TYPE,
    EventBusName: deps.eventBusName,
    Time: new Date(m.receivedAt),
    Detail: JSON.stringify({
      messageId: m.messageId,
      deviceId: deviceIdOf(m),
      topic: m.topic,
      receivedAt: m.receivedAt,
      payload: m.payload,
    }),
  }));
  const maxAttempts = deps.maxAttempts ?? 4;
  let lastErrors: string[] = [];
  for (let attempt = 1; pending.length > 0; attempt++) {
    // PutEvents takes at most 10 entries per call.
    const next: BusEntry[] = [];
    lastErrors = [];
    for (let i = 0; i < pending.length; i += 10) {
      const chunk = pending.slice(i, i + 10);
      const results = await deps.putEvents(chunk);
      results.forEach((r, j) => {
        if (!r.ok) {
          next.push(chunk[j]!);
          lastErrors.push(r.code);
        }
      });
    }
    pending = next;
    if (pending.length === 0) break;
    if (attempt >= maxAttempts) {
      deps.logger.error("entries refused by EventBridge", { count: pending.length, codes: lastErrors });
      throw forwardFailed(
        `${pending.length} event(s) refused after ${maxAttempts} attempts: ${[...new Set(lastErrors)].join(", ")}`,
      );
    }
    deps.logger.warn("retrying refused entries", { count: pending.length, attempt, codes: lastErrors });
    await deps.sleep(Math.min(2000, 100 * 2 ** attempt) * (0.5 + Math.random() / 2));
  }
  deps.logger.info("device data forwarded", { count: messages.length });
  return { forwarded: messages.length };
}

/**
 * PutEvents over an SDK v3 EventBridge client (module passed in). With `endpointId` the call goes
 * to the global endpoint (signed with SigV4a: the package `@aws-sdk/signature-v4a` must be loaded).
 */
export function putEventsFromSdk(
  sdk: Pick<typeof EventBridgeSdk, "PutEventsCommand">,
  client: { send(command: unknown): Promise<unknown> },
  endpointId?: string,
): PutEvents {
  return async (entries) => {
    const out = (await client.send(
      new sdk.PutEventsCommand({ Entries: entries, ...(endpointId ? { EndpointId: endpointId } : {}) }),
    )) as EventBridgeSdk.PutEventsCommandOutput;
    const results = out.Entries ?? [];
    return entries.map((_, i) => {
      const r = results[i];
      return r?.EventId
        ? { ok: true as const }
        : { ok: false as const, code: r?.ErrorCode ?? "Unknown", message: r?.ErrorMessage };
    });
  };
}
