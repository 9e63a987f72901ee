/**
 * The harness of `iot-dr bench devices` (cli/commands/bench-devices.ts): moves a simulated fleet between two local brokers and measures the
 * device side of a fail-over: time until 99% of devices are connected to the surviving region,
 * peak reconnects per second (against IoT Core's default 500 connects/s), messages lost.
 *
 * Scenario: mosquitto brokers A (127.0.0.2) and B (127.0.0.3) on one port (Debian package
 * `mosquitto`: aedes in this process cannot take thousands of connects), a DNS server answering
 * the endpoint with A. Once every device is on A and telemetry flows, region A dies (SIGKILL: every
 * connection drops, connects are refused) and the DNS record flips to B, as Route 53 fail-over
 * does. Devices, DNS and brokers run on this machine over loopback; the numbers are for it.
 */
import os from "node:os";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Fleet } from "../device/fleet.js";
import { startDnsServer } from "../peers/dns.js";
import { startMosquittoPair } from "../peers/mqtt.js";

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
  /** 1-minute load average before and after the run, and the CPU count: context for the timings. */
  load: { before: number; after: number; cpus: number };
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
  /** Event-loop delay of this process from the kill until all devices were on B, ms (stalls show here). */
  eventLoopDelayMs: { p50: number; p99: number; max: number };
  /** From the kill to devices noticing their connection was gone, ms. */
  detectionMs: { median: number; max: number };
  /** Failed connect attempts after the kill, by address and error. */
  connectFailures: Record<string, number>;
  /** Outage per device (disconnect to CONNACK on B), ms. */
  outageMs: { median: number; p99: number; max: number };
  messages: { sent: number; received: number; duplicates: number; dropped: number; lost: number };
}

const ENDPOINT = "iot.bench.example.test";

const round = (x: number) => Math.round(x * 100) / 100;

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

export async function runDeviceBench(options: DeviceBenchOptions): Promise<DeviceBenchResult> {
  const { count, log } = options;
  const loadBefore = os.loadavg()[0];
  const [a, b] = await startMosquittoPair();
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
      // A loaded machine can take seconds to answer a connect; that is not what this measures.
      connectTimeoutMs: 30_000,
      // Devices in the field have been up far longer than the stable period when a region fails;
      // a short one here keeps start-up hiccups from widening the first reconnect window.
      backoff: {
        minDelayMs: options.windowMs,
        maxDelayMs: Math.max(options.windowMs, 60_000),
        resetAfterMs: 2_000,
      },
      maxQueued: 1_000,
    },
  });
  const B = `${b.host}:${b.port}`;
  try {
    log(`starting ${count} devices on A (${a.host}:${a.port}) at ${options.startRatePerSecond}/s`);
    const startupFailures = new Map<string, number>();
    for (const client of fleet.clients) {
      client.on("connectFailed", (e) =>
        startupFailures.set(e.error, (startupFailures.get(e.error) ?? 0) + 1),
      );
    }
    const progress = setInterval(() => {
      const s = fleet.snapshot();
      log(
        `  ${s.connected}/${count} connected; failed connects so far ${JSON.stringify(Object.fromEntries(startupFailures))}`,
      );
    }, 10_000);
    try {
      await fleet.start();
      await fleet.waitUntil(
        (s) => s.connectedByTarget[`${a.host}:${a.port}`] === count,
        120_000 + count * 20,
      );
    } finally {
      clearInterval(progress);
    }
    const startup = fleet.snapshot().counters;
    log(`all ${count} on A (${startup.connectFailures} failed connects on the way); telemetry for 3 s`);
    await new Promise((resolve) => setTimeout(resolve, 3_000));

    const reconnectTimes: number[] = [];
    const outages: number[] = [];
    const failures = new Map<string, number>();
    const detections: number[] = [];
    for (const client of fleet.clients) {
      client.on("disconnected", (e) => e.reason === "connection-lost" && detections.push(Date.now()));
      client.on("connectFailed", (e) => {
        const reason = `${e.address ?? "-"}: ${e.error}`;
        failures.set(reason, (failures.get(reason) ?? 0) + 1);
      });
      client.on("reconnected", (e) => {
        if (e.target.address !== b.host) return;
        reconnectTimes.push(Date.now());
        outages.push(e.durationMs);
      });
    }
    log("killing A and flipping DNS to B");
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    const killedAt = Date.now();
    dns.setRecord(ENDPOINT, b.host, options.ttlSeconds);
    await a.kill();

    let t99: number | null = null;
    let tAll: number | null = null;
    const deadline = killedAt + options.windowMs * 8 + 60_000;
    while (Date.now() < deadline) {
      const onB = fleet.connectedByTarget()[B] ?? 0;
      if (t99 === null && onB >= Math.ceil(count * 0.99)) t99 = Date.now() - killedAt;
      if (onB === count) {
        tAll = Date.now() - killedAt;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    loopDelay.disable();
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
    const detected = detections.map((t) => t - killedAt).sort((x, y) => x - y);
    return {
      date: new Date().toISOString(),
      node: process.version,
      load: { before: round(loadBefore), after: round(os.loadavg()[0]), cpus: os.cpus().length },
      count,
      windowMs: options.windowMs,
      ttlSeconds: options.ttlSeconds,
      publishIntervalMs: options.publishIntervalMs,
      timeTo99PercentMs: t99,
      timeToAllMs: tAll,
      peakReconnectsPerSecond: peak,
      reconnectsPerSecond: perSecond,
      eventLoopDelayMs: {
        p50: round(loopDelay.percentile(50) / 1e6),
        p99: round(loopDelay.percentile(99) / 1e6),
        max: round(loopDelay.max / 1e6),
      },
      detectionMs: { median: quantile(detected, 0.5), max: detected.at(-1) ?? 0 },
      connectFailures: Object.fromEntries(failures),
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
    `${r.date}, node ${r.node}, load average ${r.load.before} -> ${r.load.after} on ${r.load.cpus} CPUs`,
    `${r.count} devices, reconnect window ${r.windowMs} ms, TTL ${r.ttlSeconds} s, telemetry every ${r.publishIntervalMs} ms`,
    `99% on the new broker after ${r.timeTo99PercentMs ?? "-"} ms, all after ${r.timeToAllMs ?? "-"} ms`,
    `peak reconnects ${r.peakReconnectsPerSecond}/s (sliding 1 s); per second: ${r.reconnectsPerSecond.join(" ")}`,
    `event-loop delay during the move: p50 ${r.eventLoopDelayMs.p50} ms, p99 ${r.eventLoopDelayMs.p99} ms, max ${r.eventLoopDelayMs.max} ms`,
    `devices noticed the loss after: median ${r.detectionMs.median} ms, max ${r.detectionMs.max} ms`,
    `failed connects after the kill: ${JSON.stringify(r.connectFailures)}`,
    `outage per device: median ${r.outageMs.median} ms, p99 ${r.outageMs.p99} ms, max ${r.outageMs.max} ms`,
    `messages sent ${r.messages.sent}, received ${r.messages.received}, duplicates ${r.messages.duplicates}, dropped ${r.messages.dropped}, lost ${r.messages.lost}`,
  ].join("\n");
}
