/** `iot-dr bench devices`: flags and output of the device fail-over bench (harness: bench/devices.ts). */
import { formatDeviceBench, runDeviceBench } from "../../bench/devices.js";
import { intOption } from "../options.js";
import { benchGroup, type RegisterCommand } from "./register.js";

interface BenchDevicesFlags {
  count: string;
  windowMs: string;
  ttl: string;
  publishInterval: string;
  startRate: string;
  json?: boolean;
}

/** Adds `devices` under `bench`, creating `bench` unless another module already did. */
export const registerBenchDevices: RegisterCommand = (program, setExitCode) => {
  benchGroup(program)
    .command("devices")
    .description(
      "move a simulated fleet between two local brokers: time to 99% moved, peak reconnects/s, loss",
    )
    .option("--count <n>", "devices", "5000")
    .option("--window-ms <ms>", "first reconnect window per device (backoff minimum)", "10000")
    .option("--ttl <seconds>", "TTL of the endpoint's DNS record", "5")
    .option("--publish-interval <ms>", "telemetry period per device", "5000")
    .option("--start-rate <per-second>", "devices started per second before the fail-over", "500")
    .option("--json", "print one JSON document on stdout; progress stays on stderr")
    .action(async (flags: BenchDevicesFlags) => {
      const result = await runDeviceBench({
        count: intOption("--count", flags.count, 1, 20_000)!,
        windowMs: intOption("--window-ms", flags.windowMs, 1, 600_000)!,
        ttlSeconds: intOption("--ttl", flags.ttl, 0, 3_600)!,
        publishIntervalMs: intOption("--publish-interval", flags.publishInterval, 0, 600_000)!,
        startRatePerSecond: intOption("--start-rate", flags.startRate, 0, 100_000)!,
        reresolveIntervalMs: 5_000,
        log: (line) => process.stderr.write(`[bench devices] ${line}\n`),
      });
      process.stdout.write(
        flags.json ? `${JSON.stringify(result, null, 2)}\n` : `${formatDeviceBench(result)}\n`,
      );
      if (result.timeToAllMs === null) setExitCode(1);
    });
};
