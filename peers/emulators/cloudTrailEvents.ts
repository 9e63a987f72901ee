/**
 * Emulates what CloudTrail and EventBridge do for IoT's control-plane writes: every successful call
 * that the capture rule's pattern matches, sent through an observed IoTClient, yields the event the
 * default bus would deliver (`"detail-type": "AWS API Call via CloudTrail"`, `detail.requestParameters`
 * = the request members, `detail.responseElements` = the response members without the private
 * key, which CloudTrail never logs). moto has no CloudTrail; deployed code never uses this.
 *
 * Event times have CloudTrail's second precision; event ids are random UUID-like strings.
 */
import type { IoTClient } from "@aws-sdk/client-iot";
import {
  CAPTURED_IOT_CALLS,
  CLOUDTRAIL_DETAIL_TYPE,
  CLOUDTRAIL_EVENT_PATTERN,
  IOT_EVENT_SOURCE,
  type CloudTrailApiCallEvent,
} from "../../functions/replication/cloudTrail.js";
import { observed, type Observed } from "./observed.js";

export interface CloudTrailEmulator extends Observed<CloudTrailApiCallEvent> {
  readonly events: CloudTrailApiCallEvent[];
}

let seq = 0;

/** True when the event matches the deployed rule's pattern (source, detail-type, eventSource, eventName). */
export function matchesCapturePattern(e: CloudTrailApiCallEvent): boolean {
  return (
    CLOUDTRAIL_EVENT_PATTERN.source.includes(e.source) &&
    CLOUDTRAIL_EVENT_PATTERN["detail-type"].includes(e["detail-type"]) &&
    CLOUDTRAIL_EVENT_PATTERN.detail.eventSource.includes(e.detail.eventSource) &&
    (CLOUDTRAIL_EVENT_PATTERN.detail.eventName as readonly string[]).includes(e.detail.eventName)
  );
}

const uuid = () =>
  "xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx".replace(/x/g, () => Math.floor(Math.random() * 16).toString(16));

export function emitCloudTrailEvents(
  client: IoTClient,
  options: { region: string; accountId?: string; clock?: () => number },
): CloudTrailEmulator {
  const accountId = options.accountId ?? "123456789012";
  const clock = options.clock ?? Date.now;
  const events: CloudTrailApiCallEvent[] = [];
  const name = `cloudTrailEvents${++seq}`;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = ((context as { commandName?: string }).commandName ?? "").replace(/Command$/, "");
      const result = await next(args);
      if (!(CAPTURED_IOT_CALLS as readonly string[]).includes(command)) return result;
      const output = { ...((result.output ?? {}) as unknown as Record<string, unknown>) };
      delete output.$metadata;
      delete output.keyPair; // CloudTrail does not log private keys
      const time = new Date(Math.floor(clock() / 1000) * 1000).toISOString().replace(".000Z", "Z");
      const event: CloudTrailApiCallEvent = {
        version: "0",
        id: uuid(),
        "detail-type": CLOUDTRAIL_DETAIL_TYPE,
        source: "aws.iot",
        account: accountId,
        time,
        region: options.region,
        detail: {
          eventSource: IOT_EVENT_SOURCE,
          eventName: command,
          eventID: uuid(),
          eventTime: time,
          awsRegion: options.region,
          requestParameters: JSON.parse(JSON.stringify(args.input ?? {})) as Record<string, unknown>,
          responseElements: Object.keys(output).length > 0 ? output : null,
          userIdentity: { type: "AssumedRole", accountId },
        },
      };
      if (matchesCapturePattern(event)) events.push(event);
      return result;
    },
    { step: "initialize", name },
  );
  return { events, ...observed(client, name, events) };
}
