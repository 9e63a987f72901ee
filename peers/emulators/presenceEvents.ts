/**
 * What IoT Core does between a broker and the presence table (functions/health/presence.ts): it
 * publishes a lifecycle event on `$aws/events/presence/connected|disconnected/<clientId>` for
 * each connection (documented shape: clientId, timestamp, eventType, sessionIdentifier,
 * principalIdentifier, ipAddress, versionNumber; disconnects add clientInitiatedDisconnect and
 * disconnectReason), and the presence rule's SQL selects the item its DynamoDB v2 action puts.
 * moto runs no rules, so this evaluates PRESENCE_RULE_SQL's projection; it refuses to run when
 * the SQL is not the one it evaluates, so a change of the rule cannot pass unnoticed.
 * Tests and the local drill use it; deployed code never does.
 */
import { randomUUID } from "node:crypto";
import type { Aedes } from "aedes";
import {
  DISCONNECTED_RETENTION_DAYS,
  PRESENCE_RULE_SQL,
  type PresenceItem,
} from "../../functions/health/presence.js";

/** A lifecycle event as AWS publishes it. */
export interface LifecycleEvent {
  clientId: string;
  timestamp: number;
  eventType: "connected" | "disconnected";
  sessionIdentifier: string;
  principalIdentifier: string;
  ipAddress?: string;
  versionNumber: number;
  clientInitiatedDisconnect?: boolean;
  disconnectReason?: string;
}

const EVALUATED_SQL =
  "SELECT clientId, versionNumber, eventType, timestamp, " +
  `CASE eventType WHEN 'disconnected' THEN floor(timestamp / 1000) + ${DISCONNECTED_RETENTION_DAYS * 86400} END AS expiresAt ` +
  "FROM '$aws/events/presence/+/+'";

/** The item the rule's SELECT yields for one event (Undefined columns left out). */
export function presenceRuleSelect(event: LifecycleEvent): PresenceItem {
  if (PRESENCE_RULE_SQL !== EVALUATED_SQL)
    throw new Error(
      "peers/emulators/presenceEvents.ts evaluates another presence rule SQL than functions/health/presence.ts declares: update the emulator with the rule",
    );
  return {
    clientId: event.clientId,
    versionNumber: event.versionNumber,
    eventType: event.eventType,
    timestamp: event.timestamp,
    ...(event.eventType === "disconnected"
      ? { expiresAt: Math.floor(event.timestamp / 1000) + DISCONNECTED_RETENTION_DAYS * 86400 }
      : {}),
  };
}

/**
 * Follows an aedes broker's connections and hands each rule result to `put` (e.g. a DynamoDB
 * PutItem on moto). versionNumber grows with each connection of a client id, as AWS's does.
 */
export function recordPresence(
  aedes: Aedes,
  put: (item: PresenceItem) => Promise<void>,
): { settled(): Promise<void>; events: LifecycleEvent[] } {
  const versions = new Map<string, number>();
  const sessions = new WeakMap<object, { version: number; session: string }>();
  const pending: Promise<void>[] = [];
  const events: LifecycleEvent[] = [];
  const emit = (event: LifecycleEvent) => {
    events.push(event);
    pending.push(put(presenceRuleSelect(event)));
  };
  aedes.on("client", (client) => {
    const version = (versions.get(client.id) ?? -1) + 1;
    versions.set(client.id, version);
    const session = randomUUID().replace(/-/g, "");
    sessions.set(client, { version, session });
    emit({
      clientId: client.id,
      timestamp: Date.now(),
      eventType: "connected",
      sessionIdentifier: session,
      principalIdentifier: "0123456789abcdef0123456789abcdef",
      ipAddress: "127.0.0.1",
      versionNumber: version,
    });
  });
  aedes.on("clientDisconnect", (client) => {
    const known = sessions.get(client);
    if (!known) return;
    emit({
      clientId: client.id,
      timestamp: Date.now(),
      eventType: "disconnected",
      sessionIdentifier: known.session,
      principalIdentifier: "0123456789abcdef0123456789abcdef",
      versionNumber: known.version,
      clientInitiatedDisconnect: false,
      disconnectReason: "API_INITIATED_DISCONNECT",
    });
  });
  return {
    events,
    settled: async () => {
      await Promise.all(pending);
    },
  };
}
