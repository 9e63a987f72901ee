/**
 * The connection under MQTT: TCP, or TLS in the form AWS IoT Core needs.
 *
 * The client connects to an address it resolved itself, so TLS must be told the endpoint's name
 * twice: as SNI (IoT Core routes certificates registered without a CA by SNI) and as the name the
 * server certificate is checked against. Mutual TLS: the device presents its certificate and key.
 * On port 443 IoT Core tells MQTT from HTTPS by ALPN: `x-amzn-mqtt-ca` for certificate auth.
 */
import net from "node:net";
import type { Duplex } from "node:stream";
import tls from "node:tls";

/** ALPN protocol IoT Core expects for MQTT with X.509 client certificates on port 443. */
export const IOT_MQTT_ALPN = "x-amzn-mqtt-ca";

type Pem = string | Buffer;

export interface TlsSettings {
  /** Device certificate (PEM). Required: IoT Core authenticates devices by mutual TLS. */
  cert: Pem;
  /** Device private key (PEM). Required. */
  key: Pem;
  /** Trusted server CAs (PEM), e.g. Amazon Root CA 1. Default: Node's bundled roots. */
  ca?: Pem | Pem[];
  /**
   * ALPN: "auto" (default) sends x-amzn-mqtt-ca on port 443 and nothing elsewhere; false sends
   * nothing; a list is sent as given (e.g. ["mqtt"] for a custom authorizer on 443).
   */
  alpn?: "auto" | false | string[];
  /** SNI and certificate name; default the host name being connected to. */
  servername?: string;
  /** Checks the server certificate; default true. Only loopback tests may turn it off. */
  rejectUnauthorized?: boolean;
}

/** Where one connection attempt goes. */
export interface ConnectTarget {
  /** The DNS name (endpoint) the address came from; it is the TLS SNI and certificate name. */
  host: string;
  /** The IPv4 address to connect to. */
  address: string;
  port: number;
}

/** The `tls.connect` options for one attempt. Pure: no I/O, throws on incomplete settings. */
export function buildTlsOptions(target: ConnectTarget, settings: TlsSettings): tls.ConnectionOptions {
  if (!settings.cert || !settings.key) {
    throw new TypeError(
      "TLS needs both the device certificate and its private key (tls.cert and tls.key): AWS IoT Core authenticates devices by mutual TLS",
    );
  }
  const servername = settings.servername ?? target.host;
  if (net.isIP(servername) !== 0) {
    throw new TypeError(
      `TLS server name '${servername}' is an IP address; connect by the endpoint's DNS name (or set tls.servername) so that SNI can be sent`,
    );
  }
  const alpn = settings.alpn ?? "auto";
  const protocols = alpn === "auto" ? (target.port === 443 ? [IOT_MQTT_ALPN] : undefined) : alpn || undefined;
  return {
    host: target.address,
    port: target.port,
    servername,
    cert: settings.cert,
    key: settings.key,
    ...(settings.ca === undefined ? {} : { ca: settings.ca }),
    ...(protocols && protocols.length > 0 ? { ALPNProtocols: protocols } : {}),
    minVersion: "TLSv1.2",
    rejectUnauthorized: settings.rejectUnauthorized ?? true,
  };
}

/** Opens the byte stream for one attempt; no-delay on, since MQTT packets are small. */
export function openStream(target: ConnectTarget, settings?: TlsSettings): Duplex {
  if (!settings) return net.connect({ host: target.address, port: target.port, noDelay: true });
  const socket = tls.connect(buildTlsOptions(target, settings));
  socket.setNoDelay(true);
  return socket;
}
