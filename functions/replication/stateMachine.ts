/**
 * The replay state machine (an Express workflow started synchronously by the launcher): applies
 * one stream batch, wave after wave, and reports one outcome per record. Written in JSONPath (no
 * JSONata, no variables) so that the same definition runs on AWS and in aws-local-stepfunctions.
 *
 * Ordering: the launcher splits a batch into waves of equal dependency rank (types, groups,
 * policies, certificates; then things; then attachments; deletes in reverse) with at most one
 * record per resource. Waves run one at a time (outer Map, MaxConcurrency 1) so that every record
 * of a lower rank is settled before a higher rank starts; records inside a wave are independent
 * and run a few at a time (inner Map), which keeps a batch fast without breaking dependencies.
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
  /** Records of one wave applied in parallel. */
  waveConcurrency: number;
  /** Timeout of one replay Task, in seconds (at least the function timeout). */
  taskTimeoutSeconds: number;
}

/** State names, shared with the local runner that binds handlers to them. */
export const REPLAY_STATES = {
  waves: "ApplyWaves",
  wave: "ApplyWave",
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
  if (!Number.isInteger(args.taskTimeoutSeconds) || args.taskTimeoutSeconds < 1) {
    throw new Error(`invalid taskTimeoutSeconds ${args.taskTimeoutSeconds}: need an integer >= 1`);
  }
  const outcome = (status: ReplayEntryStatus, extra: Record<string, string>) => ({
    "sequenceNumber.$": "$.sequenceNumber",
    "key.$": "$.record.key",
    status,
    ...extra,
  });
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
          // Lambda's own transient failures, retried briefly by the service's recommendation.
          retrier(
            TRANSIENT_ERRORS.filter((e) => e.startsWith("Lambda.")),
            {
              intervalSeconds: 1,
              backoffRate: 2,
              maxAttempts: 3,
              maxDelaySeconds: 4,
            },
          ),
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
          StartAt: REPLAY_STATES.wave,
          States: {
            [REPLAY_STATES.wave]: {
              Type: "Map",
              ItemsPath: "$.entries",
              MaxConcurrency: args.waveConcurrency,
              ItemProcessor: { ProcessorConfig: { Mode: "INLINE" }, ...recordStates },
              End: true,
            },
          },
        },
        End: true,
      },
    },
  };
}
