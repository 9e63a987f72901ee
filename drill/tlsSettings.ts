/**
 * The TLS material of `iot-dr drill --target aws`: devices connect to IoT Core over mutual TLS
 * only, so a drill without the server CA could not connect; checked before anything starts.
 * Problems are RangeErrors naming the flag (the CLI turns them into usage errors).
 */
import type { DrillTlsSettings } from "./awsDeps.js";

export const AMAZON_ROOT_CA = "https://www.amazontrust.com/repository/AmazonRootCA1.pem";

export interface DrillTlsFlags {
  port?: string;
  rootCa?: string;
  devicePolicy?: string;
}

export function drillTlsSettings(flags: DrillTlsFlags, readFile: (file: string) => string): DrillTlsSettings {
  const port = flags.port ?? "8883";
  if (port !== "8883" && port !== "443")
    throw new RangeError(
      `--port must be 8883 (MQTT over mutual TLS) or 443 (the same with ALPN x-amzn-mqtt-ca), got '${port}'`,
    );
  if (flags.rootCa === undefined || flags.rootCa.trim() === "")
    throw new RangeError(
      "--target aws needs --root-ca <file>: the CA IoT Core's server certificate chains to, which the drill's " +
        `devices must trust to connect over mutual TLS (Amazon Root CA 1: ${AMAZON_ROOT_CA})`,
    );
  let rootCa: string;
  try {
    rootCa = readFile(flags.rootCa);
  } catch (err) {
    throw new RangeError(`--root-ca ${flags.rootCa}: cannot read it (${(err as Error).message})`, {
      cause: err,
    });
  }
  if (!rootCa.includes("-----BEGIN CERTIFICATE-----"))
    throw new RangeError(
      `--root-ca ${flags.rootCa} holds no PEM certificate ('-----BEGIN CERTIFICATE-----'); download ${AMAZON_ROOT_CA}`,
    );
  const devicePolicy = flags.devicePolicy ?? "iot-dr-device";
  if (!/^[\w+=,.@-]{1,128}$/.test(devicePolicy))
    throw new RangeError(`--device-policy must be an IoT policy name, got '${devicePolicy}'`);
  return { port: Number(port) as 8883 | 443, rootCa, devicePolicy };
}
