import { describe, expect, it } from "vitest";
import * as iotSdk from "@aws-sdk/client-iot";
import { handleCommand } from "../../functions/cc/handler.js";
import {
  CC_ACCOUNT,
  IOT_ACCOUNT,
  REGION,
  commandEvent,
  inAccount,
  newKey,
  opsRecords,
  registrySnapshot,
  useCcWorld,
} from "./support.js";

const cc = useCcWorld(4);

const onboardBody = (thingName: string, pem: string) => ({
  thingName,
  thingTypeName: "sensor",
  attributes: { serial: "SN-0001", model: "t1000" },
  groups: ["plant-a", "plant-b"],
  certificatePem: pem,
  policyName: "iot-dr-device",
});

async function send(command: string, body: unknown, key = newKey()) {
  const response = await handleCommand(commandEvent(command, body, key), cc.world.deps());
  return {
    ...response,
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are asserted field by field
    json: JSON.parse(response.body) as Record<string, any>,
    key,
  };
}

describe("C&C commands against the IoT account reached through the assumed role", () => {
  it("onboard creates the typed thing in its groups with an active certificate, the allowed policy and the principal, and journals every key", async () => {
    const r = await send("onboard", onboardBody("sensor-1", cc.pems[0]!));
    expect(r.statusCode).toBe(201);
    const certificateId = r.json.certificateId as string;
    expect(certificateId).toMatch(/^[a-f0-9]{64}$/);

    // The registry lives in the IoT services account, not in the C&C account.
    const iotAccount = inAccount(new iotSdk.IoTClient(cc.moto.clientConfig(REGION)), IOT_ACCOUNT);
    const ccAccount = inAccount(new iotSdk.IoTClient(cc.moto.clientConfig(REGION)), CC_ACCOUNT);
    expect(
      (await iotAccount.send(new iotSdk.DescribeThingCommand({ thingName: "sensor-1" }))).thingTypeName,
    ).toBe("sensor");
    expect((await ccAccount.send(new iotSdk.ListThingsCommand({}))).things).toEqual([]);

    expect(await registrySnapshot(cc.world.iotClient)).toEqual({
      things: [
        {
          name: "sensor-1",
          type: "sensor",
          attributes: { serial: "SN-0001", model: "t1000" },
          groups: ["plant-a", "plant-b"],
          principals: [expect.stringContaining(`cert/${certificateId}`)],
        },
      ],
      certificates: [{ id: certificateId, status: "ACTIVE", policies: ["iot-dr-device"] }],
    });

    const records = await opsRecords(cc.world.opsDoc);
    expect(JSON.parse(String(records.get("thing#sensor-1")?.stateJson))).toEqual({
      name: "sensor-1",
      thingTypeName: "sensor",
      attributes: { serial: "SN-0001", model: "t1000" },
    });
    const cert = JSON.parse(String(records.get(`certificate#${certificateId}`)?.stateJson));
    expect(cert).toMatchObject({ certificateId, status: "ACTIVE" });
    expect(cert.pem).toContain("BEGIN CERTIFICATE");
    for (const key of [
      "membership#plant-a#sensor-1",
      "membership#plant-b#sensor-1",
      `principal#sensor-1#${certificateId}`,
      `policyTarget#iot-dr-device#certificate#${certificateId}`,
    ]) {
      expect(records.get(key)?.tombstone, key).toBe(false);
    }
  });

  it("a retried onboard returns the first answer and registers nothing twice", async () => {
    const key = newKey();
    const first = await send("onboard", onboardBody("sensor-2", cc.pems[1]!), key);
    const before = await registrySnapshot(cc.world.iotClient);
    const recordsBefore = await opsRecords(cc.world.opsDoc);
    const retry = await send("onboard", onboardBody("sensor-2", cc.pems[1]!), key);
    expect(retry.statusCode).toBe(201);
    expect(retry.json).toEqual(first.json);
    expect(retry.headers["idempotent-replayed"]).toBe("true");
    expect(await registrySnapshot(cc.world.iotClient)).toEqual(before);
    expect(await opsRecords(cc.world.opsDoc)).toEqual(recordsBefore);
  });

  it("the idempotency key may come in the body instead of the header", async () => {
    const key = newKey();
    const body = { ...onboardBody("sensor-3", cc.pems[2]!), idempotencyKey: key };
    const first = await handleCommand(commandEvent("onboard", body), cc.world.deps());
    const retry = await handleCommand(commandEvent("onboard", body), cc.world.deps());
    expect(first.statusCode).toBe(201);
    expect(retry.headers["idempotent-replayed"]).toBe("true");
  });

  it("suspend and resume flip the certificate status, journal it, and a retried suspend changes nothing", async () => {
    const { json } = await send("onboard", onboardBody("sensor-1", cc.pems[0]!));
    const certificateId = json.certificateId as string;
    const status = async () =>
      (await cc.world.iotClient.send(new iotSdk.DescribeCertificateCommand({ certificateId })))
        .certificateDescription?.status;
    const journaled = async () =>
      JSON.parse(String((await opsRecords(cc.world.opsDoc)).get(`certificate#${certificateId}`)?.stateJson))
        .status;

    const key = newKey();
    const suspended = await send("suspend", { certificateId, reason: "lost device" }, key);
    expect(suspended.statusCode).toBe(200);
    expect(suspended.json.certificates).toEqual([
      { certificateId, previousStatus: "ACTIVE", status: "INACTIVE" },
    ]);
    expect(await status()).toBe("INACTIVE");
    expect(await journaled()).toBe("INACTIVE");

    const resumed = await send("resume", { thingName: "sensor-1" });
    expect(resumed.statusCode).toBe(200);
    expect(await status()).toBe("ACTIVE");
    expect(await journaled()).toBe("ACTIVE");

    // The retried suspend replays its answer; it does not suspend the resumed certificate again.
    const retry = await send("suspend", { certificateId, reason: "lost device" }, key);
    expect(retry.headers["idempotent-replayed"]).toBe("true");
    expect(retry.json).toEqual(suspended.json);
    expect(await status()).toBe("ACTIVE");
  });

  it("a revoked certificate is neither suspended nor resumed", async () => {
    const { json } = await send("onboard", onboardBody("sensor-1", cc.pems[0]!));
    await cc.world.iotClient.send(
      new iotSdk.UpdateCertificateCommand({ certificateId: json.certificateId, newStatus: "REVOKED" }),
    );
    const r = await send("resume", { certificateId: json.certificateId });
    expect(r.statusCode).toBe(409);
    expect(r.json.error.code).toBe("CertificateRevoked");
  });

  it("decommission detaches, deactivates and deletes the certificate, deletes the thing, and journals tombstones", async () => {
    const { json } = await send("onboard", onboardBody("sensor-1", cc.pems[0]!));
    const certificateId = json.certificateId as string;
    const key = newKey();
    const r = await send("decommission", { thingName: "sensor-1" }, key);
    expect(r.statusCode).toBe(200);
    expect(r.json).toMatchObject({
      certificatesDeleted: [certificateId],
      certificatesKept: [],
      groupsLeft: ["plant-a", "plant-b"],
    });
    expect(await registrySnapshot(cc.world.iotClient)).toEqual({ things: [], certificates: [] });

    const records = await opsRecords(cc.world.opsDoc);
    for (const k of [
      "thing#sensor-1",
      `certificate#${certificateId}`,
      "membership#plant-a#sensor-1",
      `principal#sensor-1#${certificateId}`,
      `policyTarget#iot-dr-device#certificate#${certificateId}`,
    ]) {
      expect(records.get(k)?.tombstone, k).toBe(true);
    }
    const retry = await send("decommission", { thingName: "sensor-1" }, key);
    expect(retry.statusCode).toBe(200);
    expect(retry.headers["idempotent-replayed"]).toBe("true");
  });

  it("decommission keeps a certificate that another thing still uses", async () => {
    const { json } = await send("onboard", onboardBody("sensor-1", cc.pems[0]!));
    const certificateId = json.certificateId as string;
    const arn = (await cc.world.iotClient.send(new iotSdk.DescribeCertificateCommand({ certificateId })))
      .certificateDescription!.certificateArn!;
    await cc.world.iotClient.send(new iotSdk.CreateThingCommand({ thingName: "gateway" }));
    await cc.world.iotClient.send(
      new iotSdk.AttachThingPrincipalCommand({ thingName: "gateway", principal: arn }),
    );
    const r = await send("decommission", { thingName: "sensor-1" });
    expect(r.statusCode).toBe(200);
    expect(r.json).toMatchObject({ certificatesDeleted: [], certificatesKept: [certificateId] });
    const d = await cc.world.iotClient.send(new iotSdk.DescribeCertificateCommand({ certificateId }));
    expect(d.certificateDescription?.status).toBe("ACTIVE");
  });

  it("a key reused for a different command is refused and changes nothing", async () => {
    const key = newKey();
    await send("onboard", onboardBody("sensor-1", cc.pems[0]!), key);
    const before = await registrySnapshot(cc.world.iotClient);
    const r = await send("onboard", onboardBody("sensor-9", cc.pems[1]!), key);
    expect(r.statusCode).toBe(422);
    expect(r.json.error.code).toBe("IdempotencyKeyReused");
    expect(await registrySnapshot(cc.world.iotClient)).toEqual(before);
  });

  it.each([
    ["an existing thing", () => onboardBody("sensor-1", cc.pems[1]!), 409, "ThingExists"],
    [
      "a missing group",
      () => ({ ...onboardBody("sensor-7", cc.pems[1]!), groups: ["nowhere"] }),
      422,
      "ThingGroupNotFound",
    ],
    [
      "a missing thing type",
      () => ({ ...onboardBody("sensor-7", cc.pems[1]!), thingTypeName: "nothing" }),
      422,
      "ThingTypeNotFound",
    ],
    [
      "a deprecated thing type",
      () => ({ ...onboardBody("sensor-7", cc.pems[1]!), thingTypeName: "legacy" }),
      422,
      "ThingTypeDeprecated",
    ],
  ])("onboarding onto %s is refused and changes nothing", async (_what, body, status, code) => {
    await send("onboard", onboardBody("sensor-1", cc.pems[0]!));
    const before = await registrySnapshot(cc.world.iotClient);
    const r = await send("onboard", body());
    expect(r.statusCode).toBe(status);
    expect(r.json.error.code).toBe(code);
    expect(await registrySnapshot(cc.world.iotClient)).toEqual(before);
  });

  it("onboarding a certificate that is already registered is refused and undoes nothing else", async () => {
    await send("onboard", onboardBody("sensor-1", cc.pems[0]!));
    const before = await registrySnapshot(cc.world.iotClient);
    const r = await send("onboard", onboardBody("sensor-8", cc.pems[0]!));
    expect(r.statusCode).toBe(409);
    expect(r.json.error.code).toBe("CertificateExists");
    expect(await registrySnapshot(cc.world.iotClient)).toEqual(before);
  });

  it("suspending or decommissioning what does not exist is a 404", async () => {
    expect((await send("suspend", { certificateId: "a".repeat(64) })).statusCode).toBe(404);
    expect((await send("resume", { thingName: "ghost" })).statusCode).toBe(404);
    expect((await send("decommission", { thingName: "ghost" })).statusCode).toBe(404);
  });

  it("a command whose journal write fails answers 503, and its retry journals and answers without redoing it", async () => {
    const key = newKey();
    const failing = cc.world.deps({
      journal: async () => {
        throw Object.assign(new Error("ops table unavailable"), { name: "ServiceUnavailable" });
      },
    });
    const first = await handleCommand(
      commandEvent("onboard", onboardBody("sensor-4", cc.pems[3]!), key),
      failing,
    );
    expect(first.statusCode).toBe(503);
    expect(JSON.parse(first.body).error.code).toBe("JournalPending");
    expect(await opsRecords(cc.world.opsDoc)).toEqual(new Map());
    const applied = await registrySnapshot(cc.world.iotClient);

    const retry = await send("onboard", onboardBody("sensor-4", cc.pems[3]!), key);
    expect(retry.statusCode).toBe(201);
    expect(await registrySnapshot(cc.world.iotClient)).toEqual(applied);
    expect((await opsRecords(cc.world.opsDoc)).get("thing#sensor-4")?.tombstone).toBe(false);
  });

  it("a command already running under the same key is answered 409", async () => {
    const key = newKey();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = cc.world.deps({
      journal: async (keys) => {
        await gate;
        await cc.world.deps().journal(keys);
      },
    });
    const first = handleCommand(commandEvent("onboard", onboardBody("sensor-5", cc.pems[1]!), key), slow);
    // Wait until the first request holds the key.
    for (
      let i = 0;
      i < 200 && ((await registrySnapshot(cc.world.iotClient)) as { things: unknown[] }).things.length === 0;
      i++
    ) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const second = await send("onboard", onboardBody("sensor-5", cc.pems[1]!), key);
    expect(second.statusCode).toBe(409);
    expect(second.json.error.code).toBe("CommandInProgress");
    release();
    expect((await first).statusCode).toBe(201);
  });
});
