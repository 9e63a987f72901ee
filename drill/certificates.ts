/**
 * Device certificates for the drill's onboarding, made in-process: one throw-away issuer key signs
 * one X.509 v3 certificate per device (ECDSA P-256, SHA-256). Spawning openssl twice per device
 * would take longer than the drill itself at 1,000 devices. The devices of a local drill connect
 * without TLS, so the certificates only need to be what C&C validation and IoT registration accept:
 * parseable, valid now, not a CA, one per device.
 */
import * as crypto from "node:crypto";

// Minimal DER encoding: just the types an X.509 certificate without extensions needs.
function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag: number, body: Buffer) => Buffer.concat([Buffer.from([tag]), len(body.length), body]);
const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split(".").map(Number);
  const out = [40 * a! + b!];
  for (const n of rest) {
    const parts: number[] = [];
    for (let v = n; ; v = Math.floor(v / 128)) {
      parts.unshift((v & 0x7f) | (parts.length > 0 ? 0x80 : 0));
      if (v < 128) break;
    }
    out.push(...parts);
  }
  return tlv(0x06, Buffer.from(out));
}
function integer(n: number): Buffer {
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let body = Buffer.from(hex, "hex");
  if (body[0]! & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
  return tlv(0x02, body);
}
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, "utf8"));
const name = (cn: string) => seq(set(seq(oid("2.5.4.3"), utf8(cn))));
function utcTime(d: Date): Buffer {
  const p = (n: number) => String(n).padStart(2, "0");
  const s =
    `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}` +
    `${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  return tlv(0x17, Buffer.from(s, "ascii"));
}
const ECDSA_SHA256 = seq(oid("1.2.840.10045.4.3.2"));

/** A device's own identity: its certificate and the private key that never leaves it. */
export interface DeviceIdentity {
  certificatePem: string;
  privateKeyPem: string;
}

export interface CertificateIssuer {
  /** One PEM certificate for `commonName`, serial `serial` (unique per issuer). */
  issue(commonName: string, serial: number): string;
  /**
   * A self-signed certificate on a key of its own, with that key: what a device that connects over
   * mutual TLS (`drill --target aws`) presents. C&C registers the certificate without a CA (so it is
   * its own trust anchor); the key stays with the device.
   */
  issueIdentity(commonName: string, serial: number): DeviceIdentity;
}

/** An issuer with a fresh key; every certificate it issues is valid from an hour ago for 30 days. */
export function createIssuer(issuerName = "iot-dr drill issuer"): CertificateIssuer {
  const issuer = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  // One device key for all: the drill never uses it, and certificates still differ by serial and name.
  const device = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const spki = device.publicKey.export({ type: "spki", format: "der" });
  const notBefore = new Date(Date.now() - 3_600_000);
  const notAfter = new Date(Date.now() + 30 * 86_400_000);
  const sign = (
    commonName: string,
    serial: number,
    subjectKey: Buffer,
    signer: { name: string; key: crypto.KeyObject } = { name: issuerName, key: issuer.privateKey },
  ): string => {
    if (!Number.isInteger(serial) || serial < 1)
      throw new RangeError(`serial must be a positive integer, got ${serial}`);
    const tbs = seq(
      tlv(0xa0, integer(2)), // [0] version v3
      integer(serial),
      ECDSA_SHA256,
      name(signer.name),
      seq(utcTime(notBefore), utcTime(notAfter)),
      name(commonName),
      subjectKey,
    );
    const signature = crypto.sign("sha256", tbs, signer.key);
    const der = seq(tbs, ECDSA_SHA256, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
    const b64 = der.toString("base64").replace(/(.{64})/g, "$1\n");
    return `-----BEGIN CERTIFICATE-----\n${b64.trimEnd()}\n-----END CERTIFICATE-----\n`;
  };
  return {
    issue: (commonName, serial) => sign(commonName, serial, spki),
    issueIdentity(commonName, serial) {
      const own = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" });
      return {
        // Self-signed: IoT Core matches a certificate registered without a CA as it is, not its issuer.
        certificatePem: sign(commonName, serial, own.publicKey.export({ type: "spki", format: "der" }), {
          name: commonName,
          key: own.privateKey,
        }),
        privateKeyPem: own.privateKey.export({ type: "pkcs8", format: "pem" }) as string,
      };
    },
  };
}
