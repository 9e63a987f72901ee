import { execFileSync } from "node:child_process";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import * as iot from "@aws-sdk/client-iot";
import { IoTClient } from "@aws-sdk/client-iot";
import { useMoto } from "../../support/useMoto.js";
import { dependencyOrder, type RegistryRecord } from "../../../functions/registry/records.js";
import { getRecord } from "../../../functions/registry/table.js";
import { applyRecord } from "../../../functions/replication/apply.js";
import {
  captureDelivery,
  captureEvent,
  type CaptureOutcome,
} from "../../../functions/replication/capture.js";
import {
  CLOUDTRAIL_EVENT_PATTERN,
  captureEventPattern,
  parseCloudTrailEvent,
  type CloudTrailApiCallEvent,
} from "../../../functions/replication/cloudTrail.js";
import { matchesFilter } from "../../../functions/replication/streamFilter.js";
import { emitCloudTrailEvents, type CloudTrailEmulator } from "../../../peers/emulators/cloudTrailEvents.js";
import { policyDoc, REGION_A, snapshot, world, type Region, type World } from "./support.js";
import { seeded } from "../../support/random.js";

const csr = () =>
  execFileSync(
    "openssl",
    [
      "req",
      "-new",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      "/dev/null",
      "-subj",
      "/CN=csr-device",
    ],
    { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
  );

describe("changes announced only by IoT's CloudTrail events reach the other region", () => {
  const moto = useMoto();
  let w: World;
  /** Region A's operator: calls made directly (not through C&C), observed only by CloudTrail. */
  let direct: IoTClient;
  let trail: CloudTrailEmulator;
  const pems: string[] = [];

  beforeAll(async () => {
    // Certificates made elsewhere, to register in region A.
    const scratch = new IoTClient(moto.clientConfig("ap-south-1"));
    for (let i = 0; i < 3; i++)
      pems.push((await scratch.send(new iot.CreateKeysAndCertificateCommand({}))).certificatePem!);
  });
  beforeEach(async () => {
    w = world(moto);
    direct = new IoTClient(moto.clientConfig(REGION_A));
    trail = emitCloudTrailEvents(direct, { region: REGION_A });
  });

  const call = <T>(command: unknown) => direct.send(command as never) as Promise<T>;

  /** Captures the deliveries in `from` and applies every record written, in dependency order, to `to`. */
  async function deliver(events: readonly unknown[], from: Region = w.a, to: Region = w.b) {
    const captured: CaptureOutcome[] = [];
    for (const e of events) captured.push(...(await captureDelivery(e as never, w.captureDeps(from))));
    const written = [...new Set(captured.filter((c) => c.result === "written").map((c) => c.key))];
    const records: RegistryRecord[] = [];
    for (const key of written) records.push((await getRecord(w.table, key))!);
    // As the state machine does: a record whose dependency is not there yet is retried after the others.
    const waiting: RegistryRecord[] = [];
    for (const r of dependencyOrder(records))
      await applyRecord(r, w.applyDeps(to)).catch((err: Error) => {
        if (err.name !== "DependencyNotReady") throw err;
        waiting.push(r);
      });
    for (const r of waiting) await applyRecord(r, w.applyDeps(to));
    return captured;
  }
  const deliverTrail = () => deliver(trail.take());
  /** Things and groups come from registry events (their own path); created in A and replicated first. */
  async function thingsAndGroups(things: string[], groups: string[] = []) {
    for (const g of groups) await w.a.client.send(new iot.CreateThingGroupCommand({ thingGroupName: g }));
    for (const t of things) await w.a.client.send(new iot.CreateThingCommand({ thingName: t }));
    await w.replicate(w.a.events.take(), w.a, w.b);
  }

  it("CreateKeysAndCertificate, UpdateCertificate (INACTIVE, ACTIVE, REVOKED) and DeleteCertificate reach the target", async () => {
    const cert = await call<iot.CreateKeysAndCertificateCommandOutput>(
      new iot.CreateKeysAndCertificateCommand({ setAsActive: true }),
    );
    const id = cert.certificateId!;
    const events = trail.take();
    expect(events.map((e) => e.detail.eventName)).toEqual(["CreateKeysAndCertificate"]);
    expect(JSON.stringify(events)).not.toContain("PRIVATE KEY");
    await deliver(events);
    expect(await w.b.port.describeCertificate(id)).toMatchObject({ status: "ACTIVE" });

    for (const status of ["INACTIVE", "ACTIVE", "REVOKED"] as const) {
      await call(new iot.UpdateCertificateCommand({ certificateId: id, newStatus: status }));
      await deliverTrail();
      expect((await w.b.port.describeCertificate(id))?.status).toBe(status);
    }
    await call(new iot.DeleteCertificateCommand({ certificateId: id }));
    await deliverTrail();
    expect(await w.b.port.describeCertificate(id)).toBeNull();
    expect((await getRecord(w.table, `certificate#${id}`))?.state).toBeNull();
  });

  it("RegisterCertificateWithoutCA, RegisterCertificate and CreateCertificateFromCsr reach the target", async () => {
    const a = await call<iot.RegisterCertificateWithoutCACommandOutput>(
      new iot.RegisterCertificateWithoutCACommand({ certificatePem: pems[0], status: "INACTIVE" }),
    );
    const b = await call<iot.RegisterCertificateCommandOutput>(
      new iot.RegisterCertificateCommand({
        certificatePem: pems[1],
        caCertificatePem: pems[2],
        status: "ACTIVE",
      }),
    );
    const c = await call<iot.CreateCertificateFromCsrCommandOutput>(
      new iot.CreateCertificateFromCsrCommand({ certificateSigningRequest: csr(), setAsActive: true }),
    );
    await deliverTrail();
    expect((await w.b.port.describeCertificate(a.certificateId!))?.status).toBe("INACTIVE");
    expect((await w.b.port.describeCertificate(b.certificateId!))?.status).toBe("ACTIVE");
    expect(await w.b.port.describeCertificate(c.certificateId!)).toMatchObject({
      status: "ACTIVE",
      pem: (await w.a.port.describeCertificate(c.certificateId!))!.pem,
    });
  });

  it("CreatePolicy, CreatePolicyVersion, SetDefaultPolicyVersion, DeletePolicyVersion and DeletePolicy: the target enforces the source's default document", async () => {
    await call(new iot.CreatePolicyCommand({ policyName: "p", policyDocument: policyDoc("iot:Connect") }));
    await deliverTrail();
    expect(JSON.parse((await w.b.port.getPolicy("p"))!.document)).toEqual(
      JSON.parse(policyDoc("iot:Connect")),
    );

    await call(
      new iot.CreatePolicyVersionCommand({
        policyName: "p",
        policyDocument: policyDoc("iot:Publish"),
        setAsDefault: true,
      }),
    );
    await deliverTrail();
    expect(JSON.parse((await w.b.port.getPolicy("p"))!.document)).toEqual(
      JSON.parse(policyDoc("iot:Publish")),
    );

    await call(new iot.SetDefaultPolicyVersionCommand({ policyName: "p", policyVersionId: "1" }));
    await deliverTrail();
    expect(JSON.parse((await w.b.port.getPolicy("p"))!.document)).toEqual(
      JSON.parse(policyDoc("iot:Connect")),
    );

    await call(new iot.DeletePolicyVersionCommand({ policyName: "p", policyVersionId: "2" }));
    const [deleteVersion] = trail.take();
    expect(parseCloudTrailEvent(deleteVersion).keys).toEqual(["policy#p"]);
    await deliver([deleteVersion]);
    expect(JSON.parse((await w.b.port.getPolicy("p"))!.document)).toEqual(
      JSON.parse(policyDoc("iot:Connect")),
    );

    await call(new iot.DeletePolicyCommand({ policyName: "p" }));
    await deliverTrail();
    expect(await w.b.port.getPolicy("p")).toBeNull();
  });

  it("AttachPolicy and DetachPolicy on a certificate and on a thing group, and the deprecated principal-policy calls, reach the target", async () => {
    await thingsAndGroups([], ["plant"]);
    const cert = await call<iot.CreateKeysAndCertificateCommandOutput>(
      new iot.CreateKeysAndCertificateCommand({ setAsActive: true }),
    );
    await call(new iot.CreatePolicyCommand({ policyName: "p", policyDocument: policyDoc("iot:Connect") }));
    await call(new iot.CreatePolicyCommand({ policyName: "q", policyDocument: policyDoc("iot:Publish") }));
    await deliverTrail();
    const groupArn = (await w.a.reader.send(new iot.DescribeThingGroupCommand({ thingGroupName: "plant" })))
      .thingGroupArn!;
    const certTarget = { type: "certificate" as const, certificateId: cert.certificateId! };
    const groupTarget = { type: "thingGroup" as const, groupName: "plant" };

    await call(new iot.AttachPolicyCommand({ policyName: "p", target: cert.certificateArn! }));
    await call(new iot.AttachPolicyCommand({ policyName: "p", target: groupArn }));
    await call(new iot.AttachPrincipalPolicyCommand({ policyName: "q", principal: cert.certificateArn! }));
    await deliverTrail();
    expect((await w.b.port.listAttachedPolicies(certTarget)).sort()).toEqual(["p", "q"]);
    expect(await w.b.port.listAttachedPolicies(groupTarget)).toEqual(["p"]);

    await call(new iot.DetachPolicyCommand({ policyName: "p", target: cert.certificateArn! }));
    await call(new iot.DetachPolicyCommand({ policyName: "p", target: groupArn }));
    await call(new iot.DetachPrincipalPolicyCommand({ policyName: "q", principal: cert.certificateArn! }));
    await deliverTrail();
    expect(await w.b.port.listAttachedPolicies(certTarget)).toEqual([]);
    expect(await w.b.port.listAttachedPolicies(groupTarget)).toEqual([]);
  });

  it("AttachThingPrincipal and DetachThingPrincipal reach the target, bringing the certificate along", async () => {
    await thingsAndGroups(["t1"]);
    const cert = await call<iot.CreateKeysAndCertificateCommandOutput>(
      new iot.CreateKeysAndCertificateCommand({ setAsActive: true }),
    );
    trail.take(); // only the attach is delivered: its related certificate is filled in
    await call(new iot.AttachThingPrincipalCommand({ thingName: "t1", principal: cert.certificateArn! }));
    await deliverTrail();
    expect(await w.b.port.listThingPrincipals("t1")).toEqual([cert.certificateId]);
    expect((await w.b.port.describeCertificate(cert.certificateId!))?.status).toBe("ACTIVE");

    await call(new iot.DetachThingPrincipalCommand({ thingName: "t1", principal: cert.certificateArn! }));
    await deliverTrail();
    expect(await w.b.port.listThingPrincipals("t1")).toEqual([]);
  });

  it("a certificate rotated outside C&C (new one attached, old one detached, deactivated, deleted) converges", async () => {
    await thingsAndGroups(["dev"]);
    await call(
      new iot.CreatePolicyCommand({ policyName: "device", policyDocument: policyDoc("iot:Connect") }),
    );
    const old = await call<iot.CreateKeysAndCertificateCommandOutput>(
      new iot.CreateKeysAndCertificateCommand({ setAsActive: true }),
    );
    await call(new iot.AttachPolicyCommand({ policyName: "device", target: old.certificateArn! }));
    await call(new iot.AttachThingPrincipalCommand({ thingName: "dev", principal: old.certificateArn! }));
    await deliverTrail();
    expect(await snapshot(w.b)).toEqual(await snapshot(w.a));

    const next = await call<iot.CreateKeysAndCertificateCommandOutput>(
      new iot.CreateKeysAndCertificateCommand({ setAsActive: true }),
    );
    await call(new iot.AttachPolicyCommand({ policyName: "device", target: next.certificateArn! }));
    await call(new iot.AttachThingPrincipalCommand({ thingName: "dev", principal: next.certificateArn! }));
    await call(new iot.DetachThingPrincipalCommand({ thingName: "dev", principal: old.certificateArn! }));
    await call(
      new iot.UpdateCertificateCommand({ certificateId: old.certificateId!, newStatus: "INACTIVE" }),
    );
    await call(new iot.DetachPolicyCommand({ policyName: "device", target: old.certificateArn! }));
    await call(new iot.DeleteCertificateCommand({ certificateId: old.certificateId! }));
    await deliverTrail();
    expect(await snapshot(w.b)).toEqual(await snapshot(w.a));
    expect(await w.b.port.describeCertificate(old.certificateId!)).toBeNull();
    expect(await w.b.port.listThingPrincipals("dev")).toEqual([next.certificateId]);
  });

  it("shuffled and duplicated deliveries converge on the source's state", async () => {
    await thingsAndGroups(["d1", "d2"]);
    const c1 = await call<iot.CreateKeysAndCertificateCommandOutput>(
      new iot.CreateKeysAndCertificateCommand({ setAsActive: true }),
    );
    const c2 = await call<iot.CreateKeysAndCertificateCommandOutput>(
      new iot.CreateKeysAndCertificateCommand({ setAsActive: false }),
    );
    await call(new iot.CreatePolicyCommand({ policyName: "p", policyDocument: policyDoc("iot:Connect") }));
    await call(new iot.AttachPolicyCommand({ policyName: "p", target: c1.certificateArn! }));
    await call(new iot.AttachThingPrincipalCommand({ thingName: "d1", principal: c1.certificateArn! }));
    await call(new iot.AttachThingPrincipalCommand({ thingName: "d2", principal: c2.certificateArn! }));
    await call(new iot.UpdateCertificateCommand({ certificateId: c2.certificateId!, newStatus: "ACTIVE" }));
    await call(new iot.UpdateCertificateCommand({ certificateId: c1.certificateId!, newStatus: "REVOKED" }));
    await call(
      new iot.CreatePolicyVersionCommand({
        policyName: "p",
        policyDocument: policyDoc("iot:Publish"),
        setAsDefault: true,
      }),
    );
    await call(new iot.DetachThingPrincipalCommand({ thingName: "d1", principal: c1.certificateArn! }));
    const events = trail.take();
    const random = seeded(7);
    const deliveries: CloudTrailApiCallEvent[] = [...events, ...events.filter(() => random() < 0.5)];
    for (let i = deliveries.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [deliveries[i], deliveries[j]] = [deliveries[j], deliveries[i]];
    }
    await deliver(deliveries);
    expect(await snapshot(w.b)).toEqual(await snapshot(w.a));
    expect((await w.b.port.describeCertificate(c1.certificateId!))?.status).toBe("REVOKED");
  });

  it("replay's own writes in the target come back as CloudTrail events there and write nothing (echo-free)", async () => {
    const replayTrail = emitCloudTrailEvents(w.b.client, { region: w.b.name });
    const cert = await call<iot.CreateKeysAndCertificateCommandOutput>(
      new iot.CreateKeysAndCertificateCommand({ setAsActive: true }),
    );
    await call(new iot.CreatePolicyCommand({ policyName: "p", policyDocument: policyDoc("iot:Connect") }));
    await call(new iot.AttachPolicyCommand({ policyName: "p", target: cert.certificateArn! }));
    await call(
      new iot.UpdateCertificateCommand({ certificateId: cert.certificateId!, newStatus: "REVOKED" }),
    );
    await deliverTrail();
    const echoes = replayTrail.take();
    expect(echoes.map((e) => e.detail.eventName).sort()).toEqual(
      ["AttachPolicy", "CreatePolicy", "RegisterCertificateWithoutCA", "UpdateCertificate"].sort(),
    );
    const captured: CaptureOutcome[] = [];
    for (const e of echoes) captured.push(...(await captureDelivery(e, w.captureDeps(w.b))));
    expect(captured.filter((c) => c.result === "written")).toEqual([]);
  });

  it("the deployed rule leaves replay's own calls in the target out, and passes an operator's and other roles' calls there", async () => {
    const account = "123456789012";
    const replayRole = `arn:aws:iam::${account}:role/iot-dr-secondary-replay-role-1a2b3c`;
    const rule = captureEventPattern([replayRole]);
    // Replay in B calls IoT as its function's role; the events reach capture only through the rule.
    const replayTrail = emitCloudTrailEvents(w.b.client, {
      region: w.b.name,
      accountId: account,
      caller: { roleArn: replayRole, sessionName: "iot-dr-secondary-replay-fn" },
      pattern: rule,
    });
    const cert = await call<iot.CreateKeysAndCertificateCommandOutput>(
      new iot.CreateKeysAndCertificateCommand({ setAsActive: true }),
    );
    await call(new iot.CreatePolicyCommand({ policyName: "p", policyDocument: policyDoc("iot:Connect") }));
    await call(new iot.AttachPolicyCommand({ policyName: "p", target: cert.certificateArn! }));
    await deliverTrail();
    // Replay made the calls (the target holds their state), and no event of them reached capture.
    expect(await snapshot(w.b)).toEqual(await snapshot(w.a));
    expect(replayTrail.take()).toEqual([]);

    // The same rule passes what anyone else does in B: an operator's IAM user, another role.
    const idB = (await w.b.port.describeCertificate(cert.certificateId!))!.certificateId;
    const others: CloudTrailApiCallEvent[] = [];
    for (const caller of [
      { userArn: `arn:aws:iam::${account}:user/operator` },
      { roleArn: `arn:aws:iam::${account}:role/ci-deploy`, sessionName: "pipeline" },
      // A role whose name starts like replay's is still another role.
      { roleArn: `${replayRole}-other` },
    ]) {
      const client = new IoTClient(moto.clientConfig(w.b.name));
      const observed = emitCloudTrailEvents(client, {
        region: w.b.name,
        accountId: account,
        caller,
        pattern: rule,
      });
      const status = others.length % 2 === 0 ? "INACTIVE" : "ACTIVE";
      await client.send(new iot.UpdateCertificateCommand({ certificateId: idB, newStatus: status }));
      const events = observed.take();
      expect(events.map((e) => e.detail.eventName)).toEqual(["UpdateCertificate"]);
      others.push(...events);
    }
    // Each is a local change in B, captured there.
    for (const e of others) {
      const captured = await captureDelivery(e, w.captureDeps(w.b));
      expect(captured).toEqual([expect.objectContaining({ key: `certificate#${idB}`, result: "written" })]);
    }
  });

  it("the rule's pattern, as EventBridge evaluates it, on the caller identities CloudTrail documents", () => {
    const replayRole = "arn:aws:iam::123456789012:role/service-role/replay";
    const rule = captureEventPattern([replayRole]);
    const event = (userIdentity: Record<string, unknown>) => ({
      source: "aws.iot",
      "detail-type": "AWS API Call via CloudTrail",
      detail: { eventSource: "iot.amazonaws.com", eventName: "AttachPolicy", userIdentity },
    });
    const role = (arn: string) => ({
      type: "AssumedRole",
      arn: "arn:aws:sts::123456789012:assumed-role/x/s",
      sessionContext: { sessionIssuer: { type: "Role", arn } },
    });
    expect(matchesFilter(rule, event(role(replayRole)))).toBe(false);
    expect(matchesFilter(rule, event(role("arn:aws:iam::123456789012:role/operator")))).toBe(true);
    expect(matchesFilter(rule, event({ type: "IAMUser", arn: "arn:aws:iam::123456789012:user/ops" }))).toBe(
      true,
    );
    expect(matchesFilter(rule, event({ type: "Root", arn: "arn:aws:iam::123456789012:root" }))).toBe(true);
    expect(matchesFilter(rule, event({ type: "AWSService", invokedBy: "iot.amazonaws.com" }))).toBe(true);
    // An assumed role that names no issuer is not taken for replay's: nothing is left out
    // unless CloudTrail names replay's role.
    expect(matchesFilter(rule, event({ type: "AssumedRole" }))).toBe(true);
    expect(matchesFilter(rule, event({ type: "AssumedRole", sessionContext: {} }))).toBe(true);
    // Other calls than capture's stay out whoever makes them; no replay role: every caller passes.
    expect(
      matchesFilter(rule, {
        ...event(role("x")),
        detail: { ...event(role("x")).detail, eventName: "ListThings" },
      }),
    ).toBe(false);
    expect(captureEventPattern([])).toEqual(CLOUDTRAIL_EVENT_PATTERN);
    expect(() => captureEventPattern(["replay"])).toThrow(/not an IAM role ARN.*replay function's role ARN/);
    expect(() => matchesFilter({ $or: [{ a: ["x"] }] } as never, {})).toThrow(
      /\$or must list at least two patterns/,
    );
  });

  it("iot-dr's own policy and the certificate it guards are never recorded; an operator's iot-dr-device policy is", async () => {
    await call(
      new iot.CreatePolicyCommand({ policyName: "iot-dr-device", policyDocument: policyDoc("iot:Connect") }),
    );
    expect(await deliverTrail()).toEqual([
      expect.objectContaining({ key: "policy#iot-dr-device", result: "written" }),
    ]);
    const cert = await call<iot.CreateKeysAndCertificateCommandOutput>(
      new iot.CreateKeysAndCertificateCommand({ setAsActive: true }),
    );
    await call(
      new iot.CreatePolicyCommand({
        policyName: "iot-dr-own-canary-us-east-1",
        policyDocument: policyDoc("iot:Connect"),
      }),
    );
    await call(
      new iot.AttachPolicyCommand({
        policyName: "iot-dr-own-canary-us-east-1",
        target: cert.certificateArn!,
      }),
    );
    const captured = await deliverTrail();
    expect(captured.filter((c) => c.result === "written")).toEqual([]);
    expect(new Set(captured.map((c) => c.result))).toEqual(new Set(["own"]));
    expect(await w.b.port.describeCertificate(cert.certificateId!)).toBeNull();
    expect(await w.b.port.getPolicy("iot-dr-own-canary-us-east-1")).toBeNull();
  });

  it("a just-in-time registration message is captured like the certificate's own event", async () => {
    const registered = await call<iot.RegisterCertificateWithoutCACommandOutput>(
      new iot.RegisterCertificateWithoutCACommand({ certificatePem: pems[0], status: "PENDING_ACTIVATION" }),
    );
    trail.take();
    const message = {
      topic: "$aws/events/certificates/registered/ca0123456789",
      payload: {
        certificateId: registered.certificateId,
        caCertificateId: "ca0123456789",
        timestamp: Date.now(),
        certificateStatus: "PENDING_ACTIVATION",
        awsAccountId: "123456789012",
        certificateRegistrationTimestamp: String(Date.now()),
      },
    };
    const out = await captureEvent(message, w.captureDeps(w.a));
    expect(out).toEqual([
      expect.objectContaining({ key: `certificate#${registered.certificateId}`, result: "written" }),
    ]);
    await deliver([]);
    const record = await getRecord(w.table, `certificate#${registered.certificateId}`);
    expect(record?.state).toMatchObject({ status: "INACTIVE" });
    await applyRecord(record!, w.applyDeps(w.b));
    expect((await w.b.port.describeCertificate(registered.certificateId!))?.status).toBe("INACTIVE");
  });

  it("a failed call changes nothing and is ignored; an event of another region is refused, naming both regions", async () => {
    const failed = {
      "detail-type": "AWS API Call via CloudTrail",
      source: "aws.iot",
      detail: {
        eventSource: "iot.amazonaws.com",
        eventName: "UpdateCertificate",
        eventID: "e-1",
        eventTime: "2026-12-03T10:00:00Z",
        awsRegion: REGION_A,
        errorCode: "ResourceNotFoundException",
        requestParameters: { certificateId: "a".repeat(64), newStatus: "REVOKED" },
        responseElements: null,
      },
    };
    expect(await captureDelivery(failed, w.captureDeps(w.a))).toEqual([]);
    const elsewhere = {
      ...failed,
      detail: { ...failed.detail, errorCode: undefined, awsRegion: "eu-central-1" },
    };
    await expect(captureDelivery(elsewhere, w.captureDeps(w.a))).rejects.toMatchObject({
      name: "InvalidRecord",
      message: expect.stringMatching(/eu-central-1.*us-east-1/),
    });
    const noId = { ...failed, detail: { ...failed.detail, errorCode: undefined, eventID: "" } };
    await expect(captureDelivery(noId, w.captureDeps(w.a))).rejects.toMatchObject({
      name: "InvalidRecord",
      message: expect.stringContaining("eventID"),
    });
  });
});
