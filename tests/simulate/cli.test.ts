/**
 * `iot-dr simulate` from the command line: a run prints the issue's JSON with the rto band, and a
 * bad command line exits 2 naming the flag, before anything runs.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { runCli } from "../../cli/main.js";
import { estimateRto } from "../../functions/rto.js";
import { WORKED_EXAMPLE } from "../support/rto.js";

afterEach(() => vi.restoreAllMocks());

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, "write").mockImplementation((c) => (out.push(String(c)), true));
  vi.spyOn(process.stderr, "write").mockImplementation((c) => (err.push(String(c)), true));
  return { out: () => out.join(""), err: () => err.join("") };
}

describe("iot-dr simulate", () => {
  it("prints the JSON the issue names, with iot-dr rto's band for the same settings", async () => {
    const io = capture();
    expect(await runCli(["simulate", "--devices", "2000", "--connect-quota", "200", "--json"])).toBe(0);
    const r = JSON.parse(io.out());
    expect(Object.keys(r)).toEqual(
      expect.arrayContaining([
        "devices",
        "connectQuota",
        "trigger",
        "connectedSeconds",
        "peakConnectsPerSecond",
        "refusedConnects",
        "droppedMessages",
        "byTrigger",
        "expectedRtoSeconds",
        "wallSeconds",
      ]),
    );
    expect(r).toMatchObject({ devices: 2000, connectQuota: 200, trigger: "mixed" });
    const { p50, p90, p99, p100 } = r.connectedSeconds;
    expect(p50).toBeGreaterThan(0);
    expect(p50).toBeLessThanOrEqual(p90);
    expect(p90).toBeLessThanOrEqual(p99);
    expect(p99).toBeLessThanOrEqual(p100);
    // the quota holds in every whole second, and 2,000 devices at 200/s need at least 10 s of connects
    expect(r.peakConnectsPerSecond).toBeLessThanOrEqual(200);
    expect(p100 - r.dnsFlipSeconds).toBeGreaterThanOrEqual(10);
    expect(Object.values(r.byTrigger as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(2000);
    const band = estimateRto({
      ...WORKED_EXAMPLE,
      devices: 2000,
      deviceConnectRatePerSecond: 200,
    }).rtoSeconds;
    expect(r.expectedRtoSeconds).toEqual(band);
  });

  it("writes the HTML report with --report", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sim-cli-"));
    try {
      const io = capture();
      expect(await runCli(["simulate", "--devices", "300", "--report", dir])).toBe(0);
      expect(io.err()).toContain(path.join(dir, "report.html"));
      expect(fs.readFileSync(path.join(dir, "report.html"), "utf8")).toContain('<svg id="curves"');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    [["--devices", "-5"], /--devices must be a whole number from 1 to 50000000, got '-5'/],
    [["--devices", "0"], /--devices must be a whole number from 1/],
    [["--devices", "1e6"], /--devices must be a whole number/],
    [[], /--devices is required/],
    [
      ["--devices", "10", "--connect-quota", "0"],
      /--connect-quota must be at least 1 connect per second \(IoT Core's default is 500/,
    ],
    [["--devices", "10", "--connect-quota", "-500"], /--connect-quota must be a whole number from 1/],
    [
      ["--devices", "10", "--trigger", "pigeon"],
      /--trigger must be one of notice, dns, disconnect, mixed, got 'pigeon'/,
    ],
    [["--devices", "10", "--resolver-ttl-mix", "honour=0.5"], /shares add up to 0.5, they must add up to 1/],
    [["--devices", "10", "--resolver-ttl-mix", "sloppy=1"], /'sloppy=1' is not KIND=SHARE/],
    [["--devices", "10", "--check-interval", "20"], /--check-interval must be 10 or 30/],
    [["--devices", "10", "--scenario", "mars"], /--scenario must be aws or bench-devices/],
    [["--devices", "10", "--max-queued", "-1"], /--max-queued must be a whole number from 0/],
  ])("refuses %j with exit 2 and a message naming the flag", async (args, message) => {
    const io = capture();
    expect(await runCli(["simulate", ...args])).toBe(2);
    expect(io.err()).toMatch(message);
    expect(io.out()).toBe("");
  });
});
