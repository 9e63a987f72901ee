/**
 * `iot-dr bench devices`: moves a simulated fleet between two local brokers and measures the
 * device side of a fail-over: time until 99% of devices are connected to the surviving region,
 * peak reconnects per second (against IoT Core's default 500 connects/s), messages lost.
 *
 * Scenario: brokers A (127.0.0.2) and B (127.0.0.3) on one port, a DNS server answering the
 * endpoint with A. Once every device is on A and telemetry flows, region A dies (every connection
 * reset, connects refused) and the DNS record flips to B, as Route 53 fail-over does.
 * Everything runs in this process on loopback; the numbers are for this machine.
 */
import { Command } from "commander";
import { Fleet } from "../../device/fleet.js";
import { startDnsServer } from "../../tests/support/dns.js";
import { startBrokerPair } from "../../tests/support/mqtt.js";
import { intOption } from "./devices.js";
import type { RegisterCommand } from "./index.js";

export interface DeviceBenchOptions {
  count: number;
  /** First reconnect window (backoff.minDelayMs), ms. */
  windowMs: number;
  ttlSeconds: number;
  publishIntervalMs: number;
  startRatePerSecond: number;
  reresolveIntervalMs: number;
  log: (line: string) => void;
}

export interface DeviceBenchResult {
  date: string;
  node: string;
  count: number;
  windowMs: number;
  ttlSeconds: number;
  publishIntervalMs: number;
  /** From the kill to 99% / 100% of devices connected to B. */
  timeTo99PercentMs: number | null;
  timeToAllMs: number | null;
  /** Most reconnects to B within any sliding 1 s window. */
  peakReconnectsPerSecond: number;
  /** Reconnects to B per whole second after the kill. */
  reconnectsPerSecond: number[];
  /** Outage per device (disconnect to CONNACK on B), ms. */
  outageMs: { median: number; p99: number; max: number };
  messages: { sent: number; received: number; duplicates: number; dropped: number; lost: number };
}

const ENDPOINT = "iot.bench.example.test";

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

export async function runDeviceBench(options: DeviceBenchOptions): Promise<DeviceBenchResult> {
  const { count, log } = options;
  const [a, b] = await startBrokerPair();
  const dns = await startDnsServer({ [ENDPOINT]: { addresses: [a.host], ttl: options.ttlSeconds } });
  const fleet = new Fleet({
    count,
    endpoint: ENDPOINT,
    port: a.port,
    dnsServers: [dns.server],
    publishIntervalMs: options.publishIntervalMs,
    startRatePerSecond: options.startRatePerSecond,
    client: {
      reresolveIntervalMs: options.reresolveIntervalMs,
      backoff: { minDelayMs: options.windowMs, maxDelayMs: Math.max(options.windowMs, 60_000) },
      maxQueued: 1_000,
    },
  });
  const B = `${b.host}:${b.port}`;
  try {
    log(`starting ${count} devices on A (${a.host}:${a.port}) at ${options.startRatePerSecond}/s`);
    await fleet.start();
    await fleet.waitUntil((s) => s.connectedByTarget[`${a.host}:${a.port}`] === count, 120_000 + count * 20);
    log(`all ${count} on A; telemetry for 3 s`);
    await new Promise((resolve) => setTimeout(resolve, 3_000));

    const reconnectTimes: number[] = [];
    const outages: number[] = [];
    for (const client of fleet.clients) {
      client.on("reconnected", (e) => {
        if (e.target.address !== b.host) return;
        reconnectTimes.push(Date.now());
        outages.push(e.durationMs);
      });
    }
    log("killing A and flipping DNS to B");
    const killedAt = Date.now();
    dns.setRecord(ENDPOINT, b.host, options.ttlSeconds);
    await a.kill();

    let t99: number | null = null;
    let tAll: number | null = null;
    const deadline = killedAt + options.windowMs * 8 + 60_000;
    while (Date.now() < deadline) {
      const onB = fleet.snapshot().connectedByTarget[B] ?? 0;
      if (t99 === null && onB >= Math.ceil(count * 0.99)) t99 = Date.now() - killedAt;
      if (onB === count) {
        tAll = Date.now() - killedAt;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    log(`99% on B after ${t99} ms, all after ${tAll} ms; telemetry for 3 s more, then drain`);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const report = await fleet.stop({ drainMs: 10_000 });

    reconnectTimes.sort((x, y) => x - y);
    let peak = 0;
    for (let i = 0, j = 0; i < reconnectTimes.length; i++) {
      while (reconnectTimes[i] - reconnectTimes[j] >= 1_000) j++;
      peak = Math.max(peak, i - j + 1);
    }
    const perSecond: number[] = [];
    for (const t of reconnectTimes) {
      const s = Math.floor((t - killedAt) / 1_000);
      while (perSecond.length <= s) perSecond.push(0);
      perSecond[s]++;
    }
    outages.sort((x, y) => x - y);
    return {
      date: new Date().toISOString(),
      node: process.version,
      count,
      windowMs: options.windowMs,
      ttlSeconds: options.ttlSeconds,
      publishIntervalMs: options.publishIntervalMs,
      timeTo99PercentMs: t99,
      timeToAllMs: tAll,
      peakReconnectsPerSecond: peak,
      reconnectsPerSecond: perSecond,
      outageMs: { median: quantile(outages, 0.5), p99: quantile(outages, 0.99), max: outages.at(-1) ?? 0 },
      messages: {
        sent: report.messages.sent,
        received: report.messages.received,
        duplicates: report.messages.duplicates,
        dropped: report.messages.dropped,
        lost: report.lost,
      },
    };
  } finally {
    await fleet.stop({ drainMs: 0 });
    await Promise.all([a.stop(), b.stop(), dns.stop()]);
  }
}

export function formatDeviceBench(r: DeviceBenchResult): string {
  return [
    `${r.count} devices, reconnect window ${r.windowMs} ms, TTL ${r.ttlSeconds} s, telemetry every ${r.publishIntervalMs} ms`,
    `99% on the new broker after ${r.timeTo99PercentMs ?? "-"} ms, all after ${r.timeToAllMs ?? "-"} ms`,
    `peak reconnects ${r.peakReconnectsPerSecond}/s (sliding 1 s); per second: ${r.reconnectsPerSecond.join(" ")}`,
    `outage per device: median ${r.outageMs.median} ms, p99 ${r.outageMs.p99} ms, max ${r.outageMs.max} ms`,
    `messages sent ${r.messages.sent}, received ${r.messages.received}, duplicates ${r.messages.duplicates}, dropped ${r.messages.dropped}, lost ${r.messages.lost}`,
  ].join("\n");
}

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
  let bench = program.commands.find((c) => c.name() === "bench");
  if (!bench) {
    bench = new Command("bench").description("benchmarks on this machine (results belong in BENCHMARKS.md)");
    program.addCommand(bench);
  }
  bench
    .command("devices")
    .description(
      "move a simulated fleet between two local brokers: time to 99% moved, peak reconnects/s, loss",
    )
    .option("--count <n>", "devices", "5000")
    .option("--window-ms <ms>", "first reconnect window per device (backoff minimum)", "10000")
    .option("--ttl <seconds>", "TTL of the endpoint's DNS record", "5")
    .option("--publish-interval <ms>", "telemetry period per device", "5000")
    .option("--start-rate <per-second>", "devices started per second before the fail-over", "2000")
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
