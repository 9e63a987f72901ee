import * as dns from "node:dns";
import * as iot from "@aws-sdk/client-iot";
import * as dynamodb from "@aws-sdk/client-dynamodb";
import * as libDynamodb from "@aws-sdk/lib-dynamodb";
import * as lambda from "@aws-sdk/client-lambda";
import * as sfn from "@aws-sdk/client-sfn";
import * as powertoolsMetrics from "@aws-lambda-powertools/metrics";
import { describe, expect, it } from "vitest";
import { reconcilerFromEnv } from "../../../functions/reconcile/runtime.js";
import { silentLogger } from "../../../functions/shared/observability.js";
import { captureFromEnv } from "../../../functions/replication/captureRuntime.js";
import { launcherFromEnv } from "../../../functions/replication/launcherRuntime.js";
import { replayFromEnv } from "../../../functions/replication/replayRuntime.js";
import type { Env } from "../../../functions/shared/env.js";

const registry = { iot, dynamodb, libDynamodb, logger: silentLogger };
const metrics = { addMetric() {}, publishStoredMetrics() {} };

const builders: Record<string, { build: (env: Env) => unknown; env: Env }> = {
  capture: {
    build: (env) => captureFromEnv(env, registry),
    env: { AWS_REGION: "eu-west-1", OPS_TABLE: "ops", MARKER_TABLE: "markers" },
  },
  replay: {
    build: (env) => replayFromEnv(env, { ...registry, metrics }),
    env: { AWS_REGION: "eu-west-1", OPS_TABLE: "ops", MARKER_TABLE: "markers" },
  },
  launcher: {
    build: (env) => launcherFromEnv(env, { sfn, dynamodb, libDynamodb, logger: silentLogger }),
    env: {
      AWS_REGION: "eu-west-1",
      STATE_MACHINE_ARN: "arn:aws:states:eu-west-1:111111111111:stateMachine:r",
      OPS_TABLE: "ops",
    },
  },
  reconciler: {
    build: (env) => reconcilerFromEnv(env, { ...registry, lambda, dns, metrics: powertoolsMetrics }),
    env: {
      AWS_REGION: "eu-west-1",
      PEER_REGION: "us-east-1",
      OPS_TABLE: "ops",
      RECONCILE_LOCK_TABLE: "lock",
    },
  },
};

describe("every replication function reads its environment once and names what is wrong", () => {
  for (const [name, { build, env }] of Object.entries(builders)) {
    it(`${name} builds from its required variables alone`, () => {
      expect(typeof build(env)).toBe("function");
    });
    for (const variable of Object.keys(env)) {
      it(`${name} without ${variable} refuses to start and names it (no "undefined" table or region)`, () => {
        const { [variable]: _dropped, ...rest } = env;
        expect(() => build(rest)).toThrow(new RegExp(`environment variable ${variable} is not set`));
        expect(() => build({ ...env, [variable]: "" })).toThrow(
          new RegExp(`environment variable ${variable} is not set`),
        );
      });
    }
  }

  it("refuses IOT_API_RATES that is not JSON, naming it", () => {
    expect(() =>
      builders.capture!.build({ ...builders.capture!.env, IOT_API_RATES: "{CreateThing:1" }),
    ).toThrow(/environment variable IOT_API_RATES is not valid JSON/);
  });

  it("refuses a tombstone retention that is not a positive whole number", () => {
    expect(() =>
      builders.capture!.build({ ...builders.capture!.env, TOMBSTONE_RETENTION_DAYS: "thirty" }),
    ).toThrow(/environment variable TOMBSTONE_RETENTION_DAYS must be a positive whole number, got 'thirty'/);
  });

  it("refuses a reconciler quota share outside (0, 1] and a repair flag other than true/false", () => {
    const env = builders.reconciler!.env;
    expect(() => builders.reconciler!.build({ ...env, RECONCILE_QUOTA_SHARE: "1.5" })).toThrow(
      /environment variable RECONCILE_QUOTA_SHARE must be a number from/,
    );
    expect(() => builders.reconciler!.build({ ...env, RECONCILE_QUOTA_SHARE: "0" })).toThrow(
      /RECONCILE_QUOTA_SHARE/,
    );
    expect(() => builders.reconciler!.build({ ...env, RECONCILE_REPAIR: "yes" })).toThrow(
      /environment variable RECONCILE_REPAIR must be true or false, got 'yes'/,
    );
  });
});
