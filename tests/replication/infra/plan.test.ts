/** Registry replication in the planned stacks (`iot-dr plan` under mocks, shipped stack files). */
import { beforeAll, describe, expect, it } from "vitest";
import type { PlannedResource } from "../../../cli/plan/recorder.js";
import type { PlanResult } from "../../../cli/plan/run.js";
import { isArnLess } from "../../../policy/arnLess.js";
import { planIsolated } from "../../support/plan.js";
import { captureEventPattern } from "../../../functions/replication/cloudTrail.js";

const plan = (stack: string): PlanResult => {
  const run = planIsolated({ stack });
  if (!run.ok) throw new Error(run.error);
  return run.result;
};
const byType = (r: PlanResult, type: string) => r.resources.filter((x) => x.type === type);
const named = (r: PlanResult, type: string, name: string): PlannedResource => {
  const found = r.resources.find((x) => x.type === type && x.name === name);
  if (!found) throw new Error(`no ${type} named ${name} in the ${r.stack} plan`);
  return found;
};
const list = (v: unknown) => (Array.isArray(v) ? (v as string[]) : [v as string]);

describe("registry replication in the planned stacks", () => {
  let primary: PlanResult;
  let secondary: PlanResult;

  // Two whole-stack plans in child processes: slow on a shared machine, hence the generous hook timeout.
  beforeAll(() => {
    primary = plan("primary");
    secondary = plan("secondary");
  }, 300_000);

  it("creates the ops table only in the primary stack, replicated to the secondary region under its own key", () => {
    // Other components keep their own tables; the ops table and its keys exist only in the primary stack.
    expect(secondary.resources.filter((r) => r.parent === "ops" || r.name.startsWith("ops-"))).toEqual([]);
    const table = named(primary, "aws:dynamodb/table:Table", "ops-table");
    expect(table.provider).toBe("iot-primary");
    expect(table.inputs).toMatchObject({
      billingMode: "PAY_PER_REQUEST",
      streamViewType: "NEW_AND_OLD_IMAGES",
      pointInTimeRecovery: { enabled: true },
      ttl: { attributeName: "expiresAt", enabled: true },
      replicas: [{ regionName: primary.config.secondaryRegion, pointInTimeRecovery: true }],
    });
    const replicaKey = named(primary, "aws:kms/replicaKey:ReplicaKey", "ops-replica-key");
    expect(replicaKey.provider).toBe("iot-secondary");
    expect((table.inputs.replicas as { kmsKeyArn: string }[])[0].kmsKeyArn).toContain(
      `:${primary.config.secondaryRegion}:`,
    );
  });

  it("gives each region its own marker table: not replicated, no stream, TTL, under the ops table's key there", () => {
    for (const [result, slot] of [
      [primary, "primary"],
      [secondary, "secondary"],
    ] as const) {
      const markers = named(result, "aws:dynamodb/table:Table", "applied-markers-table");
      expect(markers.provider).toBe(`iot-${slot}`);
      expect(markers.inputs).toMatchObject({
        hashKey: "pk",
        billingMode: "PAY_PER_REQUEST",
        ttl: { attributeName: "expiresAt", enabled: true },
        serverSideEncryption: { enabled: true },
      });
      expect(markers.inputs.replicas ?? []).toEqual([]);
      expect(markers.inputs.streamEnabled ?? false).toBe(false);
      // The same key the functions' OpsTableKey statement grants: the ops table's key in this region.
      const keyArn = (markers.inputs.serverSideEncryption as { kmsKeyArn: string }).kmsKeyArn;
      const region = slot === "primary" ? result.config.primaryRegion : result.config.secondaryRegion;
      expect(keyArn).toContain(`:kms:${region}:`);
      if (slot === "primary")
        expect(keyArn).toBe(
          (
            named(result, "aws:dynamodb/table:Table", "ops-table").inputs.serverSideEncryption as {
              kmsKeyArn: string;
            }
          ).kmsKeyArn,
        );
      expect(result.outputs.markerTableNameInRegion).toBeTruthy();
    }
  });

  it("lets replay write markers and capture read and rewrite them on the exact marker table only", () => {
    for (const result of [primary, secondary]) {
      const markersArn = `arn:aws:dynamodb:${
        result.stack === "primary" ? result.config.primaryRegion : result.config.secondaryRegion
      }:`;
      const statements = (name: string) =>
        (
          JSON.parse(String(named(result, "aws:iam/rolePolicy:RolePolicy", name).inputs.policy)) as {
            Statement: { Sid?: string; Action: string[]; Resource: unknown }[];
          }
        ).Statement;
      const fnEnv = (name: string) =>
        (
          named(result, "aws:lambda/function:Function", name).inputs.environment as {
            variables: Record<string, string>;
          }
        ).variables;
      const markerName = String(result.outputs.markerTableNameInRegion);
      for (const [policy, fn, sid] of [
        ["replay-replay-policy", "replay-replay-fn", "MarkerTableReadWrite"],
        ["capture-capture-policy", "capture-capture-fn", "MarkerTableReadForget"],
      ]) {
        expect(fnEnv(fn).MARKER_TABLE).toBe(markerName);
        const grant = statements(policy).find((s) => s.Sid === sid)!;
        expect(grant.Action).toEqual(["dynamodb:GetItem", "dynamodb:PutItem"]);
        expect(grant.Resource).toBe(`${markersArn}${result.config.accounts.iot.id}:table/${markerName}`);
      }
      // Replay no longer writes the replicated table at all.
      const onOps = statements("replay-replay-policy").filter((s) =>
        String(s.Resource).includes(":table/ops-"),
      );
      expect(onOps.map((s) => s.Action)).toEqual([["dynamodb:GetItem"]]);
    }
  });

  it("runs capture and replay in both regions in the IoT services account", () => {
    for (const [result, slot] of [
      [primary, "primary"],
      [secondary, "secondary"],
    ] as const) {
      for (const name of ["capture-capture-fn", "replay-replay-fn", "replay-launcher-fn"]) {
        expect(named(result, "aws:lambda/function:Function", name).provider).toBe(`iot-${slot}`);
      }
      expect(named(result, "aws:sfn/stateMachine:StateMachine", "replay-state-machine").inputs.type).toBe(
        "EXPRESS",
      );
    }
  });

  it("leaves out of each region's CloudTrail capture rule the calls of that region's replay, and only those", () => {
    for (const r of [primary, secondary]) {
      const rule = named(r, "aws:cloudwatch/eventRule:EventRule", "capture-api-call-rule");
      expect(rule.provider).toBe(r === primary ? "iot-primary" : "iot-secondary");
      const pattern = JSON.parse(String(rule.inputs.eventPattern));
      const replayRole = String(named(r, "aws:lambda/function:Function", "replay-replay-fn").inputs.role);
      expect(replayRole).toMatch(/^arn:aws:iam::\d{12}:role\/replay-replay-role/);
      // Its own replay's role, and no other function's (capture, the launcher, the reconciler).
      expect(pattern).toEqual(captureEventPattern([replayRole]));
      const others = byType(r, "aws:lambda/function:Function").filter((f) => f.name !== "replay-replay-fn");
      expect(others.length).toBeGreaterThan(2);
      for (const f of others) expect(JSON.stringify(pattern)).not.toContain(String(f.inputs.role));
    }
  });

  it("maps each region's own stream with the configured batching, retries and an own-origin filter", () => {
    for (const result of [primary, secondary]) {
      const region = result.stack === "primary" ? result.config.primaryRegion : result.config.secondaryRegion;
      const mapping = named(
        result,
        "aws:lambda/eventSourceMapping:EventSourceMapping",
        "replay-stream-mapping",
      );
      expect(mapping.inputs).toMatchObject({
        batchSize: result.config.replication.batchSize,
        maximumBatchingWindowInSeconds: result.config.replication.batchWindowSeconds,
        maximumRetryAttempts: result.config.replication.maxRetries,
        maximumRecordAgeInSeconds: result.config.replication.maxRecordAgeSeconds,
        functionResponseTypes: ["ReportBatchItemFailures"],
        bisectBatchOnFunctionError: true,
      });
      expect(String(mapping.inputs.eventSourceArn)).toContain(`:dynamodb:${region}:`);
      const pattern = JSON.parse(
        (mapping.inputs.filterCriteria as { filters: { pattern: string }[] }).filters[0].pattern,
      );
      expect(pattern.dynamodb.NewImage.origin.S).toEqual([{ "anything-but": [region] }]);
    }
    // The secondary consumes the replica's stream, read from the primary stack's outputs.
    const mapping = named(
      secondary,
      "aws:lambda/eventSourceMapping:EventSourceMapping",
      "replay-stream-mapping",
    );
    expect(mapping.inputs.eventSourceArn).toMatch(/table\/ops-table-mock\/stream\//);
  });

  it("encrypts every replication queue and alarms on each dead-letter queue's depth, on the capture backlog's age and on lag", () => {
    for (const result of [primary, secondary]) {
      const queues = byType(result, "aws:sqs/queue:Queue").filter(
        (q) => q.parent === "capture" || q.parent === "replay",
      );
      // capture's buffer and dead letters, replay's dead letters and stream failures
      expect(queues).toHaveLength(4);
      for (const q of queues) expect(q.inputs.sqsManagedSseEnabled).toBe(true);
      const alarms = byType(result, "aws:cloudwatch/metricAlarm:MetricAlarm");
      const depth = alarms.filter((a) => a.inputs.metricName === "ApproximateNumberOfMessagesVisible");
      expect(depth.filter((a) => a.parent === "capture" || a.parent === "replay")).toHaveLength(3);
      const backlog = named(result, "aws:cloudwatch/metricAlarm:MetricAlarm", "capture-backlog-alarm");
      expect(backlog.inputs.metricName).toBe("ApproximateAgeOfOldestMessage");
      expect(backlog.inputs.threshold).toBe(result.config.replication.lagAlarmSeconds);
      const lag = named(result, "aws:cloudwatch/metricAlarm:MetricAlarm", "replay-lag-alarm");
      expect(lag.inputs.threshold).toBe(result.config.replication.lagAlarmSeconds * 1000);
      expect((lag.inputs.alarmActions as string[]).length).toBe(1);
    }
  });

  it("grants no replication role action '*', and resource '*' only for ARN-less actions", () => {
    for (const result of [primary, secondary]) {
      const policies = byType(result, "aws:iam/rolePolicy:RolePolicy").filter(
        (p) => p.parent === "capture" || p.parent === "replay",
      );
      expect(policies.length).toBe(5);
      for (const p of policies) {
        for (const s of (
          JSON.parse(String(p.inputs.policy)) as { Statement: { Action: unknown; Resource: unknown }[] }
        ).Statement) {
          for (const a of list(s.Action)) expect(a).not.toContain("*");
          if (list(s.Resource).includes("*"))
            for (const a of list(s.Action)) expect(isArnLess(a), `${p.name}: ${a}`).toBe(true);
        }
      }
    }
  });
});
