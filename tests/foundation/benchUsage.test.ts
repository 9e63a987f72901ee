/** `bench` follows the tool's exit codes: usage errors exit 2 and show the usage. */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { runCli } from "../../cli/main.js";

describe("bench usage errors", () => {
  let err = "";
  beforeEach(() => {
    err = "";
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      err += String(chunk);
      return true;
    });
    vi.spyOn(process.stdout, "write").mockImplementation(() => true);
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("an unknown bench subcommand exits 2 and shows bench's usage", async () => {
    expect(await runCli(["bench", "nope"])).toBe(2);
    expect(err).toContain("unknown command 'nope'");
    expect(err).toContain("Usage: iot-dr bench");
  });

  it.each([
    [["bench", "replay", "--bogus"], "unknown option '--bogus'"],
    [["bench", "replay", "--ops", "3"], "--ops '3' must be an integer of at least 20"],
    [["bench", "health", "--bogus"], "unknown option '--bogus'"],
    [["bench", "devices", "--bogus"], "unknown option '--bogus'"],
    [["bench", "reconcile", "--things", "5"], "--things must be a whole number"],
  ])("%j exits 2 naming the problem", async (argv, message) => {
    expect(await runCli(argv)).toBe(2);
    expect(err).toContain(message);
  });
});
