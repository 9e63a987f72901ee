/**
 * The physical names the stacks set themselves (everything else is auto-named by Pulumi). Each
 * carries the environment, so that two environments deploy into the same accounts and regions
 * without taking each other's names (issue #17, item 9). One module, so that the regional and
 * global stacks agree on the names they share (the analytics buses, the override parameters).
 */
import type { DrConfig } from "./config.js";

/** IoT rule names take letters, digits and '_' only. */
const ruleSafe = (s: string) => s.replace(/[^A-Za-z0-9_]/g, "_");

export function physicalNames(config: Pick<DrConfig, "environment">) {
  const env = config.environment;
  return {
    /** The analytics bus, the same name in both regions (global endpoints require it). */
    analyticsBus: `iot-dr-device-data-${env}`,
    /** The EventBridge global endpoint over both buses (global stack). */
    analyticsEndpoint: `iot-dr-device-data-${env}`,
    /** The IoT rule that forwards device data, per region. */
    analyticsRule: (region: string) => ruleSafe(`iot_dr_device_data_${env}_${region}`),
    /** Prefix of the capture rules (`<prefix>_THING`, ...). */
    captureRulePrefix: ruleSafe(`iot_dr_capture_${env}`),
    /** The C&C operator role in the IoT services account, per region (IAM is global). */
    ccOperatorRole: (region: string) => `iot-dr-cc-operator-${env}-${region}`,
    /** The C&C idempotency table (a global table: the same name in both regions). */
    ccIdempotencyTable: `iot-dr-cc-idempotency-${env}`,
    /** The SSM parameter operators set to force or forbid fail-over of a region. */
    healthOverrideParameter: (region: string) => `/iot-dr/${env}/health/override/${region}`,
    /** The regional dashboard in shared services. */
    dashboard: (slot: string, region: string) => `iot-dr-${env}-${slot}-${region}`,
    /**
     * The broker canary's client-id prefix; each probe connects as `<prefix>-<random>` (its IoT
     * policy allows `client/<prefix>-*`), so overlapping probes never disconnect each other.
     */
    canaryClientIdPrefix: (region: string) => `iot-dr-canary-${env}-${region}`,
    /** The IoT rule that records lifecycle events for the server-side move, per region. */
    presenceRule: (region: string) => ruleSafe(`iot_dr_presence_${env}_${region}`),
  };
}
