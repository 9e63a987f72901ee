/**
 * A throw-away certificate authority for tests, made with the openssl CLI (P-256 keys): server
 * certificates for the TLS stand-ins (peers/iotTls.ts, the device transport) and device
 * certificates C&C registers without their CA, as iot-dr does. Everything lives in one temporary
 * folder that `dispose` removes.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

export interface IssuedCertificate {
  keyPem: string;
  certificatePem: string;
}

export interface TestCa {
  caPem: string;
  /**
   * A certificate signed by this CA for `commonName`; `extensions` are openssl extension lines
   * (e.g. `subjectAltName=DNS:host`, `extendedKeyUsage=clientAuth`); `serial` is chosen by openssl
   * unless given.
   */
  issue(commonName: string, options?: { extensions?: string[]; serial?: number }): IssuedCertificate;
  dispose(): void;
}

const P256 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

export function createTestCa(options: { commonName?: string; days?: number } = {}): TestCa {
  const { commonName = "test-root", days = 2 } = options;
  const dir = mkdtempSync(path.join(tmpdir(), "iot-dr-test-ca-"));
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const read = (file: string) => readFileSync(path.join(dir, file), "utf8");
  openssl(
    "req",
    "-x509",
    ...P256,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    String(days),
    "-subj",
    `/CN=${commonName}`,
  );
  let issued = 0;
  return {
    caPem: read("ca.pem"),
    issue(cn, { extensions = [], serial } = {}) {
      const name = `c${issued++}`;
      openssl("req", "-new", ...P256, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`);
      const extfile = extensions.length > 0 ? ["-extfile", `${name}.ext`] : [];
      if (extensions.length > 0) writeFileSync(path.join(dir, `${name}.ext`), `${extensions.join("\n")}\n`);
      const serialArgs = serial === undefined ? ["-CAcreateserial"] : ["-set_serial", String(serial)];
      openssl(
        "x509",
        "-req",
        "-in",
        `${name}.csr`,
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        ...serialArgs,
        "-days",
        String(days),
        "-out",
        `${name}.pem`,
        ...extfile,
      );
      return { keyPem: read(`${name}.key`), certificatePem: read(`${name}.pem`) };
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}
