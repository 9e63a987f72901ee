/**
 * A stand-in for AWS IoT Core's device-facing listeners in one region: MQTT over mutual TLS on an
 * "8883" listener, and on a "443" listener that speaks MQTT only to clients that negotiate ALPN
 * `x-amzn-mqtt-ca` (https://docs.aws.amazon.com/iot/latest/developerguide/protocols.html). Behind
 * both, an in-process aedes broker.
 *
 * As IoT Core for certificates registered without a CA: the server asks for a client certificate
 * and accepts exactly the device certificates registered in this region (self-signed device
 * certificates, each its own trust anchor), and only with SNI. A client without a certificate, with one that is
 * not registered here, without SNI, or (on "443") without the ALPN protocol is refused.
 *
 *   const [a, b] = await startIotTlsPair({ regions: [{ cert, key }, { cert, key }] });
 *   a.register(devicePem);            // what RegisterCertificateWithoutCA does for this region
 *   a.ports.mqtts; a.ports.alpn;      // the same ports on both loopback addresses
 *   a.accepted; a.refused;            // every TLS session, with SNI / ALPN / reason
 *   await a.kill();                   // the region is gone: connections reset, listeners closed
 */
import { Aedes } from "aedes";
import net from "node:net";
import tls from "node:tls";
import { IOT_MQTT_ALPN } from "../device/transport.js";

export type IotListener = "mqtts" | "alpn";

export interface IotTlsRegion {
  readonly host: string;
  readonly ports: Record<IotListener, number>;
  readonly aedes: Aedes;
  /** Sessions that reached MQTT: listener, SNI, ALPN and the client certificate's common name. */
  readonly accepted: Array<{ listener: IotListener; servername: string; alpn: string | false; peer: string }>;
  /** Sessions refused, with the reason. */
  readonly refused: Array<{ listener: IotListener; reason: string }>;
  /** Registers a device certificate (PEM) in this region: it is accepted from now on. */
  register(certificatePem: string): void;
  /** Client ids connected now (past CONNACK). */
  clientIds(): string[];
  /** The region fails: every connection is reset and both listeners close. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export interface IotTlsRegionOptions {
  /** The server certificate (PEM; it must name the endpoints devices connect to) and its key. */
  cert: string;
  key: string;
  /** Device certificates registered here from the start. */
  registered?: string[];
}

function listen(server: net.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port }, () => {
      server.off("error", reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

async function startRegion(
  host: string,
  options: IotTlsRegionOptions,
  ports: Record<IotListener, number>,
): Promise<IotTlsRegion> {
  if (!(net.isIPv4(host) && host.startsWith("127.")))
    throw new Error(`host '${host}' is not an IPv4 loopback address; use one in 127.0.0.0/8`);
  const aedes = await Aedes.createBroker();
  const registered = [...(options.registered ?? [])];
  const accepted: IotTlsRegion["accepted"] = [];
  const refused: IotTlsRegion["refused"] = [];
  const sockets = new Set<net.Socket>();
  // No registered certificate: an empty `ca` would fall back to nothing, so a never-matching one.
  const context = () => ({
    key: options.key,
    cert: options.cert,
    ca: registered.length > 0 ? registered : [options.cert],
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: "TLSv1.2" as const,
  });
  const servers: Record<IotListener, tls.Server> = {
    mqtts: tls.createServer(context()),
    alpn: tls.createServer({ ...context(), ALPNProtocols: [IOT_MQTT_ALPN] }),
  };
  for (const [listener, server] of Object.entries(servers) as Array<[IotListener, tls.Server]>) {
    server.on("connection", (socket: net.Socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
    server.on("tlsClientError", (err) => refused.push({ listener, reason: err.message }));
    server.on("secureConnection", (socket: tls.TLSSocket) => {
      socket.setNoDelay(true);
      socket.on("error", () => undefined);
      const refuse = (reason: string) => {
        refused.push({ listener, reason });
        socket.destroy();
      };
      if (!socket.servername) return refuse("no SNI: IoT Core needs the endpoint name as SNI");
      if (listener === "alpn" && socket.alpnProtocol !== IOT_MQTT_ALPN)
        return refuse(`ALPN ${String(socket.alpnProtocol)} on 443: MQTT there needs ${IOT_MQTT_ALPN}`);
      accepted.push({
        listener,
        servername: socket.servername,
        alpn: socket.alpnProtocol ?? false,
        peer: String(socket.getPeerCertificate().subject?.CN ?? ""),
      });
      aedes.handle(socket);
    });
  }
  const bound: Partial<Record<IotListener, number>> = {};
  try {
    for (const listener of ["mqtts", "alpn"] as const)
      bound[listener] = await listen(servers[listener], host, ports[listener]);
  } catch (err) {
    for (const server of Object.values(servers)) if (server.listening) server.close();
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    throw err;
  }
  let stopped = false;
  const close = async () => {
    for (const socket of sockets) socket.resetAndDestroy();
    await Promise.all(
      Object.values(servers).map(
        (server) =>
          new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve())),
      ),
    );
  };
  return {
    host,
    ports: bound as Record<IotListener, number>,
    aedes,
    accepted,
    refused,
    register(certificatePem) {
      registered.push(certificatePem);
      servers.mqtts.setSecureContext(context());
      servers.alpn.setSecureContext({
        ...context(),
        ALPNProtocols: [IOT_MQTT_ALPN],
      } as tls.SecureContextOptions);
    },
    clientIds: () =>
      Object.values((aedes as unknown as { clients: Record<string, { connected: boolean }> }).clients)
        .filter((c) => c.connected)
        .map((c) => (c as unknown as { id: string }).id),
    kill: close,
    async stop() {
      if (stopped) return;
      stopped = true;
      await close();
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    },
  };
}

/**
 * Two regions on two loopback addresses sharing both ports (a DNS answer carries an address only:
 * devices keep their port when DNS moves them).
 */
export async function startIotTlsPair(options: {
  regions: [IotTlsRegionOptions, IotTlsRegionOptions];
  hosts?: [string, string];
}): Promise<[IotTlsRegion, IotTlsRegion]> {
  const hosts = options.hosts ?? ["127.0.0.2", "127.0.0.3"];
  for (let attempt = 0; attempt < 20; attempt++) {
    const first = await startRegion(hosts[0], options.regions[0], { mqtts: 0, alpn: 0 });
    try {
      return [first, await startRegion(hosts[1], options.regions[1], first.ports)];
    } catch (err) {
      await first.stop();
      if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
    }
  }
  throw new Error(`no pair of ports free on both ${hosts.join(" and ")} after 20 attempts`);
}
