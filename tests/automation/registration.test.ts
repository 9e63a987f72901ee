import { afterEach, describe, expect, it, vi } from "vitest";
import { runCli } from "../../cli/main.js";

afterEach(() => vi.restoreAllMocks());

describe("iot-dr registers deploy and drift", () => {
  it.each([
    ["deploy", "--stacks", "primary,dr"],
    ["drift", "--stacks", "dr"],
  ])("`iot-dr %s %s %s` is a usage error (exit 2) naming the valid stacks", async (...argv) => {
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    expect(await runCli(argv)).toBe(2);
    const written = stderr.mock.calls.map(([text]) => String(text)).join("");
    expect(written).toContain('unknown stack "dr" (valid stacks: primary, secondary, global)');
  });
});
