/**
 * The deployed C&C handler, built once per container from environment variables and the modules
 * the callback adapter `require()`s inside its body (nothing is imported here at run time).
 * Clients honour the SDK's standard endpoint settings (AWS_ENDPOINT_URL ...), so the same code
 * runs against moto.
 */
import type * as NodeCrypto from "node:crypto";
import type * as IotSdk from "@aws-sdk/client-iot";
import type * as StsSdk from "@aws-sdk/client-sts";
import type * as DynamoSdk from "@aws-sdk/client-dynamodb";
import type * as DocSdk from "@aws-sdk/lib-dynamodb";
import type * as Zod from "zod";
import { iotPortFromSdk } from "../registry/iotPort.js";
import { markerTableFromSdk, opsTableFromSdk } from "../registry/table.js";
import { captureKeys } from "../replication/capture.js";
import type { Logger } from "../shared/observability.js";
import { systemClock } from "../shared/clock.js";
import { handleCommand, type HttpEvent, type HttpResponse } from "./handler.js";
import { dynamoIdempotencyStore } from "./idempotency.js";
import { assumedRoleCredentials, principalThingsLister } from "./session.js";
import { createValidator } from "./validation.js";
import { required, type Env } from "../shared/env.js";
import { sdkClientOptions } from "../deadlines.js";

/** The C&C function's Powertools service name (its log lines carry it). */
export const CC_SERVICE = "iot-dr-cc";

export interface CcModules {
  crypto: typeof NodeCrypto;
  zod: typeof Zod;
  iot: typeof IotSdk;
  sts: typeof StsSdk;
  dynamodb: typeof DynamoSdk;
  libDynamodb: typeof DocSdk;
  logger: Logger;
}

/** Reads the policy allow-list; refuses anything but a non-empty JSON array of names. */
export function parseAllowedPolicies(text: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`environment variable CC_ALLOWED_POLICIES is not JSON: expected e.g. ["iot-dr-device"]`);
  }
  if (!Array.isArray(value) || value.length === 0 || !value.every((p) => typeof p === "string" && p !== "")) {
    throw new Error(
      `environment variable CC_ALLOWED_POLICIES must be a non-empty JSON array of policy names`,
    );
  }
  return value as string[];
}

/** Builds the handler; throws naming the variable when the environment is incomplete. */
export function ccHandlerFromEnv(env: Env, m: CcModules): (event: HttpEvent) => Promise<HttpResponse> {
  const region = required(env, "AWS_REGION", "set by Lambda");
  const roleArn = required(env, "IOT_ROLE_ARN", "the operator role in the IoT services account");
  const externalId = required(env, "IOT_ROLE_EXTERNAL_ID", "the external id that role demands");
  const opsTable = required(env, "OPS_TABLE", "the ops table in the IoT services account");
  const idempotencyTable = required(env, "IDEMPOTENCY_TABLE", "the C&C idempotency table");
  const allowedPolicies = parseAllowedPolicies(
    required(env, "CC_ALLOWED_POLICIES", "the onboarding policy allow-list"),
  );

  // Every client with the C&C deadlines (functions/deadlines.ts): a silent region answers 5xx in time.
  const deadlines = sdkClientOptions("cc");
  const sts = new m.sts.STSClient({ region, ...deadlines });
  const credentials = assumedRoleCredentials(m.sts, sts, {
    roleArn,
    externalId,
    sessionName: `iot-dr-cc-${region}`,
  });
  // IoT and the ops table live in the IoT services account; the idempotency table in this one.
  const iotClient = new m.iot.IoTClient({ region, credentials, ...deadlines });
  const opsDoc = m.libDynamodb.DynamoDBDocumentClient.from(
    new m.dynamodb.DynamoDBClient({ region, credentials, ...deadlines }),
  );
  const ownDoc = m.libDynamodb.DynamoDBDocumentClient.from(
    new m.dynamodb.DynamoDBClient({ region, ...deadlines }),
  );
  const iot = iotPortFromSdk(m.iot, iotClient);
  const retention = env.TOMBSTONE_RETENTION_DAYS;
  const table = opsTableFromSdk(m.libDynamodb, opsDoc, opsTable, {
    ...(retention ? { tombstoneRetentionDays: Number(retention) } : {}),
  });
  // Replay's applied markers in this region (MARKER_TABLE); without it they are looked up in the ops table.
  const markers = env.MARKER_TABLE ? markerTableFromSdk(m.libDynamodb, opsDoc, env.MARKER_TABLE) : undefined;

  return (event) =>
    handleCommand(event, {
      iot,
      listPrincipalThings: principalThingsLister(m.iot, iotClient),
      clock: systemClock,
      logger: m.logger,
      validate: createValidator(m.zod.z, { allowedPolicies, crypto: m.crypto, now: Date.now }),
      idempotency: dynamoIdempotencyStore(m.libDynamodb, ownDoc, { tableName: idempotencyTable }),
      journal: async (keys) => {
        await captureKeys(keys, {
          region,
          iot,
          table,
          ...(markers ? { markers } : {}),
          clock: systemClock,
          logger: m.logger,
        });
      },
      crypto: m.crypto,
    });
}
