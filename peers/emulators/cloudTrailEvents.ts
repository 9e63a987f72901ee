/**
 * Emulates what CloudTrail and EventBridge do for IoT's control-plane writes: every successful call
 * that the capture rule's pattern matches (evaluated as EventBridge does, streamFilter.ts), sent
 * through an observed IoTClient as its caller, yields the event the
 * default bus would deliver (`"detail-type": "AWS API Call via CloudTrail"`, `detail.requestParameters`
 * = the request members, `detail.responseElements` = the response members without the private
 * key, which CloudTrail never logs). moto has no CloudTrail; deployed code never uses this.
 *
 * Event times have CloudTrail's second precision; event ids are random UUID-like strings.
 */
import type { IoTClient } from "@aws-sdk/client-iot";
import {
  CAPTURED_IOT_CALLS,
  CLOUDTRAIL_DETAIL_TYPE,
  CLOUDTRAIL_EVENT_PATTERN,
  IOT_EVENT_SOURCE,
  type CloudTrailApiCallEvent,
} from "../../functions/replication/cloudTrail.js";
import { matchesFilter, type FilterPattern } from "../../functions/replication/streamFilter.js";
import { observed, type Observed } from "./observed.js";

export interface CloudTrailEmulator extends Observed<CloudTrailApiCallEvent> {
  readonly events: CloudTrailApiCallEvent[];
}

let seq = 0;

/**
 * Who makes the calls, as CloudTrail's `userIdentity` names them: a function's (or a person's)
 * assumed role, whose session names the role in `sessionContext.sessionIssuer`; or an IAM user.
 */
export type Caller = { roleArn: string; sessionName?: string } | { userArn: string };

/** CloudTrail's `userIdentity` of a caller (the members the capture rule and a reader look at). */
export function userIdentityOf(caller: Caller, accountId: string): Record<string, unknown> {
  if ("userArn" in caller)
    return {
      type: "IAMUser",
      principalId: "AIDAEXAMPLEOPERATOR0",
      arn: caller.userArn,
      accountId,
      userName: caller.userArn.split("/").at(-1),
    };
  const roleName = caller.roleArn.split("/").at(-1) ?? caller.roleArn;
  const session = caller.sessionName ?? roleName;
  return {
    type: "AssumedRole",
    principalId: `AROAEXAMPLEROLE00000:${session}`,
    arn: `arn:aws:sts::${accountId}:assumed-role/${roleName}/${session}`,
    accountId,
    accessKeyId: "ASIAEXAMPLEKEY000000",
    sessionContext: {
      sessionIssuer: {
        type: "Role",
        principalId: "AROAEXAMPLEROLE00000",
        arn: caller.roleArn,
        accountId,
        userName: roleName,
      },
      attributes: { creationDate: "2026-01-01T00:00:00Z", mfaAuthenticated: "false" },
    },
  };
}

const uuid = () =>
  "xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx".replace(/x/g, () => Math.floor(Math.random() * 16).toString(16));

export function emitCloudTrailEvents(
  client: IoTClient,
  options: {
    region: string;
    accountId?: string;
    clock?: () => number;
    /** Who the client's calls are logged as; default an operator's IAM user. */
    caller?: Caller;
    /**
     * The rule's pattern the events must match to reach capture; default every call capture
     * follows (CLOUDTRAIL_EVENT_PATTERN). The deployed rule's: captureEventPattern(replay's role).
     */
    pattern?: FilterPattern;
  },
): CloudTrailEmulator {
  const accountId = options.accountId ?? "123456789012";
  const pattern = options.pattern ?? CLOUDTRAIL_EVENT_PATTERN;
  const userIdentity = userIdentityOf(
    options.caller ?? { userArn: `arn:aws:iam::${accountId}:user/operator` },
    accountId,
  );
  const clock = options.clock ?? Date.now;
  const events: CloudTrailApiCallEvent[] = [];
  const name = `cloudTrailEvents${++seq}`;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = ((context as { commandName?: string }).commandName ?? "").replace(/Command$/, "");
      const result = await next(args);
      if (!(CAPTURED_IOT_CALLS as readonly string[]).includes(command)) return result;
      const output = { ...((result.output ?? {}) as unknown as Record<string, unknown>) };
      delete output.$metadata;
      delete output.keyPair; // CloudTrail does not log private keys
      const time = new Date(Math.floor(clock() / 1000) * 1000).toISOString().replace(".000Z", "Z");
      const event: CloudTrailApiCallEvent = {
        version: "0",
        id: uuid(),
        "detail-type": CLOUDTRAIL_DETAIL_TYPE,
        source: "aws.iot",
        account: accountId,
        time,
        region: options.region,
        detail: {
          eventSource: IOT_EVENT_SOURCE,
          eventName: command,
          eventID: uuid(),
          eventTime: time,
          awsRegion: options.region,
          requestParameters: JSON.parse(JSON.stringify(args.input ?? {})) as Record<string, unknown>,
          responseElements: Object.keys(output).length > 0 ? output : null,
          userIdentity,
        },
      };
      if (matchesFilter(pattern, event)) events.push(event);
      return result;
    },
    { step: "initialize", name },
  );
  return { events, ...observed(client, name, events) };
}
