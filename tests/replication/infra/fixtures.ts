/** Records and stream records for the replication infrastructure tests. */
import type { AttributeValue, DynamoDBRecord } from "aws-lambda";
import {
  toItem,
  type RegistryRecord,
  type ResourceKind,
  type StateByKind,
} from "../../../functions/registry/records.js";

export const PRIMARY = "us-east-1";
export const SECONDARY = "us-west-2";

let counter = 0;

/** A record captured in `origin` (default the primary region). */
export function record<K extends ResourceKind>(
  kind: K,
  key: string,
  state: StateByKind[K] | null,
  options: { origin?: string; timestamp?: number } = {},
): RegistryRecord<K> {
  const origin = options.origin ?? PRIMARY;
  const timestamp = options.timestamp ?? 1_700_000_000_000 + ++counter;
  return {
    key,
    kind,
    state,
    version: { timestamp, eventId: `evt-${counter}`, region: origin },
    origin,
    capturedAt: timestamp,
  };
}

/** A plain value as a DynamoDB attribute value (the stream's wire format). */
export function attr(value: unknown): AttributeValue {
  if (value === null || value === undefined) return { NULL: true };
  if (typeof value === "string") return { S: value };
  if (typeof value === "number") return { N: String(value) };
  if (typeof value === "boolean") return { BOOL: value };
  if (Array.isArray(value)) return { L: value.map(attr) };
  return {
    M: Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, attr(v)])),
  };
}

export function image(item: Record<string, unknown>): Record<string, AttributeValue> {
  return Object.fromEntries(Object.entries(item).map(([k, v]) => [k, attr(v)]));
}

let sequence = 1000;

/** The stream record of writing `item` (an ops-table item) to the table. */
export function streamRecordOfItem(
  item: Record<string, unknown>,
  eventName: "INSERT" | "MODIFY" | "REMOVE" = "INSERT",
): DynamoDBRecord {
  const seq = String(++sequence).padStart(21, "0");
  return {
    eventID: `event-${seq}`,
    eventName,
    eventSource: "aws:dynamodb",
    awsRegion: SECONDARY,
    dynamodb: {
      Keys: { pk: { S: String(item.pk) } },
      ...(eventName === "REMOVE" ? { OldImage: image(item) } : { NewImage: image(item) }),
      SequenceNumber: seq,
      StreamViewType: "NEW_AND_OLD_IMAGES",
    },
  };
}

export function streamRecord(r: RegistryRecord, eventName: "INSERT" | "MODIFY" = "INSERT"): DynamoDBRecord {
  return streamRecordOfItem(toItem(r) as unknown as Record<string, unknown>, eventName);
}

export const seqOf = (r: DynamoDBRecord) => r.dynamodb!.SequenceNumber!;

/** A small registry: a type, a group with a child group, a thing of that type in the child group. */
export function registryBatch(origin = PRIMARY) {
  return {
    type: record(
      "thingType",
      "thingType#sensor",
      { name: "sensor", searchableAttributes: [], deprecated: false },
      { origin },
    ),
    group: record("thingGroup", "thingGroup#plant", { name: "plant", attributes: { site: "a" } }, { origin }),
    child: record(
      "thingGroup",
      "thingGroup#line-1",
      { name: "line-1", parentGroupName: "plant", attributes: {} },
      { origin },
    ),
    thing: record(
      "thing",
      "thing#sensor-1",
      { name: "sensor-1", thingTypeName: "sensor", attributes: { fw: "1.0" } },
      { origin },
    ),
    membership: record(
      "membership",
      "membership#line-1#sensor-1",
      { groupName: "line-1", thingName: "sensor-1" },
      { origin },
    ),
  };
}
