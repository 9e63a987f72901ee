/**
 * The deployed replay runtime (replayRuntime.ts) against moto: a group of principal attachments
 * handed to a new container with Lambda's context is applied with ARNs built from the function's
 * own ARN, no DescribeCertificate at all; without the context, one describe teaches the prefix.
 */
import * as iot from "@aws-sdk/client-iot";
import * as dynamodb from "@aws-sdk/client-dynamodb";
import * as libDynamodb from "@aws-sdk/lib-dynamodb";
import { describe, expect, it } from "vitest";
import { keys } from "../../../functions/registry/records.js";
import { replayFromEnv } from "../../../functions/replication/replayRuntime.js";
import type { ReplayGroupResult } from "../../../functions/replication/stateMachine.js";
import { silentLogger } from "../../../functions/shared/observability.js";
import { DEFAULT_ACCOUNT } from "../../../peers/moto.js";
import { createPkTable } from "../../../peers/tables.js";
import { useMoto } from "../../support/useMoto.js";
import { PRIMARY, SECONDARY, record } from "../infra/fixtures.js";

const env = { AWS_REGION: SECONDARY, OPS_TABLE: "ops", MARKER_TABLE: "markers" };
const PEM = (i: number) =>
  `-----BEGIN CERTIFICATE-----\nMIIBarn${String(i).padStart(12, "0")}${"A".repeat(48)}\n-----END CERTIFICATE-----\n`;

describe("replay runtime: attachment ARNs from the function's own ARN", () => {
  const moto = useMoto();

  /** The SDK modules the callback hands the runtime, every client pointed at moto; IoT commands counted. */
  const modules = (sent: string[]) => ({
    iot: {
      ...iot,
      IoTClient: class extends iot.IoTClient {
        constructor(config: iot.IoTClientConfig) {
          super({ ...config, ...moto.clientConfig(SECONDARY) });
        }
        override send(command: never, ...rest: never[]) {
          sent.push((command as object).constructor.name.replace(/Command$/, ""));
          return (super.send as (...a: unknown[]) => Promise<unknown>)(command, ...rest) as never;
        }
      },
    } as typeof iot,
    dynamodb: {
      ...dynamodb,
      DynamoDBClient: class extends dynamodb.DynamoDBClient {
        constructor(config: dynamodb.DynamoDBClientConfig) {
          super({ ...config, ...moto.clientConfig(SECONDARY) });
        }
      },
    } as typeof dynamodb,
    libDynamodb,
    logger: silentLogger,
    metrics: { addMetric() {}, publishStoredMetrics() {} },
  });

  /** Five things and five certificates in the standby region, and the group attaching each pair. */
  async function group() {
    const ddb = new dynamodb.DynamoDBClient(moto.clientConfig(SECONDARY));
    for (const t of ["ops", "markers"]) await createPkTable(ddb, t);
    const client = new iot.IoTClient(moto.clientConfig(SECONDARY));
    const entries = [];
    for (let i = 0; i < 5; i++) {
      await client.send(new iot.CreateThingCommand({ thingName: `arn-t${i}` }));
      const cert = await client.send(
        new iot.RegisterCertificateWithoutCACommand({ certificatePem: PEM(i), status: "ACTIVE" }),
      );
      const state = { thingName: `arn-t${i}`, certificateId: cert.certificateId! };
      entries.push({
        sequenceNumber: String(i + 1),
        record: record("principal", keys.principal(state.thingName, state.certificateId), state, {
          origin: PRIMARY,
        }),
      });
    }
    return { entries, client };
  }

  it("sends no describe for a group's attachments when Lambda's context names the function", async () => {
    const { entries, client } = await group();
    const sent: string[] = [];
    const replay = replayFromEnv(env, modules(sent));
    const result = (await replay(
      { entries },
      { invokedFunctionArn: `arn:aws:lambda:${SECONDARY}:${DEFAULT_ACCOUNT}:function:replay-x` },
    )) as ReplayGroupResult;
    expect(result.again).toEqual([]);
    expect(result.applied).toHaveLength(5);
    expect(sent.filter((n) => n === "DescribeCertificate")).toEqual([]);
    const principals = await client.send(new iot.ListThingPrincipalsCommand({ thingName: "arn-t3" }));
    expect(principals.principals).toEqual([
      expect.stringContaining(`cert/${entries[3].record.state!.certificateId}`),
    ]);
  });

  it("without the context, one describe teaches the prefix to the whole group", async () => {
    const { entries } = await group();
    const sent: string[] = [];
    const result = (await replayFromEnv(env, modules(sent))({ entries })) as ReplayGroupResult;
    expect(result.applied).toHaveLength(5);
    expect(sent.filter((n) => n === "DescribeCertificate")).toHaveLength(1);
  });
});
