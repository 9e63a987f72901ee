import { Command } from "commander";
import { afterEach, describe, expect, it, vi } from "vitest";
import { makeDevicesCommand } from "../../cli/commands/devices.js";
import { runCli } from "../../cli/main.js";
import { ENDPOINT, startRegions, type Regions } from "./harness.js";

let regions: Regions | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await regions?.close();
  regions = undefined;
});

async function runDevices(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  let exitCode = 0;
  const program = new Command("iot-dr").exitOverride();
  makeDevicesCommand({ stdout: (t) => out.push(t), stderr: (t) => err.push(t) })(
    program,
    (c) => (exitCode = c),
  );
  await program.parseAsync(["devices", ...args], { from: "user" });
  return { stdout: out.join(""), stderr: err.join(""), exitCode };
}

/** The flags that run `count` devices for `seconds` against the local regions `r` (DNS answering A). */
const fleet = (r: Regions, count: number, seconds: number) => [
  "--count",
  String(count),
  "--endpoint",
  ENDPOINT,
  "--dns",
  r.dns.server,
  "--port",
  String(r.a.port),
  "--duration",
  String(seconds),
];

describe("iot-dr devices", () => {
  it("--json prints exactly one JSON document with connects per second per target and message accounting", async () => {
    regions = await startRegions(1);
    const r = regions;
    const { stdout, stderr, exitCode } = await runDevices([
      ...fleet(r, 5, 2),
      "--publish-interval",
      "200",
      "--json",
    ]);
    expect(exitCode).toBe(0);
    const report = JSON.parse(stdout);
    const A = `${r.a.host}:${r.a.port}`;
    expect(report).toMatchObject({ endpoint: ENDPOINT, count: 5, devices: 5, lost: 0 });
    expect(
      report.timeline.reduce(
        (n: number, s: { connects: Record<string, number> }) => n + (s.connects[A] ?? 0),
        0,
      ),
    ).toBe(5);
    expect(report.timeline.at(-1).connected).toEqual({ [A]: 5 });
    expect(report.messages.sent).toBeGreaterThan(0);
    expect(report.messages.received).toBe(report.messages.sent);
    // Progress went to stderr, so stdout parsed as one document.
    expect(stderr).toMatch(/starting 5 devices/);
    expect(stderr).toMatch(/t=\s*0s\s+connects/);
  });

  it("without --json prints the timeline and a summary", async () => {
    regions = await startRegions(1);
    const r = regions;
    const { stdout } = await runDevices(fleet(r, 3, 1));
    expect(stdout).toMatch(new RegExp(`connected ${r.a.host.replace(/\./g, "\\.")}:${r.a.port}=3`));
    expect(stdout).toMatch(/devices 3, connected at the end 3/);
  });

  it("exits 1 and says what to check when no device can connect", async () => {
    regions = await startRegions(1);
    const r = regions;
    await r.a.kill();
    const { stderr, exitCode } = await runDevices([...fleet(r, 2, 1), "--publish-interval", "0"]);
    expect(exitCode).toBe(1);
    expect(stderr).toMatch(
      /no device could connect to iot.dr.example.test; check --endpoint, --dns and --port/,
    );
  });

  it.each([
    [["--count", "0", "--endpoint", "x.example"], /--count must be an integer from 1 to 50000, got '0'/],
    [
      ["--count", "2", "--endpoint", "x.example", "--dns", "resolver.local"],
      /--dns: DNS server 'resolver.local'/,
    ],
    [
      ["--count", "2", "--endpoint", "x.example", "--port", "70000"],
      /--port must be an integer from 1 to 65535/,
    ],
    [["--count", "2", "--endpoint", "x.example", "--cert", "device.pem"], /both --cert and --key/],
    [["--count", "2", "--endpoint", "http://x"], /--endpoint 'http:\/\/x' is not a host name/],
  ])("a bad command line exits 2 and names the flag (%j)", async (args, message) => {
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    expect(await runCli(["devices", ...args])).toBe(2);
    expect(stderr.mock.calls.map((c) => String(c[0])).join("")).toMatch(message);
  });
});
