/**
 * Engine events in the shape the Pulumi CLI writes to its event log and the Automation API hands
 * to `onEvent` (see EngineEvent in @pulumi/pulumi/automation/events.d.ts). Written from the engine's
 * event format, not captured from a live run: no Pulumi CLI is available here.
 *
 * A refresh preview reports each resource twice: a `resourcePreEvent` with op `refresh`, then a
 * `resOutputsEvent` (planning) whose op is the refresh's result: `same`, `update` (the cloud
 * changed) or `delete` (the resource is gone).
 */
import { DiffKind, type EngineEvent, type StepEventMetadata } from "@pulumi/pulumi/automation";

const STACK_URN = "urn:pulumi:primary::iot-dr::pulumi:pulumi:Stack::iot-dr-primary";
export const THING_URN = "urn:pulumi:primary::iot-dr::iot-dr:ops:OpsTable$aws:iot/thing:Thing::canary";
export const QUEUE_URN = "urn:pulumi:primary::iot-dr::aws:sqs/queue:Queue::replay-dlq";
export const TABLE_URN = "urn:pulumi:primary::iot-dr::aws:dynamodb/table:Table::ops";
const PROVIDER = "urn:pulumi:primary::iot-dr::pulumi:providers:aws::iot::0b0c";

function state(urn: string, type: string, outputs: Record<string, unknown>) {
  return {
    type,
    urn,
    id: urn.split("::").pop() ?? "",
    parent: STACK_URN,
    inputs: {},
    outputs,
    provider: PROVIDER,
  };
}

function metadata(
  op: StepEventMetadata["op"],
  urn: string,
  type: string,
  extra: Partial<StepEventMetadata> = {},
) {
  return { op, urn, type, provider: PROVIDER, ...extra } as StepEventMetadata;
}

let sequence = 0;
function event(fields: Partial<EngineEvent>): EngineEvent {
  sequence += 1;
  return { sequence, timestamp: 1_795_000_000 + sequence, ...fields };
}

/** A resource's refresh in a preview: its pre-event, then its outputs with the operation found. */
const refreshed = (
  urn: string,
  type: string,
  op: Parameters<typeof metadata>[0],
  extra?: Parameters<typeof metadata>[3],
): EngineEvent[] => [
  event({ resourcePreEvent: { metadata: metadata("refresh", urn, type), planning: true } }),
  event({ resOutputsEvent: { metadata: metadata(op, urn, type, extra), planning: true } }),
];

/** The ops table refreshed and found as it was. */
const tableRefreshedUnchanged = (): EngineEvent[] => refreshed(TABLE_URN, "aws:dynamodb/table:Table", "same");

/** A refresh preview of `primary`: the thing's attributes drifted, the queue was deleted, the table is unchanged. */
export const refreshPreviewWithDrift: EngineEvent[] = [
  event({ preludeEvent: { config: { "aws:region": "eu-west-1" } } }),
  ...refreshed(STACK_URN, "pulumi:pulumi:Stack", "same"),
  ...refreshed(THING_URN, "aws:iot/thing:Thing", "update", {
    diffs: ["attributes"],
    detailedDiff: {
      "attributes.firmware": { diffKind: DiffKind.update, inputDiff: false },
      "attributes.site": { diffKind: DiffKind.delete, inputDiff: false },
    },
    old: state(THING_URN, "aws:iot/thing:Thing", { attributes: { firmware: "1.2", site: "a" } }),
    new: state(THING_URN, "aws:iot/thing:Thing", { attributes: { firmware: "1.3" } }),
  }),
  ...refreshed(QUEUE_URN, "aws:sqs/queue:Queue", "delete", {
    old: state(QUEUE_URN, "aws:sqs/queue:Queue", { name: "replay-dlq" }),
  }),
  ...tableRefreshedUnchanged(),
  event({
    summaryEvent: {
      maybeCorrupt: false,
      durationSeconds: 4,
      resourceChanges: { same: 2, update: 1, delete: 1 },
      policyPacks: {},
    },
  }),
];

/** A refresh preview that finds nothing changed. */
export const refreshPreviewClean: EngineEvent[] = [
  ...tableRefreshedUnchanged(),
  event({
    summaryEvent: { maybeCorrupt: false, durationSeconds: 2, resourceChanges: { same: 1 }, policyPacks: {} },
  }),
];

/** An older CLI's refresh preview: the update carries no diffs, only old and new outputs. */
export const refreshUpdateWithoutDiffs: EngineEvent = event({
  resOutputsEvent: {
    planning: true,
    metadata: metadata("update", TABLE_URN, "aws:dynamodb/table:Table", {
      old: state(TABLE_URN, "aws:dynamodb/table:Table", { billingMode: "PAY_PER_REQUEST", tags: { a: "1" } }),
      new: state(TABLE_URN, "aws:dynamodb/table:Table", { billingMode: "PROVISIONED", tags: { a: "1" } }),
    }),
  },
});

/** An `up` whose table update fails in the provider. */
export const upWithFailure: EngineEvent[] = [
  event({ resourcePreEvent: { metadata: metadata("update", TABLE_URN, "aws:dynamodb/table:Table") } }),
  event({
    diagnosticEvent: {
      urn: TABLE_URN,
      message: "error: updating DynamoDB Table (ops): AccessDeniedException: not authorized\n",
      color: "never",
      severity: "error",
    },
  }),
  event({
    resOpFailedEvent: {
      metadata: metadata("update", TABLE_URN, "aws:dynamodb/table:Table"),
      status: 1,
      steps: 0,
    },
  }),
];
