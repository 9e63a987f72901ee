import { Aedes } from "aedes";
import type { AddressInfo } from "node:net";
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FailoverClient } from "../../device/client.js";
import { buildTlsOptions, IOT_MQTT_ALPN } from "../../device/transport.js";
import { startDnsServer, type TestDnsServer } from "../../peers/dns.js";
import { createTestCa, type TestCa } from "../../peers/testCa.js";
import { firstFailure } from "./harness.js";

const ENDPOINT = "iot.dr.example.test";
const target = { host: ENDPOINT, address: "192.0.2.10", port: 443 };
const creds = { cert: "CERT", key: "KEY" };

describe("TLS options for AWS IoT Core", () => {
  it("connects to the resolved address but sends the endpoint name as SNI and checks the certificate against it", () => {
    const options = buildTlsOptions({ ...target, port: 8883 }, { ...creds, ca: "CA" });
    expect(options).toEqual({
      host: "192.0.2.10",
      port: 8883,
      servername: ENDPOINT,
      cert: "CERT",
      key: "KEY",
      ca: "CA",
      minVersion: "TLSv1.2",
      rejectUnauthorized: true,
    });
  });

  it("offers ALPN x-amzn-mqtt-ca on port 443 only, unless told otherwise", () => {
    expect(buildTlsOptions(target, creds).ALPNProtocols).toEqual([IOT_MQTT_ALPN]);
    expect(buildTlsOptions({ ...target, port: 8883 }, creds).ALPNProtocols).toBeUndefined();
    expect(buildTlsOptions(target, { ...creds, alpn: false }).ALPNProtocols).toBeUndefined();
    expect(buildTlsOptions({ ...target, port: 8883 }, { ...creds, alpn: ["mqtt"] }).ALPNProtocols).toEqual([
      "mqtt",
    ]);
  });

  it("uses an explicit server name for SNI when one is set", () => {
    expect(buildTlsOptions(target, { ...creds, servername: "iot.eu-west-1.example.test" }).servername).toBe(
      "iot.eu-west-1.example.test",
    );
  });

  it("refuses settings IoT Core would reject, saying what to set", () => {
    expect(() => buildTlsOptions(target, { cert: "CERT", key: "" })).toThrow(/tls.cert and tls.key/);
    expect(() => buildTlsOptions({ ...target, host: "192.0.2.10" }, creds)).toThrow(/is an IP address.*SNI/);
    expect(
      () => new FailoverClient({ endpoint: ENDPOINT, clientId: "d", tls: { cert: "CERT" } as never }),
    ).toThrow(/tls.cert and tls.key/);
  });
});

describe("TLS connection on loopback", () => {
  let ca: TestCa | undefined;
  let pem: Record<"ca" | "serverKey" | "serverCert" | "deviceKey" | "deviceCert", string>;
  let dns: TestDnsServer;
  let server: tls.Server;
  let aedes: Aedes;
  const seen: { servername: unknown; alpn: unknown; peer: unknown }[] = [];

  beforeAll(async () => {
    ca = createTestCa();
    const serverCert = ca.issue("server", { extensions: [`subjectAltName=DNS:${ENDPOINT}`] });
    const deviceCert = ca.issue("device", { extensions: ["extendedKeyUsage=clientAuth"] });
    pem = {
      ca: ca.caPem,
      serverKey: serverCert.keyPem,
      serverCert: serverCert.certificatePem,
      deviceKey: deviceCert.keyPem,
      deviceCert: deviceCert.certificatePem,
    };

    aedes = await Aedes.createBroker();
    server = tls.createServer(
      {
        key: pem.serverKey,
        cert: pem.serverCert,
        ca: pem.ca,
        requestCert: true,
        rejectUnauthorized: true,
        ALPNProtocols: [IOT_MQTT_ALPN],
      },
      (socket) => {
        seen.push({
          servername: socket.servername,
          alpn: socket.alpnProtocol,
          peer: socket.getPeerCertificate().subject?.CN,
        });
        socket.on("error", () => undefined);
        aedes.handle(socket);
      },
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.2", resolve));
    dns = await startDnsServer({
      [ENDPOINT]: { addresses: ["127.0.0.2"], ttl: 60 },
      "impostor.example.test": { addresses: ["127.0.0.2"], ttl: 60 },
    });
  });

  afterAll(async () => {
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (aedes) await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await dns?.stop();
    ca?.dispose();
  });

  const port = () => (server.address() as AddressInfo).port;

  it("authenticates both ends, sends SNI and ALPN, and checks the server certificate against the endpoint name", async () => {
    const client = new FailoverClient({
      endpoint: ENDPOINT,
      clientId: "tls-device",
      port: port(),
      dnsServers: [dns.server],
      tls: { cert: pem.deviceCert, key: pem.deviceKey, ca: pem.ca, alpn: [IOT_MQTT_ALPN] },
    });
    client.start();
    expect(await client.whenConnected()).toBe(true);
    expect(client.target).toEqual({ host: ENDPOINT, address: "127.0.0.2", port: port() });
    expect(seen.at(-1)).toEqual({ servername: ENDPOINT, alpn: IOT_MQTT_ALPN, peer: "device" });
    await client.stop();
  });

  it("refuses a server whose certificate does not name the endpoint", async () => {
    const client = new FailoverClient({
      endpoint: "impostor.example.test",
      clientId: "tls-device-2",
      port: port(),
      dnsServers: [dns.server],
      backoff: { minDelayMs: 50, maxDelayMs: 100 },
      tls: { cert: pem.deviceCert, key: pem.deviceKey, ca: pem.ca },
    });
    expect(await firstFailure(client)).toMatch(/does not match certificate's altnames|altnames/i);
  });
});
