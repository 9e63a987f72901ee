import { describe, expect, it } from "vitest";
import {
  LineSplitter,
  isDrift,
  nameFromUrn,
  summarizeError,
  toProgressEvent,
} from "../../cli/automation/events.js";
import type { ProgressEvent } from "../../cli/automation/workspace.js";
import {
  QUEUE_URN,
  TABLE_URN,
  THING_URN,
  refreshPreviewWithDrift,
  refreshUpdateWithoutDiffs,
  upWithFailure,
} from "./engine-events.js";

const mapped = (events = refreshPreviewWithDrift) =>
  events.map((event) => toProgressEvent("primary", event)).filter((e): e is ProgressEvent => e !== undefined);

describe("engine events become the common progress type", () => {
  it("maps a refresh preview's resource events, keeping the engine's op, type, name and changed paths", () => {
    const resources = mapped().filter((event) => event.kind === "resource");
    expect(resources.map((e) => [e.phase, e.op, e.name])).toEqual([
      ["pre", "refresh", "iot-dr-primary"],
      ["done", "same", "iot-dr-primary"],
      ["pre", "refresh", "canary"],
      ["done", "update", "canary"],
      ["pre", "refresh", "replay-dlq"],
      ["done", "delete", "replay-dlq"],
      ["pre", "refresh", "ops"],
      ["done", "same", "ops"],
    ]);
    const update = resources.find((e) => e.op === "update");
    expect(update).toMatchObject({
      stack: "primary",
      urn: THING_URN,
      type: "aws:iot/thing:Thing",
      diffs: ["attributes.firmware", "attributes.site"],
    });
  });

  it("drops events the tool does not report (prelude) and keeps the summary's counts", () => {
    const events = mapped();
    expect(events).toHaveLength(refreshPreviewWithDrift.length - 1);
    expect(events.at(-1)).toEqual({
      kind: "summary",
      stack: "primary",
      changes: { same: 2, update: 1, delete: 1 },
      durationSeconds: 4,
    });
  });

  it("treats only finished update/delete results as drift, never the refresh pre-events or sames", () => {
    expect(
      mapped()
        .filter(isDrift)
        .map((e) => e.urn),
    ).toEqual([THING_URN, QUEUE_URN]);
  });

  it("falls back to the outputs that differ when an older engine reports no diffs", () => {
    expect(toProgressEvent("secondary", refreshUpdateWithoutDiffs)).toMatchObject({
      stack: "secondary",
      op: "update",
      urn: TABLE_URN,
      diffs: ["billingMode"],
    });
  });

  it("maps failures and error diagnostics, trimming the trailing newline", () => {
    const events = mapped(upWithFailure);
    expect(events[1]).toEqual({
      kind: "diagnostic",
      stack: "primary",
      severity: "error",
      urn: TABLE_URN,
      message: "error: updating DynamoDB Table (ops): AccessDeniedException: not authorized",
    });
    expect(events[2]).toMatchObject({ kind: "resource", phase: "failed", op: "update", name: "ops" });
  });

  it("names a resource by the last segment of its URN, also under a component parent", () => {
    expect(nameFromUrn(THING_URN)).toBe("canary");
    expect(nameFromUrn("not-a-urn")).toBe("not-a-urn");
  });
});

describe("CLI output and errors become lines and messages", () => {
  it("reassembles lines split across chunks and emits the last partial line on flush", () => {
    const lines: string[] = [];
    const splitter = new LineSplitter((line) => lines.push(line));
    splitter.push("Updating (pri");
    splitter.push("mary)\r\n + aws:sqs:Queue dlq\n + aws:dyn");
    expect(lines).toEqual(["Updating (primary)", " + aws:sqs:Queue dlq"]);
    splitter.push("amodb:Table ops");
    splitter.flush();
    splitter.flush();
    expect(lines).toEqual(["Updating (primary)", " + aws:sqs:Queue dlq", " + aws:dynamodb:Table ops"]);
  });

  it("keeps the error lines of a CommandError transcript, once each", () => {
    const transcript =
      "code: 255\n stdout: Updating (primary)\n\n stderr: error: update failed\nerror: update failed\n" +
      "error: preview failed: AccessDenied\n err?: Error: exit 255\n";
    expect(summarizeError(new Error(transcript))).toBe(
      "error: update failed; error: preview failed: AccessDenied",
    );
  });

  it("uses the first meaningful line when a failure has no error line", () => {
    expect(summarizeError(new Error("code: 2\n stdout: \n stderr: panic: runtime error\n"))).toBe(
      "panic: runtime error",
    );
    expect(summarizeError("plain")).toBe("plain");
  });

  it("says how to fix a missing Pulumi CLI", () => {
    expect(summarizeError(new Error("Command failed with ENOENT: pulumi version"))).toMatch(
      /^the Pulumi CLI is not installed or not on PATH; install it .* \(Command failed with ENOENT: pulumi version\)$/,
    );
  });
});
