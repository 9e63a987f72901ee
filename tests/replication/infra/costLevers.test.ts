/**
 * The cost levers of replication (issue #20) as deployed: what the components register under
 * mocks is what the cost model (functions/replication/costModel.ts) prices.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { PlannedResource } from "../../../cli/plan/recorder.js";
import {
  APP_LOG_BYTES_PER_OP_AT_INFO,
  DEPLOYED_DEFAULTS,
  PLATFORM_LOG_BYTES_PER_INVOCATION,
  US_EAST_1_PRICES,
  estimateCost,
} from "../../../functions/replication/costModel.js";
import { RegistryCapture } from "../../../infra/capture.js";
import {
  LAUNCHER_MEMORY_MB,
  REPLAY_MEMORY_MB,
  REPLICATION_ARCHITECTURE,
  REPLICATION_SYSTEM_LOG_LEVEL,
  ReplayPipeline,
} from "../../../infra/replayPipeline.js";
import { DEFAULT_REPLICATION_LOG_LEVEL } from "../../../functions/replication/observability.js";
import { ACCOUNT, ofType, provider, underMocks } from "./mocks.js";

const REGION = "us-west-2";
const TABLE_ARN = `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/ops-table`;
const COMMON = {
  region: REGION,
  tableName: "ops-table",
  tableArn: TABLE_ARN,
  tableKeyArn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/replica`,
  markerTableName: "applied-markers",
  markerTableArn: `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/applied-markers`,
};

describe("replication cost levers as deployed", () => {
  let functions: PlannedResource[];

  beforeAll(async () => {
    const run = await underMocks(() => {
      const p = provider("iot", REGION);
      new RegistryCapture("capture", COMMON, { provider: p });
      new ReplayPipeline("replay", { ...COMMON, streamArn: `${TABLE_ARN}/stream/label` }, { provider: p });
    });
    expect(run.errors).toEqual([]);
    functions = ofType(run.resources, "aws:lambda/function:Function");
  });

  it("runs capture, replay and the launcher on arm64, the architecture the cost model prices", () => {
    expect(functions.map((f) => f.name).sort()).toEqual([
      "capture-capture-fn",
      "replay-launcher-fn",
      "replay-replay-fn",
    ]);
    for (const fn of functions) expect(fn.inputs.architectures, fn.name).toEqual(["arm64"]);
    expect(REPLICATION_ARCHITECTURE).toBe("arm64");
    expect(DEPLOYED_DEFAULTS.lambdaArchitecture).toBe(REPLICATION_ARCHITECTURE);
  });

  it("prices the deployed memory sizes", () => {
    const memory = (suffix: string) => functions.find((f) => f.name.endsWith(suffix))!.inputs.memorySize;
    expect(memory("replay-replay-fn")).toBe(REPLAY_MEMORY_MB);
    expect(memory("replay-launcher-fn")).toBe(LAUNCHER_MEMORY_MB);
    expect(DEPLOYED_DEFAULTS.replayMemoryMb).toBe(REPLAY_MEMORY_MB);
    expect(DEPLOYED_DEFAULTS.launcherMemoryMb).toBe(LAUNCHER_MEMORY_MB);
    expect(DEPLOYED_DEFAULTS.captureMemoryMb).toBe(memory("capture-capture-fn"));
  });

  it("prices the deployed replay groups: one replay request per group of records", async () => {
    const run = await underMocks(() => {
      new ReplayPipeline(
        "grouped",
        { ...COMMON, streamArn: `${TABLE_ARN}/stream/label` },
        { provider: provider("iot", REGION) },
      );
    });
    const [machine] = ofType(run.resources, "aws:sfn/stateMachine:StateMachine");
    expect(String(machine.inputs.definition)).toContain(
      `States.ArrayPartition($.entries, ${DEPLOYED_DEFAULTS.replayGroupSize})`,
    );
    const requests = (e: ReturnType<typeof estimateCost>) =>
      e.pipeline.find((l) => /^Lambda requests/.test(l.item))!.perMillion;
    const one = estimateCost({ ...DEPLOYED_DEFAULTS, replayGroupSize: 1 });
    const grouped = estimateCost(DEPLOYED_DEFAULTS);
    // Replay's request per record becomes one per group; capture's and the launchers' stay.
    expect(requests(one) - requests(grouped)).toBeCloseTo(
      (1 - 1 / DEPLOYED_DEFAULTS.replayGroupSize) * US_EAST_1_PRICES.lambdaPerMillionRequests,
      10,
    );
    expect(grouped.pipelinePerMillion).toBeLessThan(one.pipelinePerMillion);
  });

  it("bills arm64 GB-seconds 20 % below x86_64 and nothing else differently", () => {
    const duration = (e: ReturnType<typeof estimateCost>) =>
      e.pipeline.find((l) => /^Lambda duration/.test(l.item))!;
    const arm = estimateCost(DEPLOYED_DEFAULTS);
    const x86 = estimateCost({ ...DEPLOYED_DEFAULTS, lambdaArchitecture: "x86_64" });
    expect(duration(arm).item).toMatch(/arm64/);
    expect(duration(arm).perMillion / duration(x86).perMillion).toBeCloseTo(
      US_EAST_1_PRICES.lambdaArmPerGbSecond / US_EAST_1_PRICES.lambdaPerGbSecond,
      10,
    );
    expect(US_EAST_1_PRICES.lambdaArmPerGbSecond / US_EAST_1_PRICES.lambdaPerGbSecond).toBeCloseTo(0.8, 4);
    const others = (e: ReturnType<typeof estimateCost>) =>
      e.pipeline.filter((l) => !/^Lambda duration/.test(l.item)).map((l) => l.perMillion);
    expect(others(arm)).toEqual(others(x86));
    expect(arm.pipelinePerMillion).toBeLessThan(x86.pipelinePerMillion);
    expect(() =>
      estimateCost({ ...DEPLOYED_DEFAULTS, lambdaArchitecture: "sparc" as unknown as "arm64" }),
    ).toThrow(/lambdaArchitecture/);
  });

  it("keeps Lambda's START, END and REPORT lines out of the replication functions' logs, which the model then does not bill", () => {
    for (const fn of functions)
      expect(fn.inputs.loggingConfig, fn.name).toMatchObject({ logFormat: "JSON", systemLogLevel: "WARN" });
    expect(REPLICATION_SYSTEM_LOG_LEVEL).toBe("WARN");
    expect(DEPLOYED_DEFAULTS.platformLogBytesPerInvocation).toBe(0);
    const logs = (e: ReturnType<typeof estimateCost>) =>
      e.pipeline.find((l) => /^CloudWatch Logs/.test(l.item))!.perMillion;
    const deployed = estimateCost(DEPLOYED_DEFAULTS);
    const info = estimateCost({
      ...DEPLOYED_DEFAULTS,
      platformLogBytesPerInvocation: PLATFORM_LOG_BYTES_PER_INVOCATION,
    });
    const gb = 1024 ** 3;
    expect(logs(deployed)).toBeCloseTo(
      (DEPLOYED_DEFAULTS.appLogBytesPerOp / gb) * 1e6 * US_EAST_1_PRICES.cloudWatchLogsPerGb,
      10,
    );
    // Capture and its echo per queue batch of 10, replay per group, the launchers per stream batch.
    const invocations =
      2 / DEPLOYED_DEFAULTS.captureBatch +
      1 / DEPLOYED_DEFAULTS.replayGroupSize +
      2 / DEPLOYED_DEFAULTS.batchSize;
    expect(logs(info) - logs(deployed)).toBeCloseTo(
      ((invocations * PLATFORM_LOG_BYTES_PER_INVOCATION) / gb) * 1e6 * US_EAST_1_PRICES.cloudWatchLogsPerGb,
      10,
    );
    expect(logs(info) - logs(deployed)).toBeGreaterThan(0.03);
  });

  it("runs the replication functions without their per-record INFO lines, which the model then does not bill, and keeps the lag metric's lines", () => {
    for (const fn of functions) {
      const inputs = fn.inputs as {
        environment?: { variables?: Record<string, unknown> };
        loggingConfig?: { applicationLogLevel?: string };
      };
      expect(inputs.environment?.variables?.REPLICATION_LOG_LEVEL, fn.name).toBe("WARN");
      // Lambda takes a line without a level (the EMF lag metric) as INFO: its own filter stays at INFO.
      expect(["INFO", "DEBUG", "TRACE", undefined], fn.name).toContain(
        inputs.loggingConfig?.applicationLogLevel,
      );
    }
    expect(DEFAULT_REPLICATION_LOG_LEVEL).toBe("WARN");
    const logs = (e: ReturnType<typeof estimateCost>) =>
      e.pipeline.find((l) => /^CloudWatch Logs/.test(l.item))!.perMillion;
    const atInfo = estimateCost({ ...DEPLOYED_DEFAULTS, appLogBytesPerOp: APP_LOG_BYTES_PER_OP_AT_INFO });
    expect(DEPLOYED_DEFAULTS.appLogBytesPerOp).toBeLessThan(APP_LOG_BYTES_PER_OP_AT_INFO / 4);
    expect(logs(atInfo) - logs(estimateCost(DEPLOYED_DEFAULTS))).toBeGreaterThan(0.55);
  });
});
