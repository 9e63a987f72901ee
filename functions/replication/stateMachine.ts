/**
 * The replay state machine (an Express workflow started synchronously by the launcher): applies
 * one stream batch, wave after wave, and reports one outcome per record. Written in JSONPath (no
 * JSONata, no variables) so that the same definition runs on AWS and in aws-local-stepfunctions.
 *
 * Ordering: the launcher splits a batch into waves of one kind and equal dependency rank
 * (certificates, policies, thing groups by depth, types; then things; then each attachment kind;
 * deletes in reverse) with at most one record per resource (records.ts `replayWaves`). Waves run
 * one at a time (outer Map, MaxConcurrency 1) so that every record of a lower rank is settled
 * before a higher rank starts; records inside a wave are independent, and of one kind, so a group
 * never mixes records that wait for different quotas.
 *
 * Groups: a wave is cut into groups of `groupSize` records (States.ArrayPartition), a few groups at
 * a time (inner Map). One replay invocation applies a whole group, its records at once, so one
 * container has several calls of an API under way: its pacer reserves blocks of starts in the
 * region's shared schedule with one write each, and Lambda bills one request and one run of waits
 * for the group (docs/replay-at-scale.md, "Groups"). A record the group could not apply, and every
 * record of a group whose invocation failed, then goes through the per-record path: its own Task
 * with the retries, the dead-letter queue and the hand-back to the stream, as before groups.
 */

/** Retry settings of one error class; the wait is min(interval × rate^n, max delay), fully jittered. */
export interface RetrySettings {
  /** Wait before the first retry, in seconds. */
  intervalSeconds: number;
  /** Multiplier of the wait per retry. */
  backoffRate: number;
  /** Retries after the first attempt. */
  maxAttempts: number;
  /** Upper bound of one wait, in seconds. */
  maxDelaySeconds: number;
}

export interface ReplayDefinitionArgs {
  /** ARN of the replay function (Task resource). */
  replayFunctionArn: string;
  /** URL of the dead-letter queue that receives records that cannot be applied. */
  deadLetterQueueUrl: string;
  /** Retries of `Throttled` (IoT control-plane throttling that outlived the function's own pacing). */
  throttleRetry: RetrySettings;
  /** Retries of `DependencyNotReady` (a parent not replicated yet, e.g. from another shard). */
  dependencyRetry: RetrySettings;
  /** Groups of one wave applied in parallel (replay invocations at once per batch). */
  waveConcurrency: number;
  /** Records one replay invocation applies at once (a wave is cut into groups this size). */
  groupSize: number;
  /** Timeout of one replay Task, in seconds (at least the function timeout). */
  taskTimeoutSeconds: number;
}

/** State names, shared with the local runner that binds handlers to them. */
export const REPLAY_STATES = {
  waves: "ApplyWaves",
  partition: "CutWaveIntoGroups",
  wave: "ApplyWave",
  group: "ApplyGroup",
  groupFailed: "ApplyGroupOneByOne",
  again: "ApplyLeftOneByOne",
  groupDone: "GroupDone",
  apply: "ApplyRecord",
  applied: "Applied",
  deadLetter: "SendToDeadLetterQueue",
  deadLettered: "DeadLettered",
  retryLater: "RetryLater",
} as const;

/** Errors that are transient at the scale of a stream retry: the launcher hands them back to the stream. */
export const TRANSIENT_ERRORS = [
  "Throttled",
  "States.Timeout",
  "Lambda.ServiceException",
  "Lambda.AWSLambdaException",
  "Lambda.SdkClientException",
  "Lambda.TooManyRequestsException",
] as const;

/** Marks dead letters written by this state machine; parseDeadLetter reads `record` and `error` and ignores it. */
export const DEAD_LETTER_SOURCE = "replay-state-machine";

/** One record of a batch as the state machine receives it. */
export interface ReplayEntry<R = unknown> {
  /** The stream sequence number, the launcher's handle for per-item failures. */
  sequenceNumber: string;
  record: R;
}

/** The execution input: waves run in order, records inside one wave in parallel. */
export interface ReplayBatchInput<R = unknown> {
  waves: { entries: ReplayEntry<R>[] }[];
}

/** What the group Task hands the replay function: independent records of one wave. */
export interface ReplayGroupInput<R = unknown> {
  entries: ReplayEntry<R>[];
}

/**
 * What the replay function answers for a group: an outcome per record it applied, and the records
 * it could not apply, untouched, for the per-record path (their errors come again from there).
 */
export interface ReplayGroupResult<R = unknown> {
  applied: ReplayEntryOutcome[];
  again: ReplayEntry<R>[];
}

/** What one group reports in the execution's output: the outputs are waves of these. */
export interface ReplayGroupOutput {
  applied: ReplayEntryOutcome[];
  retried: ReplayEntryOutcome[];
}

/**
 * Records one replay invocation applies, deployed. A group's records wait for their starts together
 * inside one invocation, so its run is bounded by the slowest quota: with every shard's batch in
 * flight (shards x waveConcurrency x groupSize records) on a 10 TPS API, 4 shards wait up to 16 s,
 * inside the replay function's 60 s; docs/replay-at-scale.md sizes it.
 */
export const REPLAY_GROUP_SIZE = 10;

/** Largest `groupSize`: the records of a group wait for their starts together inside one invocation. */
export const MAX_GROUP_SIZE = 25;

export type ReplayEntryStatus = "applied" | "deadLettered" | "retryLater";

/** What the execution reports per record; the output is one list of these per wave. */
export interface ReplayEntryOutcome {
  sequenceNumber: string;
  key: string;
  status: ReplayEntryStatus;
  /** The replay function's result, for applied records. */
  outcome?: unknown;
  error?: string;
  cause?: string;
}

function checkRetry(name: string, r: RetrySettings): void {
  const ok =
    r.intervalSeconds >= 1 &&
    r.backoffRate >= 1 &&
    Number.isInteger(r.maxAttempts) &&
    r.maxAttempts >= 0 &&
    r.maxDelaySeconds >= r.intervalSeconds;
  if (!ok) {
    throw new Error(
      `invalid ${name} retry ${JSON.stringify(r)}: need intervalSeconds >= 1, backoffRate >= 1, integer maxAttempts >= 0, maxDelaySeconds >= intervalSeconds`,
    );
  }
}

function retrier(errors: readonly string[], r: RetrySettings) {
  return {
    ErrorEquals: [...errors],
    IntervalSeconds: r.intervalSeconds,
    BackoffRate: r.backoffRate,
    MaxAttempts: r.maxAttempts,
    MaxDelaySeconds: r.maxDelaySeconds,
    JitterStrategy: "FULL",
  };
}

/** The Amazon States Language definition of the replay workflow. */
export function replayStateMachineDefinition(args: ReplayDefinitionArgs) {
  checkRetry("throttle", args.throttleRetry);
  checkRetry("dependency", args.dependencyRetry);
  if (!Number.isInteger(args.waveConcurrency) || args.waveConcurrency < 1) {
    throw new Error(`invalid waveConcurrency ${args.waveConcurrency}: need an integer >= 1`);
  }
  if (!Number.isInteger(args.groupSize) || args.groupSize < 1 || args.groupSize > MAX_GROUP_SIZE) {
    throw new Error(`invalid groupSize ${args.groupSize}: need an integer from 1 to ${MAX_GROUP_SIZE}`);
  }
  if (!Number.isInteger(args.taskTimeoutSeconds) || args.taskTimeoutSeconds < 1) {
    throw new Error(`invalid taskTimeoutSeconds ${args.taskTimeoutSeconds}: need an integer >= 1`);
  }
  const outcome = (status: ReplayEntryStatus, extra: Record<string, string>) => ({
    "sequenceNumber.$": "$.sequenceNumber",
    "key.$": "$.record.key",
    status,
    ...extra,
  });
  // Lambda's own transient failures, retried briefly by the service's recommendation.
  const lambdaRetry = retrier(
    TRANSIENT_ERRORS.filter((e) => e.startsWith("Lambda.")),
    { intervalSeconds: 1, backoffRate: 2, maxAttempts: 3, maxDelaySeconds: 4 },
  );
  const recordStates = {
    StartAt: REPLAY_STATES.apply,
    States: {
      [REPLAY_STATES.apply]: {
        Type: "Task",
        Resource: args.replayFunctionArn,
        TimeoutSeconds: args.taskTimeoutSeconds,
        ResultPath: "$.outcome",
        Retry: [
          retrier(["Throttled"], args.throttleRetry),
          retrier(["DependencyNotReady"], args.dependencyRetry),
          lambdaRetry,
        ],
        Catch: [
          // Still transient after its retries: the stream retries the record later, in order.
          { ErrorEquals: [...TRANSIENT_ERRORS], ResultPath: "$.error", Next: REPLAY_STATES.retryLater },
          // InvalidRecord, DependencyNotReady after its retries, anything unknown: park it with the reason.
          { ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: REPLAY_STATES.deadLetter },
        ],
        Next: REPLAY_STATES.applied,
      },
      [REPLAY_STATES.applied]: {
        Type: "Pass",
        Parameters: outcome("applied", { "outcome.$": "$.outcome" }),
        End: true,
      },
      [REPLAY_STATES.deadLetter]: {
        Type: "Task",
        Resource: "arn:aws:states:::sqs:sendMessage",
        Parameters: {
          QueueUrl: args.deadLetterQueueUrl,
          // DeadLetterMessage of deadLetter.ts: the record untouched and the error output {Error, Cause}.
          MessageBody: {
            "record.$": "$.record",
            "error.$": "$.error",
            "sequenceNumber.$": "$.sequenceNumber",
            source: DEAD_LETTER_SOURCE,
          },
        },
        ResultPath: null,
        Retry: [
          {
            ErrorEquals: ["States.ALL"],
            IntervalSeconds: 1,
            BackoffRate: 2,
            MaxAttempts: 3,
            MaxDelaySeconds: 4,
            JitterStrategy: "FULL",
          },
        ],
        // A dead letter that cannot be written fails the execution: the launcher then reports the
        // whole batch to the stream, which retries it and finally uses its on-failure destination.
        Next: REPLAY_STATES.deadLettered,
      },
      [REPLAY_STATES.deadLettered]: {
        Type: "Pass",
        Parameters: outcome("deadLettered", { "error.$": "$.error.Error", "cause.$": "$.error.Cause" }),
        End: true,
      },
      [REPLAY_STATES.retryLater]: {
        Type: "Pass",
        Parameters: outcome("retryLater", { "error.$": "$.error.Error", "cause.$": "$.error.Cause" }),
        End: true,
      },
    },
  };
  const groupStates = {
    StartAt: REPLAY_STATES.group,
    States: {
      [REPLAY_STATES.group]: {
        Type: "Task",
        Resource: args.replayFunctionArn,
        TimeoutSeconds: args.taskTimeoutSeconds,
        // No ResultPath (the default, "$"): the result replaces the group's input, so the records
        // come back only in `again` and the state never holds them twice (256 KiB per state).
        Retry: [lambdaRetry],
        Catch: [
          // Whatever ended the invocation (a timeout, a crash), every record goes one by one:
          // replay is idempotent, so the records it had applied find their state and change nothing.
          { ErrorEquals: ["States.ALL"], ResultPath: "$.groupError", Next: REPLAY_STATES.groupFailed },
        ],
        Next: REPLAY_STATES.again,
      },
      [REPLAY_STATES.groupFailed]: {
        Type: "Pass",
        Parameters: { applied: [], "again.$": "$.entries" },
        Next: REPLAY_STATES.again,
      },
      [REPLAY_STATES.again]: {
        Type: "Map",
        ItemsPath: "$.again",
        MaxConcurrency: args.groupSize,
        ItemProcessor: { ProcessorConfig: { Mode: "INLINE" }, ...recordStates },
        ResultPath: "$.retried",
        Next: REPLAY_STATES.groupDone,
      },
      [REPLAY_STATES.groupDone]: {
        Type: "Pass",
        Parameters: { "applied.$": "$.applied", "retried.$": "$.retried" },
        End: true,
      },
    },
  };
  return {
    Comment: "iot-dr registry replay: applies one ops-table stream batch wave by wave (see stateMachine.ts)",
    StartAt: REPLAY_STATES.waves,
    TimeoutSeconds: 290,
    States: {
      [REPLAY_STATES.waves]: {
        Type: "Map",
        ItemsPath: "$.waves",
        MaxConcurrency: 1,
        ItemProcessor: {
          ProcessorConfig: { Mode: "INLINE" },
          StartAt: REPLAY_STATES.partition,
          States: {
            [REPLAY_STATES.partition]: {
              Type: "Pass",
              Parameters: { "groups.$": `States.ArrayPartition($.entries, ${args.groupSize})` },
              Next: REPLAY_STATES.wave,
            },
            [REPLAY_STATES.wave]: {
              Type: "Map",
              ItemsPath: "$.groups",
              ItemSelector: { "entries.$": "$$.Map.Item.Value" },
              MaxConcurrency: args.waveConcurrency,
              ItemProcessor: { ProcessorConfig: { Mode: "INLINE" }, ...groupStates },
              End: true,
            },
          },
        },
        End: true,
      },
    },
  };
}
