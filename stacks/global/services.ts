/**
 * The global parts of analytics and application services (DESIGN.md §5): the EventBridge global
 * endpoint over both device-data buses, and the multi-region access point over both app buckets.
 * Both resources have derived names, so neither needs a reference to the regional stacks.
 */
import { AnalyticsGlobalEndpoint } from "../../infra/analytics.js";
import { ApplicationServicesGlobal, appBucketName } from "../../infra/applicationServices.js";
import { physicalNames } from "../names.js";
import type { ExportedOutputs, GlobalOutputs } from "../outputs.js";
import type { GlobalContext } from "./context.js";

/** Lives in the analytics account (where the buses are), homed in the primary region. */
export function analyticsEndpointBlock(
  ctx: GlobalContext,
): ExportedOutputs<
  Pick<
    GlobalOutputs,
    "analyticsGlobalEndpointId" | "analyticsGlobalEndpointName" | "analyticsGlobalEndpointArn"
  >
> {
  const { config } = ctx;
  const names = physicalNames(config);
  // The buses have a fixed name, so their ARNs need no reference to the regional stacks.
  const busArn = (region: string) =>
    `arn:aws:events:${region}:${config.accounts.analytics.id}:event-bus/${names.analyticsBus}`;
  const endpoint = new AnalyticsGlobalEndpoint(
    "analytics-endpoint",
    {
      primaryRegion: config.primaryRegion,
      secondaryRegion: config.secondaryRegion,
      primaryBusArn: busArn(config.primaryRegion),
      secondaryBusArn: busArn(config.secondaryRegion),
      eventBusName: names.analyticsBus,
      endpointName: names.analyticsEndpoint,
    },
    { provider: ctx.providers.get("analytics", "primary") },
  );
  return {
    // Known after the first deploy: set it as iot-dr:analyticsGlobalEndpointId on both regional
    // stacks so that their forwarders put device data through the global endpoint.
    analyticsGlobalEndpointId: endpoint.endpointId,
    analyticsGlobalEndpointName: endpoint.endpointName,
    analyticsGlobalEndpointArn: endpoint.endpointArn,
  };
}

/** Only with iot-dr:applicationServices. */
export function appAccessPointBlock(
  ctx: GlobalContext,
): ExportedOutputs<Pick<GlobalOutputs, "appAccessPointArn" | "appAccessPointAlias">> {
  const { config, providers } = ctx;
  if (!config.applicationServices) return {};
  const { appName } = config.applicationServices;
  const iotId = config.accounts.iot.id;
  const app = new ApplicationServicesGlobal(
    "app",
    {
      appName,
      primary: {
        region: config.primaryRegion,
        bucketName: appBucketName(appName, iotId, config.primaryRegion),
      },
      secondary: {
        region: config.secondaryRegion,
        bucketName: appBucketName(appName, iotId, config.secondaryRegion),
      },
      secondaryProvider: providers.get("iot", "secondary"),
    },
    { provider: providers.get("iot", "primary") },
  );
  return { appAccessPointArn: app.accessPointArn, appAccessPointAlias: app.accessPointAlias };
}
