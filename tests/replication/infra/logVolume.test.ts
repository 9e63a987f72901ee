/**
 * What the deployed replication functions write to CloudWatch Logs per replicated operation, from
 * the archives Pulumi would upload, run against moto: the cost model's `appLogBytesPerOp` must not
 * be below it (CloudWatch Logs bills every ingested byte).
 */
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CreateThingCommand, IoTClient } from "@aws-sdk/client-iot";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DEPLOYED_DEFAULTS } from "../../../functions/replication/costModel.js";
import { useMoto } from "../../support/useMoto.js";
import { MARKER_TABLE, TABLE, replicationCallbacks, thingCreated } from "./replicationCallbacks.js";
import { invokeSerialized, type SerializedCallback } from "../../support/serialized.js";
import { createPkTable } from "../../support/tables.js";
import { SECONDARY, record } from "./fixtures.js";

/**
 * The launcher's `record replayed` line per record (launcher.ts), as its Powertools logger writes it
 * with a trace id: 327 bytes (written once with the same logger; the launcher archive needs Step
 * Functions to get that far).
 */
const LAUNCHER_LINE_BYTES = 327;

const bytes = (lines: string[]) => lines.reduce((a, l) => a + Buffer.byteLength(l, "utf8") + 1, 0);

describe("log volume of the replication functions", () => {
  const code: Record<"capture" | "replay", SerializedCallback> = {} as never;
  const moto = useMoto();

  beforeAll(async () => {
    Object.assign(code, await replicationCallbacks());
  });
  beforeEach(async () => {
    const ddb = new DynamoDBClient(moto.clientConfig(SECONDARY));
    for (const TableName of [TABLE, MARKER_TABLE]) await createPkTable(ddb, TableName);
  });

  const env = () => ({
    ...moto.env(SECONDARY),
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
      env(),
    );
    expect(source.error).toBeUndefined();
    // Replay of a thing from the other region, and the echo of it captured here.
    const thing = record("thing", "thing#logged", { name: "logged", attributes: { site: "lab-4" } });
    const replay = await invokeSerialized(code.replay, { sequenceNumber: "1", record: thing }, env());
    expect(replay.result).toMatchObject({ key: "thing#logged", outcome: "applied" });
    const echo = await invokeSerialized(
      code.capture,
      thingCreated("logged", "evt-echo-1", "id-echo", { site: "lab-4" }),
      env(),
    );
    expect(echo.error).toBeUndefined();
    const perFunction = {
      capture: bytes(source.logLines),
      replay: bytes(replay.logLines),
      echoCapture: bytes(echo.logLines),
    };
    const measured = perFunction.capture + perFunction.replay + perFunction.echoCapture;
    // Something is logged by each (the record's key and version; replay's lag metric as EMF)...
    for (const [name, b] of Object.entries(perFunction)) expect(b, name).toBeGreaterThan(100);
    // ...and the model bills at least that and the launcher's line per record.
    expect(DEPLOYED_DEFAULTS.appLogBytesPerOp, JSON.stringify(perFunction)).toBeGreaterThanOrEqual(
      measured + LAUNCHER_LINE_BYTES,
    );
    expect(DEPLOYED_DEFAULTS.appLogBytesPerOp).toBeLessThan(2 * measured);
  });
});
