/**
 * Complete stack outputs for tests that stand in for the Automation API, typed by stacks/outputs.ts
 * so tsc refuses a fixture that misses or mistypes an output (the values are placeholders; what a
 * planned stack really exports is proven by tests/foundation/outputsSeam.test.ts).
 */
import type { GlobalOutputs, PrimaryOutputs, SecondaryOutputs } from "../../stacks/outputs.js";

function regional(region: string, primaryRegion: string) {
  const arn = (service: string, resource: string) => `arn:aws:${service}:${region}:111111111111:${resource}`;
  return {
    region,
    primaryRegion,
    alarmTopicArn: arn("sns", "iot-dr-alarms"),
    opsTableNameInRegion: "iot-dr-ops",
    markerTableNameInRegion: "iot-dr-applied-markers",
    captureDeadLetterQueueUrl: `https://sqs.${region}.amazonaws.com/111111111111/capture-dlq`,
    replayDeadLetterQueueUrl: `https://sqs.${region}.amazonaws.com/111111111111/replay-dlq`,
    replayStreamFailureQueueUrl: `https://sqs.${region}.amazonaws.com/111111111111/replay-stream-failures`,
    replayStateMachineArn: arn("states", "stateMachine:iot-dr-replay"),
    reconcilerFunctionName: "iot-dr-reconciler",
    ccApiEndpoint: `https://cc.${region}.example.com`,
    ccApiHost: `cc.${region}.example.com`,
    ccDomainTarget: `d-cc.execute-api.${region}.amazonaws.com`,
    ccDomainZoneId: "Z2FDTNDATAQYW2",
    ccInvokePolicyArn: "arn:aws:iam::111111111111:policy/iot-dr-cc-invoke",
    ccOperatorRoleArn: "arn:aws:iam::111111111111:role/iot-dr-cc-operator",
    analyticsEventBusArn: arn("events", "event-bus/iot-dr-analytics"),
    analyticsStreamArn: arn("kinesis", "stream/iot-dr-analytics"),
    analyticsDeadLetterQueueUrls: { rule: "rule-dlq", target: "target-dlq", forwarder: "forwarder-dlq" },
    healthCheckHost: `hc.${region}.example.com`,
    healthCheckResourcePath: "/health/a-secret-path",
    healthAlarmName: "",
    healthOverrideParameter: `/iot-dr/health/override/${region}`,
    iotDataEndpoint: `abc-ats.iot.${region}.amazonaws.com`,
    deviceEndpointTarget: `abc-ats.iot.${region}.amazonaws.com`,
    noticePublisherRoleArn: "arn:aws:iam::111111111111:role/iot-dr-notice-publisher",
    presenceTableName: "",
    moverRoleArn: "",
    dashboardName: "iot-dr",
  };
}

export function primaryOutputs(region: string, overrides: Partial<PrimaryOutputs> = {}): PrimaryOutputs {
  return {
    ...regional(region, region),
    role: "primary",
    opsTableName: "iot-dr-ops",
    opsTableArn: `arn:aws:dynamodb:${region}:111111111111:table/iot-dr-ops`,
    opsTableReplicaArn: "arn:aws:dynamodb:eu-central-1:111111111111:table/iot-dr-ops",
    opsTableReplicaStreamArn: "arn:aws:dynamodb:eu-central-1:111111111111:table/iot-dr-ops/stream/1",
    opsTableReplicaKeyArn: "arn:aws:kms:eu-central-1:111111111111:key/replica",
    ...overrides,
  };
}

export function secondaryOutputs(
  region: string,
  primaryRegion: string,
  overrides: Partial<SecondaryOutputs> = {},
): SecondaryOutputs {
  return { ...regional(region, primaryRegion), role: "secondary", ...overrides };
}

export function globalOutputs(
  primaryRegion: string,
  secondaryRegion: string,
  overrides: Partial<GlobalOutputs> = {},
): GlobalOutputs {
  return {
    role: "global",
    primaryRegion,
    secondaryRegion,
    primaryAlarmTopicArn: `arn:aws:sns:${primaryRegion}:111111111111:iot-dr-alarms`,
    secondaryAlarmTopicArn: `arn:aws:sns:${secondaryRegion}:111111111111:iot-dr-alarms`,
    failoverTopicArn: "arn:aws:sns:us-east-1:111111111111:iot-dr-failover",
    hostedZoneId: "Z0000000000000",
    healthCheckIds: { primary: "hc-primary", secondary: "hc-secondary" },
    healthCheckAlarmNames: { primary: "", secondary: "" },
    failoverRecordNames: ["devices.example.com"],
    deviceEndpoint: "devices.example.com",
    analyticsGlobalEndpointId: "abc.xyz",
    analyticsGlobalEndpointName: "iot-dr-analytics",
    analyticsGlobalEndpointArn: "arn:aws:events:us-east-1:111111111111:endpoint/iot-dr-analytics",
    ...overrides,
  };
}
