/**
 * The server-side move across its whole seam (issue #16, item 3): a health-check alarm as SNS hands
 * it to every subscriber of the alarm topic -> the healthy region's mover, run from its archive as
 * the global stack plans it (fresh Node process, declared runtime) -> STS on moto (the failing
 * region's mover role) -> that region's presence table on moto, filled from a real broker's
 * connections through the presence rule's projection -> IoT's data-plane DeleteConnection
 * (emulated over TLS, SigV4 region checked) dropping aedes clients by id -> real FailoverClients
 * reconnecting where DNS now points.
 */
import { CreateTableCommand, DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import { marshall } from "@aws-sdk/util-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { noticeFor } from "../../functions/health/notifier.js";
import { FailoverDns } from "../../infra/failoverDns.js";
import { PresenceRecorder, ServerSideMover } from "../../infra/serverSideMover.js";
import { waitFor } from "../device/harness.js";
import { recordPresence } from "../../peers/emulators/presenceEvents.js";
import { useMoto } from "../support/useMoto.js";
import { DEVICES, ENDPOINT, startMoveScene, type MoveScene } from "./moveScene.js";
import { invokeSerialized, serializedCallback, type InvokeResult } from "../support/serialized.js";
import { snsAlarmEvent } from "./alarmEvent.js";
import { ALARM_ROUTED_DEVICES, IOT_ACCOUNT, named, provider, SHARED_ACCOUNT, underMocks } from "./mocks.js";

const RATE = 20;
const EXTERNAL_ID = "ext-health";
const TABLE = "presence-us-east-1";
const MOVER_ROLE = {
  "us-east-1": `arn:aws:iam::${IOT_ACCOUNT}:role/mover-us-east-1`,
  "us-west-2": `arn:aws:iam::${IOT_ACCOUNT}:role/mover-us-west-2`,
};

describe("on the primary's alarm, the secondary's mover closes the primary's connections by client id", () => {
  const moto = useMoto({ resetBeforeEach: false });
  let scene: MoveScene;
  let presence: ReturnType<typeof recordPresence>;
  /** Each mover's archive, by the region it runs in. */
  const invoke: Record<string, (event: unknown, env?: Record<string, string>) => Promise<InvokeResult>> = {};
  let alarms: Array<{ alarmName: string; region: string }>;
  let tableSchema: Record<string, unknown>;

  beforeAll(async () => {
    scene = await startMoveScene();
    const { a, plane, tls } = scene;

    // The movers and the presence table as the stacks plan them (only endpoints and ARNs are the test's).
    const run = await underMocks(() => {
      const sharedEast = provider("shared-primary", "us-east-1", SHARED_ACCOUNT);
      const sharedWest = provider("shared-secondary", "us-west-2", SHARED_ACCOUNT);
      new PresenceRecorder(
        "presence-primary",
        {
          ruleName: "iot_dr_presence_test_us_east_1",
          moverAccountId: SHARED_ACCOUNT,
          externalId: EXTERNAL_ID,
        },
        { provider: provider("iot-primary", "us-east-1", IOT_ACCOUNT) },
      );
      const dnsComponent = new FailoverDns(
        "failover",
        {
          ...ALARM_ROUTED_DEVICES,
          alarmProvider: sharedEast,
        },
        { provider: sharedEast },
      );
      new ServerSideMover(
        "server-side-move",
        {
          regions: [
            {
              provider: sharedEast,
              target: {
                region: "us-east-1",
                dataEndpoint: plane.endpoint,
                roleArn: MOVER_ROLE["us-east-1"],
                presenceTable: TABLE,
              },
            },
            {
              provider: sharedWest,
              target: {
                region: "us-west-2",
                dataEndpoint: "dataplane.us-west-2.invalid",
                roleArn: MOVER_ROLE["us-west-2"],
                presenceTable: "presence-us-west-2",
              },
            },
          ],
          alarms: [
            { alarmName: dnsComponent.alarmNames.primary, region: "us-east-1" },
            { alarmName: dnsComponent.alarmNames.secondary, region: "us-west-2" },
          ],
          alarmTopicArn: dnsComponent.alarmTopicArn,
          alarmProvider: sharedEast,
          externalId: EXTERNAL_ID,
          ratePerSecond: RATE,
          waitSeconds: 1,
        },
        { provider: sharedEast },
      );
    });
    tableSchema = named(run.resources, "aws:dynamodb/table:Table", "presence-primary-table").inputs;
    for (const region of ["us-east-1", "us-west-2"]) {
      const fn = named(run.resources, "aws:lambda/function:Function", `server-side-move-${region}-fn`);
      const env = (fn.inputs.environment as { variables: Record<string, string> }).variables;
      alarms = JSON.parse(env.MOVER_ALARMS!) as typeof alarms;
      const code = await serializedCallback(fn.inputs);
      invoke[region] = (event, extra = {}) =>
        invokeSerialized(code, event, {
          ...moto.env(region),
          ...env,
          NODE_EXTRA_CA_CERTS: tls.caFile,
          ...extra,
        });
    }

    // The presence table in the IoT account, reached as the rule and the mover reach it (the mover role).
    const sts = new STSClient(moto.clientConfig("us-east-1"));
    const assumed = await sts.send(
      new AssumeRoleCommand({
        RoleArn: MOVER_ROLE["us-east-1"],
        RoleSessionName: "rule",
        ExternalId: EXTERNAL_ID,
      }),
    );
    const db = new DynamoDBClient({
      ...moto.clientConfig("us-east-1"),
      credentials: {
        accessKeyId: assumed.Credentials!.AccessKeyId!,
        secretAccessKey: assumed.Credentials!.SecretAccessKey!,
        sessionToken: assumed.Credentials!.SessionToken!,
      },
    });
    const attributes = tableSchema.attributes as Array<{ name: string; type: "S" | "N" }>;
    await db.send(
      new CreateTableCommand({
        TableName: TABLE,
        KeySchema: [
          { AttributeName: tableSchema.hashKey as string, KeyType: "HASH" },
          { AttributeName: tableSchema.rangeKey as string, KeyType: "RANGE" },
        ],
        AttributeDefinitions: attributes.map((x) => ({ AttributeName: x.name, AttributeType: x.type })),
        BillingMode: "PAY_PER_REQUEST",
      }),
    );
    presence = recordPresence(a.aedes, async (item) => {
      await db.send(new PutItemCommand({ TableName: TABLE, Item: marshall(item) }));
    });
    // A stale item: its disconnect event never arrived (DeleteConnection answers 404 for it).
    await db.send(
      new PutItemCommand({
        TableName: TABLE,
        Item: marshall({ clientId: "gone-long-ago", versionNumber: 3, eventType: "connected", timestamp: 1 }),
      }),
    );

    // Only the server-side disconnect may move them here: no notice, no periodic re-resolution.
    await scene.startFleet();
    // device-0's connection drops once before the fault (it reconnects to the same region): the
    // items of its older connection must neither hide it nor list it twice.
    expect(a.closeClient("device-0")).toBe(true);
    await waitFor(
      "device-0 reconnected",
      () => presence.events.filter((e) => e.clientId === "device-0").length === 3,
    );
    await presence.settled();
  }, 120_000);

  afterAll(() => scene?.stop());

  const primaryAlarm = () => alarms.find((x) => x.region === "us-east-1")!.alarmName;

  it("the mover and the notifier read the same alarm the same way", () => {
    const message = JSON.parse(
      snsAlarmEvent({ alarmName: primaryAlarm(), messageId: "m-1" }).Records[0]!.Sns.Message,
    ) as Parameters<typeof noticeFor>[0];
    expect(noticeFor(message, "m-1", { alarms, regions: ["us-east-1", "us-west-2"] })).toMatchObject({
      type: "failover",
      fromRegion: "us-east-1",
      targetRegion: "us-west-2",
    });
  });

  it("the failing region's own mover, and a recovery notice, move nobody", async () => {
    const own = await invoke["us-east-1"]!(snsAlarmEvent({ alarmName: primaryAlarm(), messageId: "m-2" }));
    expect(own.error).toBeUndefined();
    expect(own.result).toEqual({ ignored: 1, alreadyClaimed: [], moves: [] });
    const recovered = await invoke["us-west-2"]!(
      snsAlarmEvent({ alarmName: primaryAlarm(), messageId: "m-3", newState: "OK" }),
    );
    expect(recovered.result).toEqual({ ignored: 1, alreadyClaimed: [], moves: [] });
    expect(scene.plane.disconnects).toEqual([]);
  }, 60_000);

  it("moves every device connected to the failing region once, paced, keeping sessions and suppressing last wills, when SNS delivers the alarm twice at once", async () => {
    // Route 53 has flipped (that is what the alarm follows); the devices get no notice.
    scene.dns.setRecord(ENDPOINT, scene.b.host, 300);
    // SNS delivers at least once: the same message reaches the mover twice, concurrently.
    const event = snsAlarmEvent({ alarmName: primaryAlarm(), messageId: "m-4" });
    const runs = await Promise.all([invoke["us-west-2"]!(event), invoke["us-west-2"]!(event)]);
    expect(runs.map((r) => r.error)).toEqual([undefined, undefined]);
    const results = runs.map((r) => r.result as { alreadyClaimed: unknown[]; moves: unknown[] });
    const run = runs[results.findIndex((r) => r.moves.length > 0)]!;
    const skipped = results.find((r) => r.moves.length === 0);
    // The second invocation found the first one's claim and moved nobody.
    expect(skipped).toEqual({
      ignored: 0,
      alreadyClaimed: [
        {
          noticeId: "m-4",
          fromRegion: "us-east-1",
          claim: `${primaryAlarm()}@2026-12-03T17:01:02.345+0000`,
          state: expect.stringMatching(/^(running|done)$/),
        },
      ],
      moves: [],
    });
    expect(run.result).toEqual({
      ignored: 0,
      alreadyClaimed: [],
      moves: [
        {
          noticeId: "m-4",
          fromRegion: "us-east-1",
          targetRegion: "us-west-2",
          listed: DEVICES + 1,
          beyondDeadline: 0,
          disconnected: DEVICES,
          notConnected: 1,
          failed: 0,
          skipped: 0,
          duplicates: 0,
        },
      ],
    });
    // Each id once (the emulator answers only requests signed for us-east-1's data plane).
    const ids = scene.plane.disconnects.map((d) => d.clientId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.sort()).toEqual([...scene.clients.map((c) => c.clientId), "gone-long-ago"].sort());
    expect(scene.plane.disconnects.every((d) => !d.cleanSession && d.preventWillMessage)).toBe(true);
    // Paced: the calls cannot have been spread over less than (n - 1) spacings.
    const at = scene.plane.disconnects.map((d) => d.at);
    expect(Math.max(...at) - Math.min(...at)).toBeGreaterThanOrEqual(((at.length - 1) * 1000) / RATE - 50);

    await waitFor("every device on the healthy region", () =>
      scene.clients.every((c) => c.target?.address === scene.b.host),
    );
    // A delivery after the move has finished finds it done, and moves nobody either.
    const late = await invoke["us-west-2"]!(event);
    expect(late.result).toMatchObject({ moves: [], alreadyClaimed: [{ noticeId: "m-4", state: "done" }] });
    expect(scene.plane.disconnects.length).toBe(DEVICES + 1);
    for (const c of scene.clients)
      expect(c.counters).toMatchObject({ moves: 1, disconnects: c.clientId === "device-0" ? 2 : 1 });
    expect(
      presence.events.filter((e) => e.clientId === "device-0").map((e) => [e.eventType, e.versionNumber]),
    ).toEqual([
      ["connected", 0],
      ["disconnected", 0],
      ["connected", 1],
      ["disconnected", 1],
    ]);
  }, 60_000);

  it("a failing region whose data plane stopped answering is given up, without failing the invocation", async () => {
    scene.plane.setDown(true);
    try {
      // Everyone has moved, but the table still lists the stale client: it is tried, and refused.
      await presence.settled();
      // A later transition (the alarm went OK and back to ALARM): a claim of its own.
      const run = await invoke["us-west-2"]!(
        snsAlarmEvent({
          alarmName: primaryAlarm(),
          messageId: "m-5",
          stateChangeTime: "2026-12-03T18:01:02.345+0000",
        }),
      );
      expect(run.error).toBeUndefined();
      const move = (run.result as { moves: Array<Record<string, number>> }).moves[0]!;
      expect(move).toMatchObject({ listed: 1, disconnected: 0, failed: 1 });
    } finally {
      scene.plane.setDown(false);
    }
  }, 60_000);

  it("a presence table the mover cannot read fails the invocation (SNS retries) and disconnects nobody", async () => {
    const before = scene.plane.disconnects.length;
    const event = snsAlarmEvent({
      alarmName: primaryAlarm(),
      messageId: "m-6",
      stateChangeTime: "2026-12-03T19:01:02.345+0000",
    });
    const run = await invoke["us-west-2"]!(event, {
      MOVER_TARGETS: JSON.stringify([
        {
          region: "us-east-1",
          dataEndpoint: scene.plane.endpoint,
          roleArn: MOVER_ROLE["us-east-1"],
          presenceTable: "no-such-table",
        },
        { region: "us-west-2", dataEndpoint: "x", roleArn: MOVER_ROLE["us-west-2"], presenceTable: "y" },
      ]),
    });
    expect(run.error?.name).toBe("ResourceNotFoundException");
    expect(scene.plane.disconnects.length).toBe(before);
  }, 60_000);
});
