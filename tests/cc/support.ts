/**
 * The C&C world on moto: the C&C account (idempotency table) and the IoT services account (IoT
 * registry and ops table) reached only through STS AssumeRole with an external id, wired exactly
 * as the deployed adapter wires them.
 */
import * as crypto from "node:crypto";
import * as iotSdk from "@aws-sdk/client-iot";
import * as stsSdk from "@aws-sdk/client-sts";
import * as ddbSdk from "@aws-sdk/client-dynamodb";
import * as docSdk from "@aws-sdk/lib-dynamodb";
import { z } from "zod";
import { inAccount as motoAccount, type MotoServer } from "../../peers/moto.js";
import { createTestCa } from "../../peers/testCa.js";
import { beforeAll, beforeEach } from "vitest";
import { useMoto } from "../support/useMoto.js";
import { createPkTable } from "../support/tables.js";
import { iotPortFromSdk, type IotRegistryPort } from "../../functions/registry/iotPort.js";
import { opsTableFromSdk } from "../../functions/registry/table.js";
import { captureKeys } from "../../functions/replication/capture.js";
import { silentLogger } from "../../functions/shared/observability.js";
import { assumedRoleCredentials, principalThingsLister } from "../../functions/cc/session.js";
import { dynamoIdempotencyStore } from "../../functions/cc/idempotency.js";
import { createValidator } from "../../functions/cc/validation.js";
import type { HandlerDeps, HttpEvent } from "../../functions/cc/handler.js";

export const REGION = "us-east-1";

/** `inAccount` keeping the client's own type (the fixture's structural type is narrower than SDK clients). */
export function inAccount<C>(client: C, accountId: string): C {
  motoAccount(client as unknown as Parameters<typeof motoAccount>[0], accountId);
  return client;
}
export const CC_ACCOUNT = "123456789012";
export const IOT_ACCOUNT = "111111111111";
export const ROLE_ARN = `arn:aws:iam::${IOT_ACCOUNT}:role/iot-dr-cc-operator`;
export const EXTERNAL_ID = "cc-external-id-for-tests";
export const OPS_TABLE = "ops";
export const IDEMPOTENCY_TABLE = "cc-idempotency";
export const ALLOWED_POLICIES = ["iot-dr-device"];

/** Device certificates issued by a throw-away CA (registered without it, as iot-dr does). */
export function makeCertificates(count: number): string[] {
  const ca = createTestCa({ commonName: "test-ca", days: 30 });
  try {
    const devices = Array.from({ length: count }, (_, i) => ca.issue(`device-${i}`, { serial: 1000 + i }));
    // The devices' certificates, then the CA's, then the first device's key.
    return [...devices.map((d) => d.certificatePem), ca.caPem, devices[0]!.keyPem];
  } finally {
    ca.dispose();
  }
}

export interface CcWorld {
  /** IoT client acting in the IoT account through the assumed role (as the C&C function does). */
  iotClient: iotSdk.IoTClient;
  iot: IotRegistryPort;
  doc: docSdk.DynamoDBDocumentClient;
  opsDoc: docSdk.DynamoDBDocumentClient;
  deps(overrides?: Partial<HandlerDeps>): HandlerDeps;
}

export async function ccWorld(moto: MotoServer): Promise<CcWorld> {
  const base = moto.clientConfig(REGION);
  // The C&C function's own credentials act in the C&C account.
  const sts = inAccount(new stsSdk.STSClient(base), CC_ACCOUNT);
  const credentials = assumedRoleCredentials(stsSdk, sts, {
    roleArn: ROLE_ARN,
    externalId: EXTERNAL_ID,
    sessionName: "cc-test",
  });
  const iotClient = new iotSdk.IoTClient({ ...base, credentials });
  const opsDdb = new ddbSdk.DynamoDBClient({ ...base, credentials });
  const ccDdb = inAccount(new ddbSdk.DynamoDBClient(base), CC_ACCOUNT);
  for (const [client, name] of [
    [opsDdb, OPS_TABLE],
    [ccDdb, IDEMPOTENCY_TABLE],
  ] as const)
    await createPkTable(client, name);
  const doc = docSdk.DynamoDBDocumentClient.from(ccDdb);
  const opsDoc = docSdk.DynamoDBDocumentClient.from(opsDdb);
  const iot = iotPortFromSdk(iotSdk, iotClient);
  const table = opsTableFromSdk(docSdk, opsDoc, OPS_TABLE);
  const clock = { now: () => Date.now(), sleep: async () => {} };
  return {
    iotClient,
    iot,
    doc,
    opsDoc,
    deps: (overrides = {}) => ({
      iot,
      listPrincipalThings: principalThingsLister(iotSdk, iotClient),
      clock,
      logger: silentLogger,
      validate: createValidator(z, { allowedPolicies: ALLOWED_POLICIES, crypto, now: Date.now }),
      idempotency: dynamoIdempotencyStore(docSdk, doc, { tableName: IDEMPOTENCY_TABLE }),
      journal: async (keys) => {
        await captureKeys(keys, { region: REGION, iot, table, clock, logger: silentLogger });
      },
      crypto,
      ...overrides,
    }),
  };
}

let keyCounter = 0;
export const newKey = () => `test-key-${process.pid}-${++keyCounter}-${crypto.randomUUID().slice(0, 8)}`;

/** An API Gateway HTTP API (payload 2.0) event as an IAM-authorized operator sends it. */
export function commandEvent(command: string, body: unknown, key?: string, raw = false): HttpEvent {
  return {
    rawPath: `/commands/${command}`,
    body: raw ? (body as string) : JSON.stringify(body),
    isBase64Encoded: false,
    headers: { "content-type": "application/json", ...(key ? { "Idempotency-Key": key } : {}) },
    requestContext: {
      requestId: crypto.randomUUID(),
      http: { method: "POST", path: `/commands/${command}` },
      authorizer: { iam: { userArn: `arn:aws:iam::${CC_ACCOUNT}:user/operator` } },
    },
  };
}

/** Everything onboarding and decommissioning can change, in a comparable form. */
export async function registrySnapshot(client: iotSdk.IoTClient): Promise<unknown> {
  const things = (await client.send(new iotSdk.ListThingsCommand({}))).things ?? [];
  const certs = (await client.send(new iotSdk.ListCertificatesCommand({}))).certificates ?? [];
  const snapshot = {
    things: [] as unknown[],
    certificates: [] as unknown[],
  };
  for (const t of things.sort((a, b) => String(a.thingName).localeCompare(String(b.thingName)))) {
    const groups =
      (await client.send(new iotSdk.ListThingGroupsForThingCommand({ thingName: t.thingName })))
        .thingGroups ?? [];
    const principals =
      (await client.send(new iotSdk.ListThingPrincipalsCommand({ thingName: t.thingName }))).principals ?? [];
    snapshot.things.push({
      name: t.thingName,
      type: t.thingTypeName,
      attributes: t.attributes,
      groups: groups.map((g) => g.groupName).sort(),
      principals: principals.sort(),
    });
  }
  for (const c of certs.sort((a, b) => String(a.certificateId).localeCompare(String(b.certificateId)))) {
    const policies =
      (await client.send(new iotSdk.ListAttachedPoliciesCommand({ target: c.certificateArn }))).policies ??
      [];
    snapshot.certificates.push({
      id: c.certificateId,
      status: c.status,
      policies: policies.map((p) => p.policyName).sort(),
    });
  }
  return snapshot;
}

/** The record items of the ops table, by key. */
export async function opsRecords(
  opsDoc: docSdk.DynamoDBDocumentClient,
): Promise<Map<string, Record<string, unknown>>> {
  const out = await opsDoc.send(new docSdk.ScanCommand({ TableName: OPS_TABLE }));
  return new Map((out.Items ?? []).map((i) => [String(i.pk), i]));
}

/** Registry fixtures onboarding refers to. */
export async function seedRegistry(client: iotSdk.IoTClient): Promise<void> {
  await client.send(
    new iotSdk.CreateThingTypeCommand({
      thingTypeName: "sensor",
      thingTypeProperties: { searchableAttributes: ["serial"] },
    }),
  );
  await client.send(new iotSdk.CreateThingTypeCommand({ thingTypeName: "legacy" }));
  await client.send(new iotSdk.DeprecateThingTypeCommand({ thingTypeName: "legacy" }));
  for (const g of ["plant-a", "plant-b"])
    await client.send(new iotSdk.CreateThingGroupCommand({ thingGroupName: g }));
  const doc = JSON.stringify({
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Action: "iot:Connect", Resource: "*" }],
  });
  await client.send(new iotSdk.CreatePolicyCommand({ policyName: "iot-dr-device", policyDocument: doc }));
  await client.send(new iotSdk.CreatePolicyCommand({ policyName: "admin", policyDocument: doc }));
}

/**
 * One moto for the file, a fresh C&C world on it with the seeded registry before each test (or once,
 * with `perTest: false`), and `certificates` device certificates made once.
 */
export function useCcWorld(
  certificates: number,
  options: { perTest?: boolean } = {},
): { moto: MotoServer; readonly world: CcWorld; readonly pems: string[]; readonly pem: string } {
  const perTest = options.perTest ?? true;
  const moto = useMoto({ resetBeforeEach: perTest });
  let world: CcWorld | undefined;
  let pems: string[] = [];
  const build = async () => {
    world = await ccWorld(moto);
    await seedRegistry(world.iotClient);
  };
  beforeAll(async () => {
    pems = makeCertificates(certificates);
    if (!perTest) await build();
  });
  if (perTest) beforeEach(build);
  return {
    moto,
    get world() {
      if (!world) throw new Error("useCcWorld(): the world is built in a hook; use it inside tests");
      return world;
    },
    get pems() {
      return pems;
    },
    get pem() {
      return pems[0]!;
    },
  };
}
