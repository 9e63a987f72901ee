/* eslint-disable @typescript-eslint/no-require-imports -- probe factories require npm modules inside their body (DESIGN.md §8) */
/**
 * What the C&C API, the analytics region and the application services plug into their account's
 * health API (DESIGN.md §4, §5): the checkpoints, the probe factory run inside the health
 * function, its configuration and the IAM statements the probes need — nothing more.
 */
import * as pulumi from "@pulumi/pulumi";
import {
  analyticsProbesFromEnv,
  appProbesFromEnv,
  commandControlProbesFromEnv,
} from "../functions/health/plugins.js";
import type { AnalyticsRegion } from "./analytics.js";
import type { ApplicationServicesRegion } from "./applicationServices.js";
import type { CommandControlApi } from "./commandControlApi.js";
import { probeCheckpoints, type HealthPlugin } from "./healthApi.js";

/** The HTTP/1.1 handler every probe's SDK client gets its timeouts through. */
function httpHandler() {
  return {
    NodeHttpHandler: (require("@smithy/node-http-handler") as typeof import("@smithy/node-http-handler"))
      .NodeHttpHandler,
  };
}

/**
 * Analytics: the bus exists and accepts a canary event, the stream target is writable, no dead
 * letters pile up on the target and the forwarder (the rule's queue lives in the IoT services
 * account, which this account's health API cannot read; its alarm covers it).
 */
export function analyticsHealthPlugin(analytics: AnalyticsRegion): HealthPlugin {
  const queues = analytics.deadLetterQueueUrls.apply(({ target, forwarder }) => ({ target, forwarder }));
  return {
    checkpoints: probeCheckpoints("analytics", [
      "analytics-bus",
      "analytics-ingest",
      "analytics-stream",
      "analytics-dead-letters",
    ]),
    probes: {
      factory: (env) =>
        analyticsProbesFromEnv(env, {
          ...httpHandler(),
          kinesis: require("@aws-sdk/client-kinesis"),
          eventbridge: require("@aws-sdk/client-eventbridge"),
          sqs: require("@aws-sdk/client-sqs"),
        }),
      environment: {
        ANALYTICS_PROBE_CONFIG: pulumi.jsonStringify({
          eventBusName: analytics.eventBusName,
          streamName: analytics.streamName,
          deadLetterQueueUrls: queues,
        }),
      },
      statements: [
        {
          Sid: "ProbeBus",
          Effect: "Allow",
          Action: ["events:DescribeEventBus", "events:PutEvents"],
          Resource: analytics.eventBusArn,
        },
        {
          Sid: "ProbeStream",
          Effect: "Allow",
          Action: ["kinesis:DescribeStreamSummary"],
          Resource: analytics.streamArn,
        },
        {
          Sid: "ProbeDeadLetters",
          Effect: "Allow",
          Action: ["sqs:GetQueueAttributes"],
          Resource: analytics.deadLetterQueueArns.apply(({ target, forwarder }) => [target, forwarder]),
        },
      ],
    },
  };
}

/** C&C: the idempotency table is usable and the command function is Active. */
export function commandControlHealthPlugin(
  cc: CommandControlApi,
  idempotencyTableName: string,
): HealthPlugin {
  return {
    checkpoints: [
      {
        name: "cc-idempotency-table",
        type: "dynamodbTable",
        tableName: idempotencyTableName,
        factor: "commandControl",
        timeoutMs: 1000,
        critical: true,
      },
      ...probeCheckpoints("commandControl", ["cc-function"]),
    ],
    probes: {
      factory: (env) =>
        commandControlProbesFromEnv(env, { ...httpHandler(), lambda: require("@aws-sdk/client-lambda") }),
      environment: { CC_PROBE_CONFIG: pulumi.jsonStringify({ functionName: cc.functionArn }) },
      statements: [
        {
          Sid: "ProbeCommandFunction",
          Effect: "Allow",
          Action: ["lambda:GetFunctionConfiguration"],
          Resource: cc.functionArn,
        },
      ],
    },
  };
}

/** Application services: table readable here (and replicating to the peer), bucket, functions Active. */
export function applicationHealthPlugin(
  app: ApplicationServicesRegion,
  peerRegion: string,
  probeKey?: Record<string, string>,
): HealthPlugin {
  return {
    checkpoints: probeCheckpoints("applicationServices", [
      "app-table",
      "app-table-replica",
      "app-bucket",
      "app-functions",
    ]),
    probes: {
      factory: (env) =>
        appProbesFromEnv(env, {
          ...httpHandler(),
          dynamodb: require("@aws-sdk/client-dynamodb"),
          lambda: require("@aws-sdk/client-lambda"),
          s3: require("@aws-sdk/client-s3"),
        }),
      environment: {
        APP_PROBE_CONFIG: pulumi.jsonStringify({
          tableName: app.tableName,
          bucketName: app.bucketName,
          functionNames: app.functionArns.apply((arns) => Object.values(arns)),
          peerRegion,
          ...(probeKey ? { probeKey } : {}),
        }),
      },
      statements: [
        {
          Sid: "ProbeAppTable",
          Effect: "Allow",
          Action: ["dynamodb:DescribeTable", "dynamodb:GetItem"],
          Resource: app.regionalTableArn,
        },
        { Sid: "ProbeAppBucket", Effect: "Allow", Action: ["s3:ListBucket"], Resource: app.bucketArn },
        ...(app.functionCount > 0
          ? [
              {
                Sid: "ProbeAppFunctions",
                Effect: "Allow" as const,
                Action: ["lambda:GetFunctionConfiguration"],
                Resource: app.functionArns.apply((arns) => Object.values(arns)),
              },
            ]
          : []),
      ],
    },
  };
}
