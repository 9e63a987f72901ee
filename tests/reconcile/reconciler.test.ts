/** The scheduled reconciler component under Pulumi mocks, and in the planned regional stacks. */
import { beforeAll, describe, expect, it } from "vitest";
import * as iotSdk from "@aws-sdk/client-iot";
import { runScheduledReconcile } from "../../functions/reconcile/scheduled.js";
import { OWN_POLICY_PREFIX } from "../../functions/registry/ownResources.js";
import { memoryOpsTable } from "../../functions/registry/table.js";
import { useMoto } from "../support/useMoto.js";
import { region as motoRegion, scheduledDeps, type Region } from "./support.js";
import type { PlannedResource } from "../../cli/plan/recorder.js";
import type { PlanResult } from "../../cli/plan/run.js";
import {
  driftAlarmWindowSeconds,
  RECONCILE_ARN_LESS_ACTIONS,
  RECONCILE_READ_ACTIONS,
  Reconciler,
} from "../../infra/reconciler.js";
import { RegionalDashboard } from "../../infra/dashboards.js";
import { isArnLess } from "../../policy/arnLess.js";
import { checkResources, fromPlanned } from "../../policy/run.js";
import { planIsolated } from "../support/plan.js";
import { ACCOUNT, arnsIn, one, provider, underMocks } from "../replication/infra/mocks.js";
import { collectThrown } from "../support/mocks.js";
import { list, statementsOf } from "../support/iam.js";

const REGION = "us-west-2";
const PEER = "us-east-1";
const { TABLE_ARN, KEY_ARN, TOPIC_ARN } = arnsIn(REGION);

const WRITE = /^iot:(Create|Update|Delete|Attach|Detach|Add|Remove|Register|Deprecate|Set)/;

describe("reconciler component under mocks", () => {
  let resources: PlannedResource[];
  let refusals: string[];

  beforeAll(async () => {
    const run = await underMocks(() => {
      const p = provider("iot-secondary", REGION);
      const args = {
        region: REGION,
        peerRegion: PEER,
        tableName: "ops-table",
        tableArn: TABLE_ARN,
        tableKeyArn: KEY_ARN,
        alarmTopicArn: TOPIC_ARN,
      };
      new Reconciler(
        "repairing",
        { ...args, scheduleMinutes: 15, repair: true, logRetentionDays: 14 },
        { provider: p },
      );
      new Reconciler("reporting", { ...args, scheduleMinutes: 60 }, { provider: p });
      new Reconciler("daily", { ...args, scheduleMinutes: 1440 }, { provider: p });
      // The dashboard's copy of the drift alarm (Metrics Insights: 3 hours at most).
      const dashboard = (name: string, reconcileScheduleMinutes?: number) =>
        new RegionalDashboard(
          name,
          {
            region: REGION,
            peerRegion: PEER,
            alarmTopicArn: TOPIC_ARN,
            iotProvider: p,
            iotAccountId: ACCOUNT,
            dashboardAccountId: ACCOUNT,
            healthFactors: [],
            driftPeriodSeconds: 3600,
            ...(reconcileScheduleMinutes ? { reconcileScheduleMinutes } : {}),
          },
          { provider: p },
        );
      dashboard("board-hourly", 60);
      dashboard("board-4h", 240);
      dashboard("board-unwired");
      const { attempt, messages: refusals } = collectThrown();
      attempt(() => new Reconciler("no-provider", { ...args, scheduleMinutes: 15 }));
      attempt(
        () =>
          new Reconciler(
            "same-region",
            { ...args, peerRegion: REGION, scheduleMinutes: 15 },
            { provider: p },
          ),
      );
      attempt(() => new Reconciler("bad-schedule", { ...args, scheduleMinutes: 0 }, { provider: p }));
      return refusals;
    });
    expect(run.errors).toEqual([]);
    resources = run.resources;
    refusals = run.result;
  });

  it("runs on the configured schedule, invoked by EventBridge only", () => {
    expect(
      one(resources, "aws:cloudwatch/eventRule:EventRule", "repairing-schedule").inputs.scheduleExpression,
    ).toBe("rate(15 minutes)");
    expect(
      one(resources, "aws:cloudwatch/eventRule:EventRule", "reporting-schedule").inputs.scheduleExpression,
    ).toBe("rate(60 minutes)");
    const permission = one(resources, "aws:lambda/permission:Permission", "repairing-schedule-invoke");
    expect(permission.inputs).toMatchObject({
      action: "lambda:InvokeFunction",
      principal: "events.amazonaws.com",
    });
    expect(String(permission.inputs.sourceArn)).toContain("repairing-schedule");
    const target = one(resources, "aws:cloudwatch/eventTarget:EventTarget", "repairing-schedule-target");
    expect(target.inputs).toMatchObject({ retryPolicy: { maximumRetryAttempts: 2 } });
    expect(String((target.inputs.deadLetterConfig as { arn: string }).arn)).toContain(
      "repairing-schedule-dlq",
    );
  });

  it("alarms on DriftCount (namespace iot-dr) over one schedule period, and on failed runs, notifying the topic", () => {
    const drift = one(resources, "aws:cloudwatch/metricAlarm:MetricAlarm", "repairing-drift-alarm");
    expect(drift.inputs).toMatchObject({
      namespace: "iot-dr",
      metricName: "DriftCount",
      dimensions: { service: "iot-dr-reconciler" },
      statistic: "Maximum",
      // One schedule interval plus one full pass (at most an interval) plus one function timeout.
      period: 2 * 900 + 900,
      evaluationPeriods: 1,
      treatMissingData: "breaching",
      comparisonOperator: "GreaterThanThreshold",
      threshold: 0,
      alarmActions: [TOPIC_ARN],
      okActions: [TOPIC_ARN],
    });
    // The default 60-min schedule: 2 h 15 min, well inside an alarm's one-day window.
    expect(
      one(resources, "aws:cloudwatch/metricAlarm:MetricAlarm", "reporting-drift-alarm").inputs,
    ).toMatchObject({ period: 8100, treatMissingData: "breaching" });
    expect(driftAlarmWindowSeconds(60)).toBe(8100);
    // A daily schedule cannot fit a full pass in one day: there missing data does not breach.
    expect(
      one(resources, "aws:cloudwatch/metricAlarm:MetricAlarm", "daily-drift-alarm").inputs,
    ).toMatchObject({ period: 86_400, treatMissingData: "notBreaching" });
    expect(
      one(resources, "aws:cloudwatch/metricAlarm:MetricAlarm", "repairing-errors-alarm").inputs,
    ).toMatchObject({
      namespace: "AWS/Lambda",
      metricName: "Errors",
    });
  });

  it("the dashboard's drift alarm breaches on missing data over a full pass when that fits 3 hours", () => {
    const alarm = (name: string) =>
      one(resources, "aws:cloudwatch/metricAlarm:MetricAlarm", `${name}-drift-alarm`).inputs as {
        treatMissingData: string;
        metricQueries: { period: number }[];
      };
    expect(alarm("board-hourly")).toMatchObject({ treatMissingData: "breaching" });
    expect(alarm("board-hourly").metricQueries[0].period).toBe(8100);
    // 2 × 4 h does not fit Metrics Insights' 3 hours: the reconciler's own alarm watches for silence.
    expect(alarm("board-4h")).toMatchObject({ treatMissingData: "notBreaching" });
    expect(alarm("board-4h").metricQueries[0].period).toBe(3600);
    expect(alarm("board-unwired")).toMatchObject({ treatMissingData: "notBreaching" });
  });

  it("gives the function an explicit runtime, timeout, memory, log retention and its settings", () => {
    const fn = one(resources, "aws:lambda/function:Function", "repairing-reconcile-fn");
    expect(fn.inputs).toMatchObject({ runtime: "nodejs22.x", timeout: 900, memorySize: 1024 });
    expect((fn.inputs.environment as { variables: Record<string, string> }).variables).toMatchObject({
      OPS_TABLE: "ops-table",
      PEER_REGION: PEER,
      RECONCILE_REPAIR: "true",
      RECONCILE_QUOTA_SHARE: "0.5",
    });
    expect(
      one(resources, "aws:cloudwatch/logGroup:LogGroup", "repairing-reconcile-logs").inputs.retentionInDays,
    ).toBe(14);
    const reporting = one(resources, "aws:lambda/function:Function", "reporting-reconcile-fn");
    expect(
      (reporting.inputs.environment as { variables: Record<string, string> }).variables.RECONCILE_REPAIR,
    ).toBe("false");
  });

  it("grants least privilege: no action '*', resource '*' only for ARN-less actions, the peer only read", () => {
    for (const name of ["repairing-reconcile-policy", "reporting-reconcile-policy"]) {
      const statements = statementsOf(one(resources, "aws:iam/rolePolicy:RolePolicy", name));
      for (const s of statements) {
        for (const a of list(s.Action)) expect(a).not.toContain("*");
        if (list(s.Resource).includes("*")) {
          for (const a of list(s.Action))
            expect(
              isArnLess(a) || (RECONCILE_ARN_LESS_ACTIONS as readonly string[]).includes(a),
              `${name}: ${a}`,
            ).toBe(true);
          expect(s.Condition?.StringEquals?.["aws:RequestedRegion"]).toEqual([REGION, PEER]);
        }
      }
      const peer = statements.find((s) => s.Sid === "PeerRegistryRead")!;
      expect(list(peer.Resource).every((r) => r.includes(`:iot:${PEER}:${ACCOUNT}:`))).toBe(true);
      expect(list(peer.Action).filter((a) => WRITE.test(a))).toEqual([]);
      const own = statements.find((s) => s.Sid === "OwnRegistry")!;
      expect(list(own.Resource).every((r) => r.includes(`:iot:${REGION}:${ACCOUNT}:`))).toBe(true);
    }
    const reporting = statementsOf(
      one(resources, "aws:iam/rolePolicy:RolePolicy", "reporting-reconcile-policy"),
    );
    // A reporting reconciler writes nothing but its own pass lock.
    const lockGrant = reporting.find((s) => s.Sid === "PassLock")!;
    expect(list(lockGrant.Resource).every((r) => r.includes("reporting-lock"))).toBe(true);
    const granted = reporting.filter((s) => s.Sid !== "PassLock").flatMap((s) => list(s.Action));
    expect(granted.filter((a) => WRITE.test(a))).toEqual([]);
    expect(granted).not.toContain("dynamodb:PutItem");
    expect(granted).toEqual(expect.arrayContaining(RECONCILE_READ_ACTIONS));
    const repairing = statementsOf(
      one(resources, "aws:iam/rolePolicy:RolePolicy", "repairing-reconcile-policy"),
    );
    expect(repairing.find((s) => s.Sid === "OwnRegistry")!.Action).toEqual(
      expect.arrayContaining(["iot:CreateThing", "iot:DeleteThing"]),
    );
  });

  it("continues a pass by invoking only itself, one pass at a time under a lease, without reserved concurrency", () => {
    for (const name of ["repairing", "reporting"]) {
      const fn = one(resources, "aws:lambda/function:Function", `${name}-reconcile-fn`);
      // Reserving concurrency fails in accounts with a concurrency quota of 10 or 100 (issue #17).
      expect(fn.inputs.reservedConcurrentExecutions).toBeUndefined();
      const lock = one(resources, "aws:dynamodb/table:Table", `${name}-lock`);
      expect(lock.inputs).toMatchObject({ hashKey: "pk", serverSideEncryption: { enabled: true } });
      const lockGrant = statementsOf(
        one(resources, "aws:iam/rolePolicy:RolePolicy", `${name}-reconcile-policy`),
      ).find((st) => st.Sid === "PassLock")!;
      expect(lockGrant.Action).toEqual(["dynamodb:PutItem", "dynamodb:DeleteItem"]);
      expect(String(lockGrant.Resource)).toContain(`${name}-lock`);
      expect((fn.inputs.environment as { variables: Record<string, string> }).variables).toMatchObject({
        RECONCILE_RESERVE_MS: "90000",
      });
      const policy = one(resources, "aws:iam/rolePolicy:RolePolicy", `${name}-continue-policy`);
      const [invoke, ...others] = statementsOf(policy);
      expect(others).toEqual([]);
      expect(invoke.Action).toEqual(["lambda:InvokeFunction"]);
      // Its own unqualified ARN, no wildcard.
      expect(invoke.Resource).toMatch(
        new RegExp(`^arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}-reconcile-fn-[0-9a-f]+$`),
      );
      expect(String(policy.inputs.role)).toContain(`${name}-reconcile-role`);
      // No other statement of the function's role grants a Lambda action.
      const main = statementsOf(one(resources, "aws:iam/rolePolicy:RolePolicy", `${name}-reconcile-policy`));
      expect(main.flatMap((st) => list(st.Action)).filter((a) => a.startsWith("lambda:"))).toEqual([]);
    }
  });

  it("passes the policy pack's IAM and Lambda checks", () => {
    const mine = resources.filter(
      (r) => /^(repairing|reporting)-/.test(r.name) || r.type.startsWith("pulumi:providers:"),
    );
    const violations = checkResources(fromPlanned(mine)).filter((v) =>
      /^(repairing|reporting)-/.test(v.resource),
    );
    expect(violations.map((v) => `${v.policy}: ${v.resource}: ${v.message}`)).toEqual([]);
  });

  it("refuses to build without a provider, with one region for both sides, or with a schedule out of range", () => {
    expect(refusals).toEqual([
      expect.stringMatching(/must be given the aws.Provider of the IoT services account/),
      expect.stringMatching(/different peer region, got region 'us-west-2' and peerRegion 'us-west-2'/),
      expect.stringMatching(/scheduleMinutes must be a whole number from 1 to 1440, got 0/),
    ]);
  });
});

describe("reconciler in the planned regional stacks", () => {
  let plans: PlanResult[];
  beforeAll(() => {
    plans = ["primary", "secondary"].map((stack) => {
      const run = planIsolated({ stack });
      if (!run.ok) throw new Error(run.error);
      return run.result;
    });
  }, 300_000);

  it("runs in each region against the other, on the schedule and with the repair switch from config", () => {
    for (const plan of plans) {
      const own = plan.stack === "primary" ? plan.config.primaryRegion : plan.config.secondaryRegion;
      const peer = plan.stack === "primary" ? plan.config.secondaryRegion : plan.config.primaryRegion;
      const fn = plan.resources.find(
        (r) => r.type === "aws:lambda/function:Function" && r.name === "reconciler-reconcile-fn",
      );
      expect(fn, `${plan.stack} has the reconciler`).toBeDefined();
      expect(fn!.provider).toBe(`iot-${plan.stack}`);
      const vars = (fn!.inputs.environment as { variables: Record<string, string> }).variables;
      expect(vars.PEER_REGION).toBe(peer);
      expect(vars.PEER_REGION).not.toBe(own);
      expect(vars.RECONCILE_REPAIR).toBe(String(plan.config.reconcile.repair));
      expect(vars.DEVICE_ENDPOINT_NAME).toBe(
        `${plan.config.dns.deviceEndpointName}.${plan.config.dns.hostedZoneName}`,
      );
      const rule = plan.resources.find(
        (r) => r.type === "aws:cloudwatch/eventRule:EventRule" && r.name === "reconciler-schedule",
      );
      expect(rule!.inputs.scheduleExpression).toBe(`rate(${plan.config.reconcile.scheduleMinutes} minutes)`);
    }
  });

  describe("a fresh deployment on moto", () => {
    const moto = useMoto({ resetBeforeEach: false });

    /** Creates what the plan creates in the registry (the canary's certificate, policy and attachment), as `pulumi up` would. */
    async function deploy(plan: PlanResult, r: Region) {
      const registry = plan.resources.filter((x) => x.type.startsWith("aws:iot/") && /canary/.test(x.name));
      const types = registry.map((x) => x.type).sort();
      expect(types).toEqual([
        "aws:iot/certificate:Certificate",
        "aws:iot/policy:Policy",
        "aws:iot/policyAttachment:PolicyAttachment",
      ]);
      const policy = registry.find((x) => x.type === "aws:iot/policy:Policy")!;
      const policyName = String(policy.inputs.name);
      expect(policyName.startsWith(OWN_POLICY_PREFIX)).toBe(true);
      const cert = await r.send<iotSdk.CreateKeysAndCertificateCommandOutput>(
        new iotSdk.CreateKeysAndCertificateCommand({ setAsActive: true }),
      );
      await r.send(
        new iotSdk.CreatePolicyCommand({ policyName, policyDocument: String(policy.inputs.policy) }),
      );
      await r.send(new iotSdk.AttachPolicyCommand({ policyName, target: cert.certificateArn! }));
    }

    it("the first reconcile pass in each region reports drift 0 with the canaries in place", async () => {
      const [primary, secondary] = plans;
      const regions = {
        primary: motoRegion(moto, primary.config.primaryRegion),
        secondary: motoRegion(moto, primary.config.secondaryRegion),
      };
      await deploy(primary, regions.primary);
      await deploy(secondary, regions.secondary);
      for (const [slot, own, peer] of [
        ["primary", regions.primary, regions.secondary],
        ["secondary", regions.secondary, regions.primary],
      ] as const) {
        const table = memoryOpsTable();
        const emitted: string[] = [];
        const outcome = await runScheduledReconcile(
          scheduledDeps(own, peer, table, {
            repair: true,
            activeRegion: async () => ({ region: regions.primary.name, how: "Route 53 serves the primary" }),
            lines: emitted,
          }),
        );
        // Each region's certificate, policy and attachment exist there only: own, not drift.
        expect(outcome, slot).toMatchObject({ status: "equal", found: 0, repaired: 0, remaining: 0, own: 6 });
        expect(JSON.parse(emitted.at(-1)!), slot).toMatchObject({ DriftCount: 0, UndecidedDrift: 0 });
        expect(table.items.size, `${slot} wrote nothing to the ops table`).toBe(0);
      }
      expect(
        await regions.secondary.iot.getPolicy(
          String(primary.resources.find((x) => x.type === "aws:iot/policy:Policy")!.inputs.name),
        ),
      ).toBeNull();
    });
  });
});
