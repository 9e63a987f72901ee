/**
 * The ops table's version gap: across regions DynamoDB global tables keep the last *written* item,
 * not the newest version. A region that captures late (changes from before an outage, delivered
 * after its restore) must neither stamp its older state with a newer version (capture), nor, when its
 * older write lands last, leave both replicas on it (the launcher writes the newer record back).
 */
import { executionOutput } from "../../support/replayOutput.js";
import { beforeEach, describe, expect, it } from "vitest";
import * as iot from "@aws-sdk/client-iot";
import { IoTClient } from "@aws-sdk/client-iot";
import { keys, toItem, versionKey, type RegistryRecord } from "../../../functions/registry/records.js";
import { getRecord, putRecordIfNewer, type TableItem } from "../../../functions/registry/table.js";
import { captureDelivery } from "../../../functions/replication/capture.js";
import { launchReplay, regressionOf } from "../../../functions/replication/launcher.js";
import { silentLogger } from "../../../functions/shared/observability.js";
import type { Clock } from "../../../functions/replication/pacing.js";
import type { ReplayBatchInput } from "../../../functions/replication/stateMachine.js";
import { emitCloudTrailEvents } from "../../../peers/emulators/cloudTrailEvents.js";
import { image, record } from "../infra/fixtures.js";
import { useMoto } from "../../support/useMoto.js";
import { REGION_A, REGION_B, policyDoc, world, type World } from "./support.js";

const T0 = Date.parse("2026-12-04T02:00:00Z");
const fixedClock = (now: number): Clock => ({ now: () => now, sleep: async () => {} });

describe("capture versions a change by when it was made, not by when it was read", () => {
  const moto = useMoto();
  let w: World;
  let direct: IoTClient;
  let callTime = T0;

  beforeEach(() => {
    w = world(moto);
    direct = new IoTClient(moto.clientConfig(REGION_A));
    callTime = T0;
  });

  /** Makes calls in region A at `at` and returns their CloudTrail events, not yet captured. */
  async function calls(at: number, ...commands: unknown[]) {
    callTime = at;
    const trail = emitCloudTrailEvents(direct, { region: REGION_A, clock: () => callTime });
    for (const c of commands) await direct.send(c as never);
    trail.detach();
    return trail.take();
  }

  it("a call delivered ten minutes late keeps the second it was made in", async () => {
    const events = await calls(
      T0,
      new iot.CreatePolicyCommand({ policyName: "late-1", policyDocument: policyDoc("iot:Connect") }),
    );
    const clock = fixedClock(T0 + 600_000);
    for (const e of events) await captureDelivery(e, w.captureDeps(w.a, clock));
    const stored = await getRecord(w.table, keys.policy("late-1"));
    expect(stored?.version.timestamp).toBeGreaterThanOrEqual(T0);
    // Before: max(read time, call time) = T0 + 600 s, newer than anything the standby did meanwhile.
    expect(stored?.version.timestamp).toBeLessThan(T0 + 1000);
  });

  it("a call captured within its second keeps the time of its read, so prompt captures keep their order", async () => {
    const events = await calls(
      T0,
      new iot.CreatePolicyCommand({ policyName: "prompt-1", policyDocument: policyDoc("iot:Connect") }),
    );
    for (const e of events) await captureDelivery(e, w.captureDeps(w.a, fixedClock(T0 + 300)));
    expect((await getRecord(w.table, keys.policy("prompt-1")))?.version.timestamp).toBe(T0 + 300);
  });

  it("a later local change whose state an earlier late capture already read moves the record's version up to it", async () => {
    const created = await calls(
      T0,
      new iot.CreatePolicyCommand({ policyName: "s-1", policyDocument: policyDoc("iot:Connect") }),
    );
    const updated = await calls(
      T0 + 5000,
      new iot.CreatePolicyVersionCommand({
        policyName: "s-1",
        policyDocument: policyDoc("iot:Publish"),
        setAsDefault: true,
      }),
    );
    const clock = fixedClock(T0 + 60_000);
    // Both delivered late, the create first: its read already sees the second document.
    for (const e of created) await captureDelivery(e, w.captureDeps(w.a, clock));
    const first = await getRecord(w.table, keys.policy("s-1"));
    expect(first?.state).toMatchObject({ document: expect.stringContaining("iot:Publish") });
    expect(first?.version.timestamp).toBeLessThan(T0 + 1000);
    const outcomes = [];
    for (const e of updated) outcomes.push(...(await captureDelivery(e, w.captureDeps(w.a, clock))));
    expect(outcomes.find((o) => o.key === keys.policy("s-1"))?.result).toBe("written");
    const after = await getRecord(w.table, keys.policy("s-1"));
    // The second document was made at T0 + 5 s: a change in the other region between T0 and then must lose to it.
    expect(after?.version.timestamp).toBeGreaterThanOrEqual(T0 + 5000);
    expect(after?.version.timestamp).toBeLessThan(T0 + 6000);
    expect(after?.state).toEqual(first?.state);
    // The same event again changes nothing.
    for (const e of updated)
      expect((await captureDelivery(e, w.captureDeps(w.a, clock)))[0]?.result).toBe("unchanged");
  });

  it("another region's record with the state just read is replay's echo and is never rewritten", async () => {
    const document = policyDoc("iot:Connect");
    const events = await calls(
      T0 + 5000,
      new iot.CreatePolicyCommand({ policyName: "e-1", policyDocument: document }),
    );
    const theirs: RegistryRecord = {
      ...record("policy", keys.policy("e-1"), { name: "e-1", document }, { origin: REGION_B }),
      version: { timestamp: T0, eventId: "b-1", region: REGION_B },
    };
    await putRecordIfNewer(w.table, theirs);
    for (const e of events)
      expect((await captureDelivery(e, w.captureDeps(w.a, fixedClock(T0 + 60_000))))[0]?.result).toBe(
        "unchanged",
      );
    expect((await getRecord(w.table, keys.policy("e-1")))?.origin).toBe(REGION_B);
  });
});

/** The stream record of a replicated write that replaced `before` with `after` in this replica. */
function replaced(before: RegistryRecord, after: RegistryRecord, sequence = "000000000000000000900") {
  return {
    eventID: `event-${sequence}`,
    eventName: "MODIFY" as const,
    eventSource: "aws:dynamodb",
    awsRegion: REGION_B,
    dynamodb: {
      Keys: { pk: { S: after.key } },
      OldImage: image(toItem(before) as unknown as Record<string, unknown>),
      NewImage: image(toItem(after) as unknown as Record<string, unknown>),
      SequenceNumber: sequence,
      StreamViewType: "NEW_AND_OLD_IMAGES" as const,
    },
  };
}

describe("the launcher writes back a record that an older replicated version replaced", () => {
  const thing = (fw: string, timestamp: number, origin: string): RegistryRecord => ({
    ...record("thing", keys.thing("s-1"), { name: "s-1", attributes: { fw } }, { origin }),
    version: { timestamp, eventId: `e-${fw}`, region: origin },
  });
  // The standby's change during the outage, and the recovering region's late capture of an older one.
  const standby = thing("3", T0 + 30_000, REGION_B);
  const late = thing("2", T0, REGION_A);

  function table(answer: () => Promise<boolean>) {
    const puts: { item: TableItem; condition?: { ifVersionBelow: string } }[] = [];
    return {
      puts,
      opsTable: {
        async put(item: TableItem, condition?: { ifVersionBelow: string }) {
          puts.push({ item, ...(condition ? { condition } : {}) });
          return answer();
        },
      },
    };
  }
  const executions: ReplayBatchInput<RegistryRecord>[] = [];
  const sfn = {
    async startSyncExecution(input: ReplayBatchInput<RegistryRecord>) {
      executions.push(input);
      return { status: "SUCCEEDED", output: executionOutput(input) };
    },
  };
  beforeEach(() => {
    executions.length = 0;
  });

  it("does not replay the older image, and puts the newer one back only over something older", async () => {
    const t = table(async () => true);
    const event = replaced(standby, late);
    expect(regressionOf(event)).toMatchObject({ pk: standby.key, versionKey: versionKey(standby.version) });
    const { response, summary } = await launchReplay(
      { Records: [event] },
      { region: REGION_B, logger: silentLogger, opsTable: t.opsTable, ...sfn },
    );
    expect(response.batchItemFailures).toEqual([]);
    expect(executions).toEqual([]);
    expect(summary.restored).toBe(1);
    expect(t.puts).toEqual([
      {
        item: toItem(standby) as unknown as TableItem,
        condition: { ifVersionBelow: versionKey(standby.version) },
      },
    ]);
  });

  it("replays a replicated write that carries a newer version as before", async () => {
    const t = table(async () => true);
    const event = replaced(late, standby);
    expect(regressionOf(event)).toBeUndefined();
    const { summary } = await launchReplay(
      { Records: [{ ...event, awsRegion: REGION_A }] },
      { region: REGION_A, logger: silentLogger, opsTable: t.opsTable, ...sfn },
    );
    expect(t.puts).toEqual([]);
    expect(summary.applied).toBe(1);
    expect(executions[0]?.waves[0]?.entries[0]?.record).toEqual(standby);
  });

  it("finds a newer record already there (its condition fails) and reports nothing to retry", async () => {
    const t = table(async () => false);
    const { response, summary } = await launchReplay(
      { Records: [replaced(standby, late)] },
      { region: REGION_B, logger: silentLogger, opsTable: t.opsTable, ...sfn },
    );
    expect(response.batchItemFailures).toEqual([]);
    expect(summary.restored).toBe(1);
  });

  it("hands the stream record back when the write fails, or when it has no table to write to", async () => {
    const failing = table(async () => {
      throw Object.assign(new Error("throttled"), { name: "ProvisionedThroughputExceededException" });
    });
    const event = replaced(standby, late);
    const first = await launchReplay(
      { Records: [event] },
      { region: REGION_B, logger: silentLogger, opsTable: failing.opsTable, ...sfn },
    );
    expect(first.response.batchItemFailures).toEqual([{ itemIdentifier: event.dynamodb.SequenceNumber }]);
    const second = await launchReplay(
      { Records: [event] },
      { region: REGION_B, logger: silentLogger, ...sfn },
    );
    expect(second.response.batchItemFailures).toEqual([{ itemIdentifier: event.dynamodb.SequenceNumber }]);
    expect(executions).toEqual([]);
  });
});
