/**
 * `iot-dr devices`: a fleet simulator. Runs N fail-over clients (device/) against an endpoint for a
 * while, publishing telemetry, and reports per-second connects and connected devices per target,
 * plus message accounting (sent / received / dropped / lost by sequence number).
 */
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { Fleet, type FleetReport, type FleetSecond } from "../../device/fleet.js";
import { parseDnsServers } from "../../device/resolver.js";
import type { TlsSettings } from "../../device/transport.js";
import { UsageError } from "../errors.js";
import { intOption } from "../options.js";
import type { RegisterCommand } from "./register.js";

export interface DevicesIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const defaultIo: DevicesIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

interface DevicesOptions {
  count: string;
  endpoint: string;
  dns?: string;
  port?: string;
  duration: string;
  publishInterval: string;
  startRate: string;
  noticeTopic?: string;
  cert?: string;
  key?: string;
  ca?: string;
  json?: boolean;
}

/** --dns HOST:PORT[,HOST:PORT...] as resolver server strings. */
export function dnsOption(raw: string | undefined): string[] | undefined {
  if (raw === undefined) return undefined;
  try {
    return parseDnsServers(raw.split(","));
  } catch (err) {
    throw new UsageError(`--dns: ${(err as Error).message}`);
  }
}

function tlsOption(options: DevicesOptions): TlsSettings | undefined {
  if (!options.cert && !options.key && !options.ca) return undefined;
  if (!options.cert || !options.key) {
    throw new UsageError("TLS needs both --cert and --key (the device certificate and its private key)");
  }
  const read = (flag: string, file: string) => {
    try {
      return readFileSync(file, "utf8");
    } catch (err) {
      throw new UsageError(`${flag} ${file}: ${(err as Error).message}`);
    }
  };
  return {
    cert: read("--cert", options.cert),
    key: read("--key", options.key),
    ...(options.ca ? { ca: read("--ca", options.ca) } : {}),
  };
}

const formatTargets = (counts: Record<string, number>) =>
  Object.keys(counts).length === 0
    ? "-"
    : Object.entries(counts)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([target, n]) => `${target}=${n}`)
        .join(" ");

export function formatSecond(s: FleetSecond): string {
  return `t=${String(s.second).padStart(3)}s  connects ${formatTargets(s.connects)}  connected ${formatTargets(s.connected)}  sent ${s.sent} received ${s.received}${s.dropped ? ` dropped ${s.dropped}` : ""}`;
}

export function formatFleetSummary(report: FleetReport): string {
  const m = report.messages;
  return [
    `devices ${report.devices}, connected at the end ${report.connected} (${formatTargets(report.connectedByTarget)})`,
    `connects ${report.counters.connects}, reconnects ${report.counters.reconnects}, moves ${report.counters.moves}, connect failures ${report.counters.connectFailures}`,
    `messages sent ${m.sent}, received ${m.received}, duplicates ${m.duplicates}, dropped ${m.dropped}, lost ${report.lost}`,
  ].join("\n");
}

export function makeDevicesCommand(io: DevicesIo = defaultIo): RegisterCommand {
  return (program: Command, setExitCode: (code: number) => void) => {
    program
      .command("devices")
      .description("simulate a fleet of fail-over MQTT clients and report connects per second per target")
      .requiredOption("--count <n>", "number of simulated devices (1-50000)")
      .requiredOption("--endpoint <name>", "DNS name the devices connect to")
      .option(
        "--dns <host:port>",
        "DNS server(s) for the devices' resolver, comma-separated (default: system)",
      )
      .option("--port <port>", "broker port (default 8883 with --cert, else 1883)")
      .option("--duration <seconds>", "how long to run", "10")
      .option("--publish-interval <ms>", "telemetry period per device; 0 for none", "1000")
      .option("--start-rate <per-second>", "devices started per second; 0 for all at once", "500")
      .option("--notice-topic <topic>", "fail-over notice topic the devices follow")
      .option("--cert <file>", "device certificate (PEM) for mutual TLS")
      .option("--key <file>", "device private key (PEM)")
      .option("--ca <file>", "trusted server CA (PEM)")
      .option("--json", "print one JSON report on stdout; progress stays on stderr")
      .action(async (options: DevicesOptions) => {
        const count = intOption("--count", options.count, 1, 50_000)!;
        const duration = intOption("--duration", options.duration, 1, 86_400)!;
        const port = intOption("--port", options.port, 1, 65_535);
        const publishIntervalMs = intOption("--publish-interval", options.publishInterval, 0, 3_600_000)!;
        const startRatePerSecond = intOption("--start-rate", options.startRate, 0, 100_000)!;
        const dnsServers = dnsOption(options.dns);
        const tls = tlsOption(options);
        const endpoint = options.endpoint.trim();
        if (!/^[A-Za-z0-9.-]+$/.test(endpoint)) {
          throw new UsageError(`--endpoint '${options.endpoint}' is not a host name`);
        }

        const fleet = new Fleet({
          count,
          endpoint,
          port,
          dnsServers,
          tls,
          publishIntervalMs,
          startRatePerSecond,
          client: options.noticeTopic ? { noticeTopic: options.noticeTopic } : {},
        });
        const progress = options.json ? io.stderr : io.stdout;
        fleet.on("second", (s) => progress(`${formatSecond(s)}\n`));
        io.stderr(`starting ${count} devices on ${endpoint}${port ? `:${port}` : ""} for ${duration} s\n`);
        const begun = Date.now();
        await fleet.start();
        await new Promise((resolve) =>
          setTimeout(resolve, Math.max(0, begun + duration * 1_000 - Date.now())),
        );
        const report = await fleet.stop({ drainMs: 3_000 });
        if (options.json)
          io.stdout(
            `${JSON.stringify({ endpoint, count, durationSeconds: duration, ...report }, null, 2)}\n`,
          );
        else io.stdout(`${formatFleetSummary(report)}\n`);
        if (report.counters.connects === 0) {
          io.stderr(`iot-dr: no device could connect to ${endpoint}; check --endpoint, --dns and --port\n`);
          setExitCode(1);
        }
      });
  };
}

export const registerDevices: RegisterCommand = makeDevicesCommand();
