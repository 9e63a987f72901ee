/**
 * Mocked outputs of the stacks a plan references, derived from the planned stack's config.
 * When a stack starts exporting an output that another stack reads, add its mocked value here.
 */
import type { DrConfig } from "../../stacks/config.js";
import type { PrimaryOutputs, SecondaryOutputs } from "../../stacks/references.js";
import { physicalNames } from "../../stacks/names.js";

export function referencedStackOutputs(config: DrConfig): Record<string, Record<string, unknown>> {
  const shared = config.accounts.sharedServices.id;
  // Only what the referencing stacks read; tests/foundation/outputsSeam.test.ts plans with the real outputs.
  const primary: Partial<PrimaryOutputs> = {
    role: "primary",
    region: config.primaryRegion,
    alarmTopicArn: `arn:aws:sns:${config.primaryRegion}:${shared}:alarms-primary`,
    // health and fail-over (stacks/regional.ts)
    ...healthOutputs(config, config.primaryRegion),
    // The ops table and its replica (infra/opsTable.ts), in the IoT services account.
    opsTableName: "ops-table-mock",
    opsTableArn: `arn:aws:dynamodb:${config.primaryRegion}:${config.accounts.iot.id}:table/ops-table-mock`,
    opsTableReplicaArn: `arn:aws:dynamodb:${config.secondaryRegion}:${config.accounts.iot.id}:table/ops-table-mock`,
    opsTableReplicaStreamArn: `arn:aws:dynamodb:${config.secondaryRegion}:${config.accounts.iot.id}:table/ops-table-mock/stream/2026-01-01T00:00:00.000`,
    opsTableReplicaKeyArn: `arn:aws:kms:${config.secondaryRegion}:${config.accounts.iot.id}:key/mrk-mock`,
  };
  const secondary: Partial<SecondaryOutputs> = {
    role: "secondary",
    region: config.secondaryRegion,
    alarmTopicArn: `arn:aws:sns:${config.secondaryRegion}:${shared}:alarms-secondary`,
    // health and fail-over (stacks/regional.ts)
    ...healthOutputs(config, config.secondaryRegion),
  };
  return { [config.primaryStack]: { ...primary }, [config.secondaryStack]: { ...secondary } };
}

/** Mocked health and fail-over outputs of a regional stack (stacks/regional.ts, health block). */
function healthOutputs(config: DrConfig, region: string) {
  return {
    healthCheckHost: `health-${region}.lambda-url.${region}.on.aws`,
    healthCheckResourcePath: "/mock-path-secret",
    healthAlarmName: `health-check-${region}-region-unhealthy`,
    healthOverrideParameter: physicalNames(config).healthOverrideParameter(region),
    iotDataEndpoint: `mock-ats.iot.${region}.amazonaws.com`,
    deviceEndpointTarget: `mock-ats.iot.${region}.amazonaws.com`,
    noticePublisherRoleArn: "arn:aws:iam::111111111111:role/mock-notice-publisher",
    // The server-side move (iot-dr:serverSideMove): "" when off, as the regional stack exports it.
    presenceTableName: config.serverSideMove ? `presence-table-mock-${region}` : "",
    moverRoleArn: config.serverSideMove
      ? `arn:aws:iam::${config.accounts.iot.id}:role/mock-mover-${region}`
      : "",
    // The C&C API's regional custom domain (command & control block).
    ccDomainTarget: `d-mock.execute-api.${region}.amazonaws.com`,
    ccDomainZoneId: `ZMOCK${region.replace(/-/g, "").toUpperCase()}`,
  };
}
