/**
 * The code Pulumi serializes for the secondary's capture, replay and launcher functions, planned
 * under mocks with one ops table and marker table, for tests that run it in a fresh Node process.
 */
import { RegistryCapture } from "../../../infra/capture.js";
import { ReplayPipeline } from "../../../infra/replayPipeline.js";
import { serializedCallback, type SerializedCallback } from "../../support/serialized.js";
import { SECONDARY } from "./fixtures.js";
import { ACCOUNT, one, provider, underMocks } from "./mocks.js";

export const TABLE = "ops-table";
export const TABLE_ARN = `arn:aws:dynamodb:${SECONDARY}:${ACCOUNT}:table/${TABLE}`;
export const MARKER_TABLE = "applied-markers";

export type ReplicationCallbacks = Record<"capture" | "replay" | "launcher", SerializedCallback>;
/** The plain-text environment variables each function is planned with (Outputs left out). */
export type PlannedEnvironments = Record<keyof ReplicationCallbacks, Record<string, string>>;

export async function replicationCallbacks(): Promise<ReplicationCallbacks> {
  return (await plannedReplication()).callbacks;
}

/** The callbacks and the environment variables they are deployed with. */
export async function plannedReplication(): Promise<{
  callbacks: ReplicationCallbacks;
  environments: PlannedEnvironments;
}> {
  const run = await underMocks(() => {
    const p = provider("iot-secondary", SECONDARY);
    const common = {
      region: SECONDARY,
      tableName: TABLE,
      tableArn: TABLE_ARN,
      tableKeyArn: "arn:aws:kms:k",
      markerTableName: MARKER_TABLE,
      markerTableArn: `arn:aws:dynamodb:${SECONDARY}:${ACCOUNT}:table/${MARKER_TABLE}`,
    };
    new RegistryCapture("capture", common, { provider: p });
    new ReplayPipeline("replay", { ...common, streamArn: `${TABLE_ARN}/stream/x` }, { provider: p });
  });
  const fn = (suffix: string) => one(run.resources, "aws:lambda/function:Function", suffix).inputs;
  const env = (suffix: string) =>
    Object.fromEntries(
      Object.entries(
        ((fn(suffix).environment as { variables?: Record<string, unknown> } | undefined)?.variables ??
          {}) as Record<string, unknown>,
      ).filter((e): e is [string, string] => typeof e[1] === "string"),
    );
  return {
    callbacks: {
      capture: await serializedCallback(fn("capture-capture-fn")),
      replay: await serializedCallback(fn("replay-replay-fn")),
      launcher: await serializedCallback(fn("replay-launcher-fn")),
    },
    environments: {
      capture: env("capture-capture-fn"),
      replay: env("replay-replay-fn"),
      launcher: env("replay-launcher-fn"),
    },
  };
}

/** What the capture rule's SQL hands capture for a created thing: the registry event plus its topic. */
export const thingCreated = (
  thingName: string,
  eventId: string,
  thingId: string,
  attributes: Record<string, string>,
) => ({
  eventType: "THING_EVENT",
  eventId,
  timestamp: Date.now(),
  operation: "CREATED",
  accountId: ACCOUNT,
  thingId,
  thingName,
  attributes,
  iotDrTopic: `$aws/events/thing/${thingName}/created`,
});
