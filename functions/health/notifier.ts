/**
 * The fail-over notifier: a Route 53 health-check alarm changed state (CloudWatch → SNS → here);
 * publish a fail-over notice on the notice topic in both regions (IoT data plane), so that devices
 * still connected to the failing region move now instead of at their next DNS re-resolution.
 */

import { encodeNotice, NOTICE_VERSION, type FailoverNotice } from "./notice.js";

/** The notice as the notifier builds it: every field of the schema (./notice.ts) set. */
export type PublishedNotice = Required<Omit<FailoverNotice, "spreadMs">> & { spreadMs?: number };

/** The alarm of each region's health check, as configured by the fail-over DNS component. */
export interface AlarmRegion {
  alarmName: string;
  region: string;
}

export interface NotifierDeps {
  /** Every region that gets the notice (both regions). */
  regions: readonly string[];
  alarms: readonly AlarmRegion[];
  topic: string;
  /** Window over which devices spread their moves, ms (fleet size / connect quota); default none (the device's own). */
  spreadMs?: number;
  /** Publishes retained (a device that connects later still learns where to be). */
  publish: (region: string, topic: string, payload: string) => Promise<void>;
  logger: {
    info(m: string, e?: Record<string, unknown>): void;
    warn(m: string, e?: Record<string, unknown>): void;
  };
}

interface SnsEvent {
  Records?: Array<{ Sns?: { Message?: string; MessageId?: string } }>;
}

interface AlarmMessage {
  AlarmName?: string;
  NewStateValue?: string;
  OldStateValue?: string;
  NewStateReason?: string;
  StateChangeTime?: string;
}

/** CloudWatch writes "2026-12-03T17:00:00.000+0000"; the notice carries ISO-8601 with a Z. */
function cloudWatchTime(value: string | undefined): string {
  const ms = value === undefined ? NaN : Date.parse(value.replace(/([+-]\d\d)(\d\d)$/, "$1:$2"));
  return new Date(Number.isNaN(ms) ? 0 : ms).toISOString();
}

/** Turns one alarm message into a notice, or null when it is not a health-check state change we act on. */
export function noticeFor(
  message: AlarmMessage,
  messageId: string,
  deps: Pick<NotifierDeps, "alarms" | "regions" | "spreadMs">,
): PublishedNotice | null {
  const alarm = deps.alarms.find((a) => a.alarmName === message.AlarmName);
  if (!alarm) return null;
  const other = deps.regions.find((r) => r !== alarm.region) ?? alarm.region;
  const at = cloudWatchTime(message.StateChangeTime);
  const common = {
    version: NOTICE_VERSION,
    id: messageId,
    fromRegion: alarm.region,
    at,
    ...(deps.spreadMs !== undefined ? { spreadMs: deps.spreadMs } : {}),
  };
  if (message.NewStateValue === "ALARM") {
    return {
      ...common,
      type: "failover",
      targetRegion: other,
      reason: message.NewStateReason ?? "health check unhealthy",
    };
  }
  if (message.NewStateValue === "OK" && message.OldStateValue === "ALARM") {
    return {
      ...common,
      type: "recovered",
      targetRegion: alarm.region,
      reason: message.NewStateReason ?? "health check healthy again",
    };
  }
  return null;
}

/**
 * Handles an SNS event. Publishing in the failing region may well fail: that is logged, not
 * thrown. The handler throws only when a notice reached no region at all, so SNS retries it.
 */
export async function handleAlarmEvent(
  event: SnsEvent,
  deps: NotifierDeps,
): Promise<{ published: number; failed: number; ignored: number }> {
  let published = 0;
  let failed = 0;
  let ignored = 0;
  for (const record of event.Records ?? []) {
    let message: AlarmMessage;
    try {
      message = JSON.parse(record.Sns?.Message ?? "") as AlarmMessage;
    } catch {
      deps.logger.warn("ignored an SNS message that is not an alarm state change");
      ignored++;
      continue;
    }
    const notice = noticeFor(
      message,
      record.Sns?.MessageId ?? `${message.AlarmName}-${message.StateChangeTime}`,
      deps,
    );
    if (!notice) {
      ignored++;
      continue;
    }
    const payload = encodeNotice(notice);
    const outcomes = await Promise.allSettled(
      deps.regions.map((region) => deps.publish(region, deps.topic, payload)),
    );
    let reached = 0;
    outcomes.forEach((outcome, i) => {
      if (outcome.status === "fulfilled") {
        reached++;
        published++;
      } else {
        failed++;
        deps.logger.warn("fail-over notice not published", {
          region: deps.regions[i],
          error: String(outcome.reason),
        });
      }
    });
    deps.logger.info("fail-over notice", { notice, reached });
    if (reached === 0)
      throw new Error(`the ${notice.type} notice for ${notice.fromRegion} reached no region; SNS will retry`);
  }
  return { published, failed, ignored };
}
