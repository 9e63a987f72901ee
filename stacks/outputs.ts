/**
 * The outputs of each stack, typed once: what stacks/regional.ts and stacks/global.ts export is
 * what stacks/references.ts (secondary reads primary, global reads both), cli/plan/references.ts
 * (a plan's mocked references) and the readers outside the program (drill/awsDeps.ts) read. One
 * zod schema per stack: the types are inferred from it, and `parseStackOutputs` checks a deployed
 * (or planned) stack's outputs against it, naming each output that is missing or of another type.
 * tests/foundation/outputsSeam.test.ts plans the stacks and feeds their real outputs to every reader.
 */
import type * as pulumi from "@pulumi/pulumi";
import { z } from "zod";

const text = z.string();
/** A value a regional stack exports as "" when the feature is off or in the other mode. */
const textOrEmpty = z.string();

/** Outputs every regional stack exports (stacks/regional.ts). */
export const regionalOutputsSchema = z.object({
  role: z.enum(["primary", "secondary"]),
  region: text,
  primaryRegion: text,
  /** SNS topic that receives this region's alarms. */
  alarmTopicArn: text,
  // ── registry replication ──
  /** The ops table as this region sees it (the global table or its replica). */
  opsTableNameInRegion: text,
  /** Replay's applied markers in this region (`replay|reconcile|redrive --marker-table`). */
  markerTableNameInRegion: text,
  captureDeadLetterQueueUrl: text,
  replayDeadLetterQueueUrl: text,
  replayStreamFailureQueueUrl: text,
  replayStateMachineArn: text,
  reconcilerFunctionName: text,
  // ── command & control and analytics ──
  ccApiEndpoint: text,
  ccApiHost: text,
  /** The API Gateway regional domain name serving the C&C domain in this region (alias target). */
  ccDomainTarget: text,
  /** Its Route 53 hosted zone id (alias target zone). */
  ccDomainZoneId: text,
  ccInvokePolicyArn: text,
  ccOperatorRoleArn: text,
  analyticsEventBusArn: text,
  analyticsStreamArn: text,
  analyticsDeadLetterQueueUrls: z.object({ rule: text, target: text, forwarder: text }),
  /** Only with iot-dr:applicationServices. */
  appTableName: text.optional(),
  appBucketName: text.optional(),
  appFunctionArns: z.record(z.string(), text).optional(),
  // ── health and fail-over: read by the global stack and the drill ──
  /** Host of the region's health-check function URL ("" in alarm mode). */
  healthCheckHost: textOrEmpty,
  /** `/<secret>` that Route 53 requests (a secret output; "" in alarm mode). */
  healthCheckResourcePath: textOrEmpty,
  /** The CloudWatch alarm Route 53 follows in alarm mode ("" in endpoint mode). */
  healthAlarmName: textOrEmpty,
  /** The SSM parameter operators set to force or forbid fail-over of this region. */
  healthOverrideParameter: text,
  /** The IoT services account's ATS data endpoint in the region (a bare host). */
  iotDataEndpoint: text,
  /** What the device fail-over record points at (the ATS endpoint serving the device domain). */
  deviceEndpointTarget: text,
  /** Role the notifier assumes to publish fail-over notices. */
  noticePublisherRoleArn: text,
  /** The presence table of the server-side move ("" when iot-dr:serverSideMove is off). */
  presenceTableName: textOrEmpty,
  /** Role the other region's mover assumes to disconnect this region's clients ("" when off). */
  moverRoleArn: textOrEmpty,
  // ── operations dashboard ──
  dashboardName: text,
});

/** Outputs only the primary stack exports: the ops table (global table) and its replica. */
export const primaryOutputsSchema = regionalOutputsSchema.extend({
  role: z.literal("primary"),
  /** The ops table name, the same in both regions. */
  opsTableName: text,
  opsTableArn: text,
  /** The ops table replica in the secondary region: its ARN, its own stream and its KMS key. */
  opsTableReplicaArn: text,
  opsTableReplicaStreamArn: text,
  opsTableReplicaKeyArn: text,
});

export const secondaryOutputsSchema = regionalOutputsSchema.extend({ role: z.literal("secondary") });

/** Outputs of the global stack (stacks/global.ts). */
export const globalOutputsSchema = z.object({
  role: z.literal("global"),
  primaryRegion: text,
  secondaryRegion: text,
  primaryAlarmTopicArn: text,
  secondaryAlarmTopicArn: text,
  failoverTopicArn: text,
  hostedZoneId: text,
  healthCheckIds: z.object({ primary: text, secondary: text }),
  healthCheckAlarmNames: z.object({ primary: text, secondary: text }),
  failoverRecordNames: z.array(text),
  /** The name devices connect to; `iot-dr drill --target aws` resolves it. */
  deviceEndpoint: text,
  /** Only with iot-dr:serverSideMove: the mover in each region. */
  serverSideMoverFunctionArns: z.array(text).optional(),
  analyticsGlobalEndpointId: text,
  analyticsGlobalEndpointName: text,
  analyticsGlobalEndpointArn: text,
  /** Only with iot-dr:applicationServices. */
  appAccessPointArn: text.optional(),
  appAccessPointAlias: text.optional(),
});

export type RegionalOutputs = z.infer<typeof regionalOutputsSchema>;
export type PrimaryOutputs = z.infer<typeof primaryOutputsSchema>;
export type SecondaryOutputs = z.infer<typeof secondaryOutputsSchema>;
export type GlobalOutputs = z.infer<typeof globalOutputsSchema>;

/** One output as a stack program returns it: the value, or a Pulumi Output (also inside objects and arrays). */
export type Exported<T> = T extends string | number | boolean
  ? pulumi.Input<T>
  : T extends readonly (infer U)[]
    ? pulumi.Input<Exported<U>[]>
    : T extends object
      ? pulumi.Input<{ [K in keyof T]: Exported<T[K]> }>
      : pulumi.Input<T>;

/** What a stack program returns for the outputs typed `T` above (stacks/regional.ts, stacks/global.ts). */
export type ExportedOutputs<T> = { [K in keyof T]: Exported<T[K]> };

/**
 * `outputs` unchanged, refused by tsc when it lacks an output of `T` or carries one `T` does not
 * declare (spreads escape TypeScript's excess-property check; this does not).
 */
export function exactOutputs<T>() {
  return <U extends ExportedOutputs<T>>(outputs: U & Record<Exclude<keyof U, keyof T>, never>): U => outputs;
}

export interface StackOutputsByRole {
  primary: PrimaryOutputs;
  secondary: SecondaryOutputs;
  global: GlobalOutputs;
}

const SCHEMAS = {
  primary: primaryOutputsSchema,
  secondary: secondaryOutputsSchema,
  global: globalOutputsSchema,
};

/**
 * Checks one stack's outputs (plain values, as `pulumi stack output --json` or the Automation API
 * give them) against its schema. Outputs the schema does not name are refused too: a new output
 * must be typed here before anyone reads it. Throws naming the stack and every wrong output.
 */
export function parseStackOutputs<R extends keyof StackOutputsByRole>(
  role: R,
  stackName: string,
  outputs: Record<string, unknown>,
): StackOutputsByRole[R] {
  const result = SCHEMAS[role].strict().safeParse(outputs);
  if (result.success) return result.data as StackOutputsByRole[R];
  const problems = result.error.issues.map((issue) => {
    const where = issue.path.join(".");
    if (issue.code === "unrecognized_keys")
      return `${issue.keys.join(", ")}: not declared in stacks/outputs.ts (type it there first)`;
    return `${where || "(outputs)"}: ${issue.message}`;
  });
  throw new Error(
    `stack '${stackName}' (${role}) exports outputs this program does not expect: ${problems.join("; ")}; ` +
      "deploy the current program to it (iot-dr deploy)",
  );
}
