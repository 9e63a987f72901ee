/**
 * IoT control-plane calls as CloudTrail delivers them to the default EventBridge bus
 * (`"detail-type": "AWS API Call via CloudTrail"`, `source` `aws.iot`): certificate, policy and
 * attachment changes, for which IoT raises no registry event. An event is only a pointer: it names
 * the resources a call touched; capture reads their current state from its own region, so order,
 * duplicates and redacted `responseElements` do not matter.
 *
 * One module owns the format: the deployed EventBridge rule's pattern (captureEventPattern),
 * capture, `iot-dr replay --events` and the test emulator all use it.
 */
import { keys, type PolicyTargetRef } from "../registry/records.js";
import { InvalidRecord } from "./errors.js";
import type { FilterPattern } from "./streamFilter.js";

export const CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail";
export const IOT_EVENT_SOURCE = "iot.amazonaws.com";

/**
 * The IoT API calls capture follows: every control-plane write that changes a certificate, a
 * policy or an attachment DR carries. Things, types, groups and memberships come from registry
 * events. AttachPrincipalPolicy/DetachPrincipalPolicy are deprecated but still served and logged.
 */
export const CAPTURED_IOT_CALLS = [
  "CreateKeysAndCertificate",
  "CreateCertificateFromCsr",
  "RegisterCertificate",
  "RegisterCertificateWithoutCA",
  "UpdateCertificate",
  "DeleteCertificate",
  "CreatePolicy",
  "CreatePolicyVersion",
  "SetDefaultPolicyVersion",
  "DeletePolicyVersion",
  "DeletePolicy",
  "AttachPolicy",
  "DetachPolicy",
  "AttachPrincipalPolicy",
  "DetachPrincipalPolicy",
  "AttachThingPrincipal",
  "DetachThingPrincipal",
] as const;
export type CapturedIotCall = (typeof CAPTURED_IOT_CALLS)[number];

/** The IoT calls capture follows, whoever made them. */
export const CLOUDTRAIL_EVENT_PATTERN = {
  source: ["aws.iot"],
  "detail-type": [CLOUDTRAIL_DETAIL_TYPE],
  detail: { eventSource: [IOT_EVENT_SOURCE], eventName: [...CAPTURED_IOT_CALLS] },
};

/**
 * The EventBridge pattern of the capture rule (default bus of the IoT services account, each
 * region): the calls capture follows, except those made by `replayRoleArns`, this region's replay.
 *
 * Replay's own calls are echoes: their capture would read the state replay just applied, find the
 * record holding it and write nothing (capture.ts), at the price of a queue message, a function run,
 * table reads and an IoT read each. Leaving them out at the rule costs nothing (EventBridge does not
 * bill matching AWS service events) and is exact: CloudTrail names the caller, and a call replay
 * made under its role is never a local change. Registry events name no caller, so their echoes still
 * reach capture. An assumed role's call names the role in `sessionContext.sessionIssuer.arn`; any
 * other caller (an IAM user, the root user, an AWS service) has no such field, and a pattern matches
 * a missing field only through `exists`, so the `$or` passes every caller that is not an assumed
 * role by its `type`, and an assumed role that names no issuer by `exists: false`: nothing is left
 * out unless CloudTrail names replay's role.
 */
export function captureEventPattern(replayRoleArns: readonly string[]): FilterPattern {
  for (const arn of replayRoleArns)
    if (!/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/.test(arn))
      throw new Error(
        `captureEventPattern: '${arn}' is not an IAM role ARN (arn:aws:iam::<account>:role/<name>); pass the replay function's role ARN`,
      );
  if (replayRoleArns.length === 0) return CLOUDTRAIL_EVENT_PATTERN;
  return {
    ...CLOUDTRAIL_EVENT_PATTERN,
    detail: {
      ...CLOUDTRAIL_EVENT_PATTERN.detail,
      $or: [
        { userIdentity: { type: [{ "anything-but": "AssumedRole" }] } },
        {
          userIdentity: {
            type: ["AssumedRole"],
            sessionContext: { sessionIssuer: { arn: [{ "anything-but": [...replayRoleArns] }] } },
          },
        },
        {
          userIdentity: {
            type: ["AssumedRole"],
            sessionContext: { sessionIssuer: { arn: [{ exists: false }] } },
          },
        },
      ],
    },
  };
}

/** The members of an EventBridge CloudTrail event that capture reads (AWS sends more). */
export interface CloudTrailApiCallEvent {
  version?: string;
  id?: string;
  "detail-type": typeof CLOUDTRAIL_DETAIL_TYPE;
  source: "aws.iot";
  account?: string;
  time?: string;
  region?: string;
  detail: {
    eventSource: typeof IOT_EVENT_SOURCE;
    eventName: string;
    eventID: string;
    /** ISO 8601, second precision. */
    eventTime: string;
    awsRegion: string;
    /** The API's request members; may be null. */
    requestParameters: Record<string, unknown> | null;
    /** The API's response members; may be null or leave out secrets (private keys). */
    responseElements: Record<string, unknown> | null;
    /** Present when the call failed (nothing changed). */
    errorCode?: string;
    errorMessage?: string;
    userIdentity?: Record<string, unknown>;
  };
}

export interface ParsedApiCall {
  eventName: string;
  eventId: string;
  /** Epoch milliseconds of the call. */
  timestamp: number;
  region: string;
  /** Resources whose state the call changed. */
  keys: string[];
  /** Resources the changed ones refer to, captured only when the table has no record of them yet. */
  related: string[];
  /** Set when the event changes nothing capture follows (a failed call, a principal that is not a certificate). */
  ignored?: string;
}

/** True when a value looks like an EventBridge CloudTrail event (not a registry event message). */
export function isCloudTrailEvent(value: unknown): value is CloudTrailApiCallEvent {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as Record<string, unknown>)["detail-type"] === CLOUDTRAIL_DETAIL_TYPE
  );
}

/** `arn:aws:iot:<region>:<account>:cert/<id>` -> id. */
const certIdOfArn = (arn: string) =>
  /^arn:[^:]+:iot:[^:]*:[^:]*:cert\/([0-9a-fA-F]{64})$/.exec(arn)?.[1]?.toLowerCase();
/** `arn:aws:iot:<region>:<account>:thinggroup/<name>` -> name. */
const groupOfArn = (arn: string) => /^arn:[^:]+:iot:[^:]*:[^:]*:thinggroup\/(.+)$/.exec(arn)?.[1];

/**
 * Reads what an API call touched. Throws InvalidRecord for an event that is not an IoT CloudTrail
 * event or lacks a member the call always has; returns `ignored` for one that changed nothing
 * capture follows.
 */
export function parseCloudTrailEvent(event: unknown): ParsedApiCall {
  if (!isCloudTrailEvent(event))
    throw new InvalidRecord(
      `not an EventBridge CloudTrail event: 'detail-type' must be '${CLOUDTRAIL_DETAIL_TYPE}'`,
    );
  const d = (event as { detail?: unknown }).detail as Partial<CloudTrailApiCallEvent["detail"]> | undefined;
  if (!d || typeof d !== "object") throw new InvalidRecord("CloudTrail event has no 'detail' object");
  if (d.eventSource !== IOT_EVENT_SOURCE)
    throw new InvalidRecord(
      `CloudTrail event from '${String(d.eventSource)}', expected '${IOT_EVENT_SOURCE}'`,
    );
  const name = String(d.eventName ?? "");
  const what = `CloudTrail event ${name || "(no eventName)"}`;
  if (typeof d.eventID !== "string" || d.eventID === "")
    throw new InvalidRecord(
      `${what} has no 'detail.eventID'; pass the event exactly as EventBridge delivered it`,
    );
  const timestamp = typeof d.eventTime === "string" ? Date.parse(d.eventTime) : NaN;
  if (!Number.isFinite(timestamp)) throw new InvalidRecord(`${what} has no ISO 'detail.eventTime'`);
  if (typeof d.awsRegion !== "string" || d.awsRegion === "")
    throw new InvalidRecord(`${what} has no 'detail.awsRegion'`);
  const base = { eventName: name, eventId: d.eventID, timestamp, region: d.awsRegion };
  const ignore = (why: string): ParsedApiCall => ({ ...base, keys: [], related: [], ignored: why });
  if (!(CAPTURED_IOT_CALLS as readonly string[]).includes(name))
    return ignore(`${name} is not a call capture follows`);
  if (d.errorCode) return ignore(`the call failed (${d.errorCode}): nothing changed`);
  const req = (d.requestParameters ?? {}) as Record<string, unknown>;
  const res = (d.responseElements ?? {}) as Record<string, unknown>;
  const str = (o: Record<string, unknown>, k: string) =>
    typeof o[k] === "string" && o[k] !== "" ? (o[k] as string) : undefined;
  const need = (o: Record<string, unknown>, k: string, where: string) => {
    const v = str(o, k);
    if (v === undefined) throw new InvalidRecord(`${what} has no '${where}.${k}'`);
    return v;
  };
  const build = (f: () => string) => {
    try {
      return f();
    } catch (err) {
      throw new InvalidRecord(`${what}: ${(err as Error).message}`);
    }
  };
  const targetOf = (arn: string): PolicyTargetRef | undefined => {
    const certificateId = certIdOfArn(arn);
    if (certificateId) return { type: "certificate", certificateId };
    const groupName = groupOfArn(arn);
    return groupName ? { type: "thingGroup", groupName } : undefined;
  };

  switch (name as CapturedIotCall) {
    case "CreateKeysAndCertificate":
    case "CreateCertificateFromCsr":
    case "RegisterCertificate":
    case "RegisterCertificateWithoutCA": {
      const arn = str(res, "certificateArn");
      const id = str(res, "certificateId")?.toLowerCase() ?? (arn ? certIdOfArn(arn) : undefined);
      // Nothing to point at: the reconciler's next pass finds the certificate (docs/security.md).
      if (!id) return ignore("responseElements names no certificate (no certificateId or certificateArn)");
      return { ...base, keys: [build(() => keys.certificate(id))], related: [] };
    }
    case "UpdateCertificate":
    case "DeleteCertificate": {
      const id = need(req, "certificateId", "requestParameters");
      return { ...base, keys: [build(() => keys.certificate(id.toLowerCase()))], related: [] };
    }
    case "CreatePolicy":
    case "CreatePolicyVersion":
    case "SetDefaultPolicyVersion":
    case "DeletePolicyVersion":
    case "DeletePolicy": {
      const policyName = need(req, "policyName", "requestParameters");
      return { ...base, keys: [build(() => keys.policy(policyName))], related: [] };
    }
    case "AttachPolicy":
    case "DetachPolicy":
    case "AttachPrincipalPolicy":
    case "DetachPrincipalPolicy": {
      const policyName = need(req, "policyName", "requestParameters");
      const member = name.endsWith("PrincipalPolicy") ? "principal" : "target";
      const arn = need(req, member, "requestParameters");
      const target = targetOf(arn);
      if (!target) return ignore(`${member} ${arn} is neither a certificate nor a thing group`);
      const end =
        target.type === "certificate"
          ? keys.certificate(target.certificateId)
          : keys.thingGroup(target.groupName);
      return {
        ...base,
        keys: [build(() => keys.policyTarget(policyName, target))],
        related: [build(() => keys.policy(policyName)), end],
      };
    }
    case "AttachThingPrincipal":
    case "DetachThingPrincipal": {
      const thingName = need(req, "thingName", "requestParameters");
      const principal = need(req, "principal", "requestParameters");
      const certificateId = certIdOfArn(principal);
      if (!certificateId) return ignore(`principal ${principal} is not a certificate`);
      return {
        ...base,
        keys: [build(() => keys.principal(thingName, certificateId))],
        related: [build(() => keys.certificate(certificateId)), build(() => keys.thing(thingName))],
      };
    }
  }
}
