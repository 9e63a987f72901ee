/** The device-side fail-over library: what device teams embed. See device/README.md. */
export { Backoff, BACKOFF_DEFAULTS, type BackoffOptions } from "./backoff.js";
export {
  FailoverClient,
  systemClock,
  type Clock,
  type DeviceCounters,
  type DropReason,
  type FailoverClientEvents,
  type FailoverClientOptions,
  type PublishOutcome,
  type TargetInfo,
  type Trigger,
} from "./client.js";
export { Fleet, type FleetOptions, type FleetReport, type FleetSecond, type FleetStats } from "./fleet.js";
export { parseNotice, type FailoverNotice } from "./notice.js";
export {
  admitToQueue,
  answerMovesAway,
  decideNotice,
  pickAddress,
  reresolvePeriodMs,
  type NoticeDecision,
  type NoticeSettings,
  type QueueAdmission,
} from "./policy.js";
export {
  CachingResolver,
  dnsQuery,
  parseDnsServers,
  ResolveError,
  type DnsAnswer,
  type QueryFn,
  type ResolvedAnswer,
  type ResolverOptions,
} from "./resolver.js";
export {
  buildTlsOptions,
  IOT_MQTT_ALPN,
  openStream,
  type ConnectTarget,
  type TlsSettings,
} from "./transport.js";
