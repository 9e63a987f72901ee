/**
 * What replay and redrive check before any work: table names, tables that do not exist (named,
 * with the stack output to use), and event lines read from stdin with `--events -`.
 */
import { beforeEach, describe, expect, it, vi } from "vitest";
import { Readable } from "node:stream";
import * as iot from "@aws-sdk/client-iot";
import { useMotoEnv } from "../../support/useMoto.js";
import { captureStdio } from "../../support/stdio.js";
import { main as runCli } from "../../../cli/main.js";
import { world, type World, REGION_A, REGION_B } from "./support.js";

describe("replay and redrive inputs", () => {
  const moto = useMotoEnv(REGION_B);
  const io = captureStdio();
  let w: World;
  beforeEach(() => {
    w = world(moto);
  });
  const replay = (...extra: string[]) =>
    runCli(["replay", "--source-region", REGION_A, "--target-region", REGION_B, ...extra]);

  it("replay --events - reads the event lines from stdin", async () => {
    await w.a.client.send(new iot.CreateThingCommand({ thingName: "piped" }));
    const lines = w.a.events.take().map((m) => JSON.stringify(m) + "\n");
    vi.spyOn(process, "stdin", "get").mockReturnValue(
      Readable.from(lines) as unknown as typeof process.stdin,
    );
    expect(await replay("--events", "-", "--json")).toBe(0);
    expect(JSON.parse(io.out)).toMatchObject({ read: 1, applied: 1, failed: [] });
    expect(await w.b.port.describeThing("piped")).not.toBeNull();
  });

  it("replay refuses a malformed --table or --marker-table name with exit 2 before reading anything", async () => {
    expect(await replay("--events", "/nonexistent.jsonl", "--table", "a b")).toBe(2);
    expect(io.err).toContain("--table must be a DynamoDB table name");
    expect(await replay("--events", "/nonexistent.jsonl", "--marker-table", "x")).toBe(2);
    expect(io.err).toContain("--marker-table must be a DynamoDB table name");
  });

  it("a --marker-table that does not exist is named with the output to use, before any record is applied", async () => {
    await w.a.client.send(new iot.CreateThingCommand({ thingName: "never" }));
    const lines = w.a.events.take().map((m) => JSON.stringify(m) + "\n");
    vi.spyOn(process, "stdin", "get").mockReturnValue(
      Readable.from(lines) as unknown as typeof process.stdin,
    );
    expect(await replay("--events", "-", "--marker-table", "no-such-markers")).toBe(1);
    expect(io.err).toContain(
      `--marker-table no-such-markers: no such DynamoDB table in ${REGION_B}; give the target region stack's output markerTableNameInRegion`,
    );
    expect(await w.b.port.describeThing("never")).toBeNull();
    io.err = "";
    expect(
      await runCli([
        "redrive",
        "--queue",
        "http://127.0.0.1:1/q",
        "--target-region",
        REGION_B,
        "--table",
        "no-ops",
      ]),
    ).toBe(1);
    expect(io.err).toContain(
      `--table no-ops: no such DynamoDB table in ${REGION_B}; give the stack output opsTableName`,
    );
  });
});
