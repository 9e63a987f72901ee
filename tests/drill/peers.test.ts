/**
 * The drill's peers with either broker: telemetry is counted at the broker, a killed broker is
 * down until restarted on the same address and port (observers re-attached), and stop() leaves
 * no process or port behind.
 */
import * as net from "node:net";
import { describe, expect, it } from "vitest";
import { TelemetryLedger } from "../../drill/metrics.js";
import { startPeers, type DrillBroker } from "../../drill/peers.js";
import { connectClient } from "../../peers/mqtt.js";
import { alive } from "../support/process.js";

const refused = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect({ host, port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(true));
  });

async function send(broker: DrillBroker, device: string, seq: number): Promise<void> {
  const client = await connectClient(broker, { clientId: `${device}-${seq}` });
  await client.publishAsync(`dt/t/${device}`, JSON.stringify({ d: device, seq, t: Date.now() }), { qos: 1 });
  await client.endAsync();
}

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.each(["mosquitto", "aedes"] as const)("drill peers with %s brokers", (kind) => {
  it("counts telemetry at the brokers, survives a broker restart and leaves nothing behind", async () => {
    const ledger = new TelemetryLedger("dt/t", Date.now());
    const observers: Array<() => Promise<void>> = [];
    const peers = await startPeers({
      broker: kind,
      onBroker: async (role, broker) => void observers.push(await ledger.observe(role, broker)),
    });
    const inventory = peers.describe();
    try {
      expect(peers.brokers.primary.kind).toBe(kind);
      expect(inventory.pids.length).toBe(kind === "mosquitto" ? 3 : 1);
      await send(peers.brokers.primary, "d1", 0);
      await send(peers.brokers.secondary, "d1", 0); // the same message again, in the other region
      await until("both copies", () => ledger.receivedCount() === 1);

      await peers.killBroker("primary");
      expect(peers.brokers.primary.alive()).toBe(false);
      expect(await refused(peers.brokers.primary.host, peers.mqttPort)).toBe(true);
      await expect(send(peers.brokers.primary, "d1", 1)).rejects.toThrow();

      const restarted = await peers.restartBroker("primary");
      expect([restarted.alive(), restarted.port]).toEqual([true, peers.mqttPort]);
      await send(restarted, "d1", 1);
      await until("the message after the restart", () => ledger.receivedCount() === 2);
      await restarted.publish("dr/notice", '{"id":"n1"}');
    } finally {
      await peers.stop();
      for (const stop of observers) await stop();
    }
    const after = peers.describe();
    expect([...inventory.pids, ...after.pids].filter(alive)).toEqual([]);
    for (const target of after.tcp) {
      const [host, port] = target.split(":");
      expect(await refused(host!, Number(port))).toBe(true);
    }
  }, 60_000);
});
