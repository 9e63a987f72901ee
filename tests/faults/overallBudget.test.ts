/** The overall budget (`--budget`) ends a command by the clock even while each call is within its own deadline. */
import { describe, expect, it, vi } from "vitest";
import { main } from "../../cli/main.js";
import { useSilentRegion } from "../support/silentRegion.js";

describe("--budget", () => {
  const peer = useSilentRegion();

  it("a call still inside its 10 s deadline is cut when the 1 s overall budget runs out: exit 1 naming it", async () => {
    let err = "";
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      err += String(chunk);
      return true;
    });
    vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    const started = Date.now();
    const code = await main([
      "--budget",
      "1",
      "--call-timeout",
      "10",
      "backfill",
      "--region",
      "eu-west-1",
      "--dry-run",
    ]);
    const ms = Date.now() - started;
    vi.restoreAllMocks();
    expect(code).toBe(1);
    expect(ms).toBeLessThan(8_000);
    expect(err).toContain("the overall budget of 1 s ran out: waiting on IoT ListThings in eu-west-1");
    expect(err).toContain(peer.endpoint);
    expect(err).toContain("--budget SECONDS or IOT_DR_BUDGET");
  });

  it("a budget that is not a number of seconds is a usage error (exit 2) before any call", async () => {
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const before = peer.requests;
    expect(await main(["--idle-budget", "soon", "backfill", "--region", "eu-west-1", "--dry-run"])).toBe(2);
    vi.restoreAllMocks();
    expect(peer.requests).toBe(before);
  });
});
