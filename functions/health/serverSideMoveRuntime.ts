/**
 * The server-side mover's deployed handler, built from its environment and the modules the
 * callback adapter (infra/serverSideMover.ts) `require()`s inside its body. Environment:
 * MOVER_REGION (where it runs), MOVER_TARGETS (JSON [{region, dataEndpoint, roleArn,
 * presenceTable}], both regions), MOVER_ALARMS (JSON [{alarmName, region}], the notifier's),
 * MOVER_RATE_PER_SECOND, MOVER_WAIT_MS, MOVER_EXTERNAL_ID (optional).
 */
import type * as Sts from "@aws-sdk/client-sts";
import type * as IotDataPlane from "@aws-sdk/client-iot-data-plane";
import type * as DynamoDb from "@aws-sdk/client-dynamodb";
import { assumedRole, type AwsCredentials } from "./aws.js";
import { sdkClientOptions } from "../deadlines.js";
import { integer, json, required, type Env } from "../shared/env.js";
import { systemClock } from "../shared/clock.js";
import type { Logger } from "./http.js";
import type { AlarmRegion } from "./notifier.js";
import {
  connectedClientIds,
  DISCONNECTED_RETENTION_DAYS,
  MOVE_CLAIM_PREFIX,
  MOVE_CLAIM_VERSION,
  type PresenceItem,
} from "./presence.js";
import { dataPlaneUrl } from "./runtime.js";
import { handleServerSideMove } from "./serverSideMove.js";

export interface ServerSideMoveModules {
  sts: Pick<typeof Sts, "STSClient" | "AssumeRoleCommand">;
  iotData: Pick<typeof IotDataPlane, "IoTDataPlaneClient" | "DeleteConnectionCommand">;
  dynamodb: Pick<typeof DynamoDb, "DynamoDBClient" | "ScanCommand" | "PutItemCommand" | "UpdateItemCommand">;
  logger: Logger;
}

/** Per region: its data endpoint, the role in its IoT account the mover assumes, its presence table. */
export interface MoverTarget {
  region: string;
  dataEndpoint: string;
  roleArn: string;
  presenceTable: string;
}

export function serverSideMoveFromEnv(
  env: Env,
  modules: ServerSideMoveModules,
): (event: unknown, context?: { getRemainingTimeInMillis?(): number }) => Promise<unknown> {
  const ownRegion = required(env, "MOVER_REGION", "the region this mover runs in");
  const targets = json<MoverTarget[]>(
    env,
    "MOVER_TARGETS",
    "a JSON list of {region, dataEndpoint, roleArn, presenceTable}",
  );
  for (const t of targets) {
    for (const key of ["region", "dataEndpoint", "roleArn", "presenceTable"] as const) {
      if (typeof t[key] !== "string" || t[key] === "")
        throw new Error(`environment variable MOVER_TARGETS: every target needs a non-empty ${key}`);
    }
  }
  const alarms = json<AlarmRegion[]>(env, "MOVER_ALARMS", "a JSON list of {alarmName, region}");
  const ratePerSecond = integer(
    env,
    "MOVER_RATE_PER_SECOND",
    Number(required(env, "MOVER_RATE_PER_SECOND", "closed connections per second")),
  );
  const waitMs = Number(env.MOVER_WAIT_MS ?? "0");
  if (!Number.isInteger(waitMs) || waitMs < 0)
    throw new Error(
      `environment variable MOVER_WAIT_MS must be a whole number of ms >= 0, got '${env.MOVER_WAIT_MS}'`,
    );
  const sts = new modules.sts.STSClient({ ...sdkClientOptions("notice") });
  const target = (region: string): MoverTarget => {
    const found = targets.find((t) => t.region === region);
    if (!found) throw new Error(`MOVER_TARGETS has no target for ${region}`);
    return found;
  };
  const credentials = new Map<string, () => Promise<AwsCredentials>>();
  const credentialsFor = (t: MoverTarget) => {
    let get = credentials.get(t.region);
    if (!get) {
      get = assumedRole(modules.sts, sts, t.roleArn, "iot-dr-server-side-move", env.MOVER_EXTERNAL_ID);
      credentials.set(t.region, get);
    }
    return get;
  };
  const dbs = new Map<string, DynamoDb.DynamoDBClient>();
  const dbFor = (region: string, purpose: "moverScan") => {
    let db = dbs.get(region);
    if (!db) {
      db = new modules.dynamodb.DynamoDBClient({
        region,
        credentials: credentialsFor(target(region)),
        ...sdkClientOptions(purpose),
      });
      dbs.set(region, db);
    }
    return db;
  };
  const claimKey = (key: string) => ({
    clientId: { S: `${MOVE_CLAIM_PREFIX}${key}` },
    versionNumber: { N: String(MOVE_CLAIM_VERSION) },
  });
  return (event, context) =>
    handleServerSideMove(event as Parameters<typeof handleServerSideMove>[0], {
      ownRegion,
      regions: targets.map((t) => t.region),
      alarms,
      ratePerSecond,
      waitMs,
      claim: async (region, key, untilMs) => {
        const now = Date.now();
        try {
          await dbFor(region, "moverScan").send(
            new modules.dynamodb.PutItemCommand({
              TableName: target(region).presenceTable,
              Item: {
                ...claimKey(key),
                claimState: { S: "running" },
                leaseUntil: { N: String(untilMs) },
                // Removed by the table's TTL once no redelivery can come.
                expiresAt: { N: String(Math.floor(now / 1000) + DISCONNECTED_RETENTION_DAYS * 86400) },
              },
              ConditionExpression:
                "attribute_not_exists(clientId) OR claimState = :released OR (claimState = :running AND leaseUntil < :now)",
              ExpressionAttributeValues: {
                ":released": { S: "released" },
                ":running": { S: "running" },
                ":now": { N: String(now) },
              },
              ReturnValuesOnConditionCheckFailure: "ALL_OLD",
            }),
          );
          return "claimed";
        } catch (e) {
          if ((e as { name?: string }).name !== "ConditionalCheckFailedException") throw e;
          const old = (e as { Item?: Record<string, DynamoDb.AttributeValue> }).Item;
          return old?.claimState?.S === "done" ? "done" : "running";
        }
      },
      settle: async (region, key, state) => {
        await dbFor(region, "moverScan").send(
          new modules.dynamodb.UpdateItemCommand({
            TableName: target(region).presenceTable,
            Key: claimKey(key),
            UpdateExpression: "SET claimState = :state",
            ExpressionAttributeValues: { ":state": { S: state } },
          }),
        );
      },
      listConnected: async (region) => {
        const t = target(region);
        const db = dbFor(region, "moverScan");
        const items: Array<Partial<PresenceItem>> = [];
        let start: Record<string, DynamoDb.AttributeValue> | undefined;
        do {
          const page = await db.send(
            new modules.dynamodb.ScanCommand({
              TableName: t.presenceTable,
              ProjectionExpression: "clientId, versionNumber, eventType",
              ...(start ? { ExclusiveStartKey: start } : {}),
            }),
          );
          for (const item of page.Items ?? []) {
            items.push({
              ...(item.clientId?.S !== undefined ? { clientId: item.clientId.S } : {}),
              ...(item.versionNumber?.N !== undefined ? { versionNumber: Number(item.versionNumber.N) } : {}),
              ...(item.eventType?.S !== undefined
                ? { eventType: item.eventType.S as PresenceItem["eventType"] }
                : {}),
            });
          }
          start = page.LastEvaluatedKey;
        } while (start);
        return connectedClientIds(items);
      },
      deleteConnection: (region) => {
        const t = target(region);
        const client = new modules.iotData.IoTDataPlaneClient({
          region,
          endpoint: dataPlaneUrl(t.dataEndpoint),
          credentials: credentialsFor(t),
          ...sdkClientOptions("moverDisconnect"),
        });
        return (input, signal) =>
          client.send(new modules.iotData.DeleteConnectionCommand(input), { abortSignal: signal });
      },
      clock: systemClock,
      remainingMs: () => context?.getRemainingTimeInMillis?.() ?? 900_000,
      logger: modules.logger,
    });
}
