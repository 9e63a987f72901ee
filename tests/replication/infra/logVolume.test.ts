/**
 * What the deployed replication functions write to CloudWatch Logs per replicated operation, from
 * the archives Pulumi would upload, run against moto: the cost model's `appLogBytesPerOp` must not
 * be below it (CloudWatch Logs bills every ingested byte).
 */
import { executionOutput } from "../../support/replayOutput.js";
import { REPLAY_GROUP_SIZE, type ReplayGroupResult } from "../../../functions/replication/stateMachine.js";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CreateThingCommand, IoTClient } from "@aws-sdk/client-iot";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DEPLOYED_DEFAULTS } from "../../../functions/replication/costModel.js";
import { REPLICATION_LAG_METRIC } from "../../../functions/replication/observability.js";
import { useMoto } from "../../support/useMoto.js";
import { ACCOUNT } from "./mocks.js";
import {
  MARKER_TABLE,
  TABLE,
  plannedReplication,
  thingCreated,
  type PlannedEnvironments,
} from "./replicationCallbacks.js";
import { invokeSerialized, type SerializedCallback } from "../../support/serialized.js";
import { createPkTable } from "../../support/tables.js";
import { PRIMARY, SECONDARY, record, registryBatch, streamRecord } from "./fixtures.js";
import * as dynamodb from "@aws-sdk/client-dynamodb";
import * as libDynamodb from "@aws-sdk/lib-dynamodb";
import { launcherFromEnv } from "../../../functions/replication/launcherRuntime.js";
import { jsonLogger } from "../../../functions/shared/observability.js";

/**
 * The launcher's `record replayed` line per record (launcher.ts), as its Powertools logger writes it
 * with a trace id: 327 bytes (written once with the same logger; the launcher archive needs Step
 * Functions to get that far, so its lines are counted from launcherFromEnv with a Step Functions
 * stand-in, each billed at this size).
 */
const LAUNCHER_LINE_BYTES = 327;

const bytes = (lines: string[]) => lines.reduce((a, l) => a + Buffer.byteLength(l, "utf8") + 1, 0);

describe("log volume of the replication functions", () => {
  const code: Record<"capture" | "replay", SerializedCallback> = {} as never;
  const planned: PlannedEnvironments = {} as never;
  const moto = useMoto();

  beforeAll(async () => {
    const { callbacks, environments } = await plannedReplication();
    Object.assign(code, callbacks);
    Object.assign(planned, environments);
  });
  beforeEach(async () => {
    const ddb = new DynamoDBClient(moto.clientConfig(SECONDARY));
    for (const TableName of [TABLE, MARKER_TABLE]) await createPkTable(ddb, TableName);
  });

  // Each function with the log level it is deployed with (config replicationLogLevel's default).
  const env = (fn: "capture" | "replay") => ({
    ...moto.env(SECONDARY),
    REPLICATION_LOG_LEVEL: planned[fn].REPLICATION_LOG_LEVEL,
    OPS_TABLE: TABLE,
    MARKER_TABLE,
    IOT_API_RATES: "{}",
    // Lambda sets it on every invocation, and Powertools adds it to each line as xray_trace_id.
    _X_AMZN_TRACE_ID:
      "Root=1-6750a1b2-3c4d5e6f7a8b9c0d1e2f3a4b;Parent=1a2b3c4d5e6f7a8b;Sampled=0;Lineage=1:abcd1234:0",
  });

  it("writes no more log bytes per operation (capture, replay, echo capture) than the cost model bills", async () => {
    // The source region's capture of a new thing.
    await new IoTClient(moto.clientConfig(SECONDARY)).send(
      new CreateThingCommand({
        thingName: "logged-source",
        attributePayload: { attributes: { site: "lab-4" } },
      }),
    );
    const source = await invokeSerialized(
      code.capture,
      thingCreated("logged-source", "evt-source-1", "id-source", { site: "lab-4" }),
      env("capture"),
    );
    expect(source.error).toBeUndefined();
    // Replay of things from the other region as deployed, a group per invocation, and the echo of
    // one captured here.
    const group = Array.from({ length: REPLAY_GROUP_SIZE }, (_, i) => ({
      sequenceNumber: String(i + 1),
      record: record("thing", i === 0 ? "thing#logged" : `thing#logged-${i}`, {
        name: i === 0 ? "logged" : `logged-${i}`,
        attributes: { site: "lab-4" },
      }),
    }));
    const replay = await invokeSerialized(code.replay, { entries: group }, env("replay"));
    const replayed = replay.result as ReplayGroupResult;
    expect(replayed.again).toEqual([]);
    expect(replayed.applied.map((a) => a.outcome)).toEqual(
      group.map((e) => expect.objectContaining({ key: e.record.key, outcome: "applied" })),
    );
    const echo = await invokeSerialized(
      code.capture,
      thingCreated("logged", "evt-echo-1", "id-echo", { site: "lab-4" }),
      env("capture"),
    );
    expect(echo.error).toBeUndefined();
    const perFunction = {
      capture: bytes(source.logLines),
      replay: bytes(replay.logLines) / REPLAY_GROUP_SIZE,
      echoCapture: bytes(echo.logLines),
    };
    const launcher = await launcherBytesPerRecord(planned.launcher);
    const measured = perFunction.capture + perFunction.replay + perFunction.echoCapture + launcher;
    const detail = JSON.stringify({ ...perFunction, launcher });
    // The lag metric is always there (EMF: Powertools Metrics writes it, not the logger)...
    expect(
      replay.logLines.some((l) => l.includes(REPLICATION_LAG_METRIC)),
      detail,
    ).toBe(true);
    // ...the model bills at least what is logged...
    expect(DEPLOYED_DEFAULTS.appLogBytesPerOp, detail).toBeGreaterThanOrEqual(measured);
    // ...and not much more: the per-record INFO lines (1,215 B with the launcher's 327) are not
    // deployed, so the model does not bill them (the config key replicationLogLevel INFO would).
    expect(DEPLOYED_DEFAULTS.appLogBytesPerOp, detail).toBeLessThan(1.25 * measured);
  });
});

/**
 * Bytes the launcher logs per record at the planned log level: its lines for a batch of 4 records
 * (launcherFromEnv with a Step Functions stand-in that applies every record), each at the size of
 * its Powertools line with a trace id.
 */
async function launcherBytesPerRecord(planned: Record<string, string>): Promise<number> {
  const lines: string[] = [];
  const b = registryBatch(PRIMARY);
  const records = [b.type, b.group, b.child, b.thing];
  class StartSyncExecutionCommand {
    constructor(readonly input: { input: string }) {}
  }
  class SFNClient {
    async send(command: StartSyncExecutionCommand) {
      const input = JSON.parse(command.input.input) as {
        waves: { entries: { sequenceNumber: string; record: { key: string } }[] }[];
      };
      return { status: "SUCCEEDED", output: executionOutput(input) };
    }
  }
  const handler = launcherFromEnv(
    {
      AWS_REGION: SECONDARY,
      STATE_MACHINE_ARN: `arn:aws:states:${SECONDARY}:${ACCOUNT}:stateMachine:replay`,
      OPS_TABLE: TABLE,
      REPLICATION_LOG_LEVEL: planned.REPLICATION_LOG_LEVEL,
    },
    {
      sfn: { SFNClient, StartSyncExecutionCommand } as never,
      dynamodb,
      libDynamodb,
      logger: jsonLogger((l) => lines.push(l)),
    },
  );
  const response = await handler(
    { Records: records.map((r) => streamRecord(r)) },
    { getRemainingTimeInMillis: () => 600_000 },
  );
  expect(response.batchItemFailures).toEqual([]);
  return (lines.length * LAUNCHER_LINE_BYTES) / records.length;
}
