/**
 * The C&C journal across its seam (issue #16 item 1): a real onboarding command (functions/cc
 * handler, journal wired as functions/cc/runtime.ts wires it: captureKeys into the ops table) in the
 * primary region -> the ops table on moto, replicated and streamed through the deployed filter by
 * the global-table emulator -> the real launcher, state machine and replay core in the secondary
 * region. One record type on both sides (functions/registry/records.ts): whatever the journal
 * writes, replay must be able to apply, or the onboarded device would not exist after fail-over.
 */
import * as crypto from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import * as iotSdk from "@aws-sdk/client-iot";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import * as lib from "@aws-sdk/lib-dynamodb";
import { z } from "zod";
import { handleCommand, type HandlerDeps } from "../../functions/cc/handler.js";
import { dynamoIdempotencyStore } from "../../functions/cc/idempotency.js";
import { principalThingsLister } from "../../functions/cc/session.js";
import { createValidator } from "../../functions/cc/validation.js";
import { iotPortFromSdk } from "../../functions/registry/iotPort.js";
import { captureKeys } from "../../functions/replication/capture.js";
import { silentLogger } from "../../functions/shared/observability.js";
import { systemClock } from "../../functions/replication/pacing.js";
import { GlobalTableEmulator } from "../../peers/emulators/globalTable.js";
import { useMoto } from "../support/useMoto.js";
import { motoLauncher, motoOpsTable } from "../support/replayPath.js";
import { commandEvent, makeCertificates, newKey, seedRegistry } from "./support.js";
import { createPkTable } from "../support/tables.js";

const PRIMARY = "us-east-1";
const SECONDARY = "eu-west-1";
const TABLE = "ops";

describe("what the C&C journal writes, replay applies in the other region", () => {
  const moto = useMoto({ resetBeforeEach: false });
  let global: GlobalTableEmulator;
  const iot: Record<string, iotSdk.IoTClient> = {};
  const replayed: string[] = [];
  const tableOf = (region: string) => motoOpsTable(moto, region, TABLE);

  beforeAll(async () => {
    for (const region of [PRIMARY, SECONDARY]) {
      iot[region] = new iotSdk.IoTClient(moto.clientConfig(region));
      // Device policies, types and groups exist in both regions before onboarding (README: first deploy).
      await seedRegistry(iot[region]);
    }
    global = await GlobalTableEmulator.create({
      tableName: TABLE,
      regions: [PRIMARY, SECONDARY],
      clientConfig: (region) => moto.clientConfig(region),
      consumers: {
        [SECONDARY]: await motoLauncher(moto, SECONDARY, { table: TABLE, iot: iot[SECONDARY], replayed }),
      },
    });
  }, 60_000);

  it("a device onboarded through C&C in the primary exists, complete, in the secondary", async () => {
    const ccDdb = new DynamoDBClient(moto.clientConfig(PRIMARY));
    await createPkTable(ccDdb, "cc-idempotency");
    const a = iotPortFromSdk(iotSdk, iot[PRIMARY]);
    const deps: HandlerDeps = {
      iot: a,
      listPrincipalThings: principalThingsLister(iotSdk, iot[PRIMARY]),
      clock: { now: Date.now, sleep: async () => {} },
      logger: silentLogger,
      validate: createValidator(z, { allowedPolicies: ["iot-dr-device"], crypto, now: Date.now }),
      idempotency: dynamoIdempotencyStore(lib, lib.DynamoDBDocumentClient.from(ccDdb), {
        tableName: "cc-idempotency",
      }),
      // As functions/cc/runtime.ts wires it.
      journal: async (keys) => {
        await captureKeys(keys, {
          region: PRIMARY,
          iot: a,
          table: tableOf(PRIMARY),
          clock: systemClock,
          logger: silentLogger,
        });
      },
      crypto,
    };
    const [pem] = makeCertificates(1);
    const response = await handleCommand(
      commandEvent(
        "onboard",
        {
          thingName: "sensor-1",
          thingTypeName: "sensor",
          attributes: { serial: "SN-0001" },
          groups: ["plant-a"],
          certificatePem: pem,
          policyName: "iot-dr-device",
        },
        newKey(),
      ),
      deps,
    );
    expect(response.statusCode).toBe(201);
    const { certificateId } = JSON.parse(response.body) as { certificateId: string };

    await global.settle();
    expect(global.failed).toEqual([]);
    expect(replayed.length).toBeGreaterThan(0);

    const b = iot[SECONDARY];
    expect(await b.send(new iotSdk.DescribeThingCommand({ thingName: "sensor-1" }))).toMatchObject({
      thingTypeName: "sensor",
      attributes: { serial: "SN-0001" },
    });
    const groups = await b.send(new iotSdk.ListThingGroupsForThingCommand({ thingName: "sensor-1" }));
    expect(groups.thingGroups?.map((g) => g.groupName)).toEqual(["plant-a"]);
    const cert = await b.send(new iotSdk.DescribeCertificateCommand({ certificateId }));
    expect(cert.certificateDescription).toMatchObject({ status: "ACTIVE", certificatePem: pem });
    const principals = await b.send(new iotSdk.ListThingPrincipalsCommand({ thingName: "sensor-1" }));
    expect(principals.principals).toEqual([cert.certificateDescription!.certificateArn]);
    const policies = await b.send(
      new iotSdk.ListAttachedPoliciesCommand({ target: cert.certificateDescription!.certificateArn }),
    );
    expect(policies.policies?.map((p) => p.policyName)).toEqual(["iot-dr-device"]);
  }, 120_000);
});
