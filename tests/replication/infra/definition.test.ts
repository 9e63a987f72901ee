/** The replay state machine's definition as data: its retry policy, its error routing and its guards. */
import { describe, expect, it } from "vitest";
import { StateMachine } from "aws-local-stepfunctions";
import {
  REPLAY_STATES,
  replayStateMachineDefinition,
  type ReplayDefinitionArgs,
} from "../../../functions/replication/stateMachine.js";
import { replayFilterPattern } from "../../../functions/replication/streamFilter.js";

const ARGS: ReplayDefinitionArgs = {
  replayFunctionArn: "arn:aws:lambda:us-west-2:111111111111:function:replay",
  deadLetterQueueUrl: "https://sqs.us-west-2.amazonaws.com/111111111111/replay-dlq",
  throttleRetry: { intervalSeconds: 1, backoffRate: 2, maxAttempts: 6, maxDelaySeconds: 20 },
  dependencyRetry: { intervalSeconds: 2, backoffRate: 2, maxAttempts: 4, maxDelaySeconds: 15 },
  waveConcurrency: 4,
  groupSize: 10,
  taskTimeoutSeconds: 70,
};

const groupStates = (d: ReturnType<typeof replayStateMachineDefinition>) =>
  d.States[REPLAY_STATES.waves].ItemProcessor.States[REPLAY_STATES.wave].ItemProcessor.States;
const applyState = (d: ReturnType<typeof replayStateMachineDefinition>) =>
  groupStates(d)[REPLAY_STATES.again].ItemProcessor.States;

describe("replay state machine definition", () => {
  it("is accepted by the local Step Functions validator as written (JSONPath, no JSONata)", () => {
    const definition = replayStateMachineDefinition(ARGS);
    expect(JSON.stringify(definition)).not.toMatch(/QueryLanguage|JSONata|\{%/);
    // The validator annotates the object it is given, so it gets a copy.
    expect(() => new StateMachine(structuredClone(definition) as never)).not.toThrow();
  });

  it("runs waves one at a time, cuts each into groups and a few groups of a wave in parallel", () => {
    const d = replayStateMachineDefinition(ARGS);
    expect(d.States[REPLAY_STATES.waves]).toMatchObject({
      Type: "Map",
      ItemsPath: "$.waves",
      MaxConcurrency: 1,
    });
    const wave = d.States[REPLAY_STATES.waves].ItemProcessor.States;
    expect(wave[REPLAY_STATES.partition]).toMatchObject({
      Type: "Pass",
      Parameters: { "groups.$": "States.ArrayPartition($.entries, 10)" },
    });
    expect(wave[REPLAY_STATES.wave]).toMatchObject({
      Type: "Map",
      ItemsPath: "$.groups",
      MaxConcurrency: 4,
    });
  });

  it("sends every record of a group whose invocation failed, and every record it left, through the per-record path", () => {
    const states = groupStates(replayStateMachineDefinition(ARGS));
    // Only Lambda's own transient failures are retried as a group; anything else goes one by one.
    expect(states[REPLAY_STATES.group].Retry.flatMap((r) => r.ErrorEquals)).not.toContain("Throttled");
    expect(states[REPLAY_STATES.group].Catch).toEqual([
      { ErrorEquals: ["States.ALL"], ResultPath: "$.groupError", Next: REPLAY_STATES.groupFailed },
    ]);
    expect(states[REPLAY_STATES.groupFailed]).toMatchObject({ Parameters: { "again.$": "$.entries" } });
    expect(states[REPLAY_STATES.group].Next).toBe(REPLAY_STATES.again);
    expect(states[REPLAY_STATES.again]).toMatchObject({ ItemsPath: "$.again", ResultPath: "$.retried" });
  });

  it("retries Throttled and DependencyNotReady with capped, fully jittered backoff and never retries InvalidRecord", () => {
    const apply = applyState(replayStateMachineDefinition(ARGS))[REPLAY_STATES.apply];
    expect(apply.Retry[0]).toEqual({
      ErrorEquals: ["Throttled"],
      IntervalSeconds: 1,
      BackoffRate: 2,
      MaxAttempts: 6,
      MaxDelaySeconds: 20,
      JitterStrategy: "FULL",
    });
    expect(apply.Retry[1]).toMatchObject({
      ErrorEquals: ["DependencyNotReady"],
      MaxAttempts: 4,
      MaxDelaySeconds: 15,
    });
    const retried = apply.Retry.flatMap((r) => r.ErrorEquals);
    expect(retried).not.toContain("InvalidRecord");
    expect(retried).not.toContain("States.ALL");
  });

  it("sends what cannot be applied to the dead-letter queue with the record and the error, and transient failures back to the stream", () => {
    const states = applyState(replayStateMachineDefinition(ARGS));
    expect(states[REPLAY_STATES.apply].Catch).toEqual([
      expect.objectContaining({
        ErrorEquals: expect.arrayContaining(["Throttled", "States.Timeout"]),
        Next: REPLAY_STATES.retryLater,
      }),
      expect.objectContaining({ ErrorEquals: ["States.ALL"], Next: REPLAY_STATES.deadLetter }),
    ]);
    expect(states[REPLAY_STATES.deadLetter]).toMatchObject({
      Type: "Task",
      Resource: "arn:aws:states:::sqs:sendMessage",
      Parameters: {
        QueueUrl: ARGS.deadLetterQueueUrl,
        MessageBody: { "record.$": "$.record", "error.$": "$.error" },
      },
    });
  });

  it("refuses retry settings Step Functions would reject or that would not back off", () => {
    const bad = (patch: Partial<ReplayDefinitionArgs>) => () =>
      replayStateMachineDefinition({ ...ARGS, ...patch });
    expect(bad({ throttleRetry: { ...ARGS.throttleRetry, intervalSeconds: 0 } })).toThrow(
      /invalid throttle retry/,
    );
    expect(bad({ dependencyRetry: { ...ARGS.dependencyRetry, maxDelaySeconds: 1 } })).toThrow(
      /invalid dependency retry/,
    );
    expect(bad({ dependencyRetry: { ...ARGS.dependencyRetry, maxAttempts: 1.5 } })).toThrow(
      /integer maxAttempts/,
    );
    expect(bad({ waveConcurrency: 0 })).toThrow(/waveConcurrency/);
    expect(bad({ groupSize: 0 })).toThrow(/groupSize/);
    expect(bad({ groupSize: 26 })).toThrow(/groupSize 26: need an integer from 1 to 25/);
    expect(bad({ taskTimeoutSeconds: 0 })).toThrow(/taskTimeoutSeconds/);
  });
});

describe("replay filter pattern", () => {
  it("cannot be built without the region it protects", () => {
    expect(() => replayFilterPattern("")).toThrow(/region the mapping runs in/);
  });
});
