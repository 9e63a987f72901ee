/**
 * Two regions for the server-side move tests: brokers A and B, A (the failing region) behind IoT's
 * data-plane DeleteConnection as emulated over loopback TLS, and DNS answering the devices' endpoint
 * with A's address for minutes (as their caches would) until a test flips it.
 */
import { FailoverClient } from "../../device/client.js";
import {
  loopbackTls,
  startBrokerDataPlane,
  type IotDataPlane,
  type TlsMaterial,
} from "../../peers/emulators/iotDataPlane.js";
import { startDnsServer, type TestDnsServer } from "../../peers/dns.js";
import { startBrokerPair, type TestBroker } from "../../peers/mqtt.js";
import { MOVED_BY_DISCONNECT, startFleetOn } from "../device/harness.js";

export const ENDPOINT = "devices.iot.example.test";
export const DEVICES = 12;

export interface MoveScene {
  tls: TlsMaterial;
  a: TestBroker;
  b: TestBroker;
  /** A's data plane: its DeleteConnection drops A's clients by id. */
  plane: IotDataPlane;
  dns: TestDnsServer;
  clients: FailoverClient[];
  /** Starts DEVICES devices on A that only a server-side disconnect moves; resolves once all are on A. */
  startFleet(): Promise<void>;
  stop(): Promise<void>;
}

export async function startMoveScene(): Promise<MoveScene> {
  const tls = loopbackTls();
  const [a, b] = (await startBrokerPair()) as [TestBroker, TestBroker];
  const plane = await startBrokerDataPlane("us-east-1", tls, a);
  const dns = await startDnsServer({ [ENDPOINT]: { addresses: [a.host], ttl: 300 } });
  const clients: FailoverClient[] = [];
  return {
    tls,
    a,
    b,
    plane,
    dns,
    clients,
    startFleet: () => startFleetOn(clients, DEVICES, a, dns, { endpoint: ENDPOINT, ...MOVED_BY_DISCONNECT }),
    async stop() {
      await Promise.all(clients.map((c) => c.stop()));
      await Promise.all([a.stop(), b.stop(), dns.stop(), plane.stop()]);
      tls.dispose();
    },
  };
}
