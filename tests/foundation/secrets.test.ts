/**
 * Stack files as operators have them: `pulumi config set --secret` writes `secure:` values, which
 * plan, the policy checks and rto accept as opaque secrets (saying what they could not check); no
 * secret shows in clear in any plan output; a secret in plain text draws a warning naming the key
 * and the command that encrypts it. The real command line in a fresh process, as operators run it.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { iotDr, ROOT } from "../support/cli.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iot-dr-secrets-"));
const CLEAR = "Plain-Health-Path-Secret-0123456789";
// What `pulumi config set --secret` writes with the passphrase provider (ciphertext is opaque here).
const SECURE = "v1:Yl0pGrSLgAuqHbmN:4hTQYcNTw0Ve6AURZmyqtm3Ifk3v0Ba8BbNwCC/V2ecRjw==";

function stackFile(name: string, extra: string): string {
  const file = path.join(dir, `Pulumi.${name}.yaml`);
  fs.writeFileSync(file, fs.readFileSync(path.join(ROOT, "Pulumi.primary.yaml"), "utf8") + extra);
  return file;
}

/** stderr without the packager's known lines about mqtt's optional polyfills (see cli-plan.test.ts). */
const ownLines = (stderr: string) =>
  stderr.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("Could not include required dependency"));

describe("secrets in stack files", () => {
  const encrypted = stackFile("enc", `  iot-dr:healthCheckPathSecret:\n    secure: ${SECURE}\n`);
  const plain = stackFile("plain", `  iot-dr:healthCheckPathSecret: ${CLEAR}\n`);

  it("plan --policy accepts an encrypted secret, says its format was not checked, and shows the secret output masked", () => {
    const run = iotDr("plan", "--stack", "primary", "--config", encrypted, "--policy", "--json");
    expect(run.code, run.stderr).toBe(0);
    expect(ownLines(run.stderr)).toEqual([
      "note: iot-dr:healthCheckPathSecret is encrypted (secure:); its format is not checked (plan cannot decrypt it)",
    ]);
    const doc = JSON.parse(run.stdout) as { outputs: Record<string, unknown>; violations: unknown[] };
    expect(doc.outputs.healthCheckResourcePath).toBe("[secret]");
    expect(run.stdout).not.toContain(SECURE);
  }, 180_000);

  it.each([true, false])(
    "plan (--json %s) never prints a plain-text secret and warns with the command that encrypts it",
    (json) => {
      const run = iotDr("plan", "--stack", "primary", "--config", plain, ...(json ? ["--json"] : []));
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).not.toContain(CLEAR);
      expect(run.stderr).not.toContain(CLEAR);
      expect(ownLines(run.stderr)).toEqual([
        `warning: iot-dr:healthCheckPathSecret is a secret stored in plain text in ${plain}; encrypt it: pulumi config set --secret iot-dr:healthCheckPathSecret <value>`,
      ]);
      if (json) expect(JSON.parse(run.stdout).outputs.healthCheckResourcePath).toBe("[secret]");
      else expect(run.stdout).toContain('healthCheckResourcePath: "[secret]"');
    },
    180_000,
  );

  it("rto accepts the encrypted secret (it needs no secret) and warns about a plain one", () => {
    const enc = iotDr("rto", "--stack", "primary", "--config", encrypted, "--json");
    expect(enc.code, enc.stderr).toBe(0);
    expect(JSON.parse(enc.stdout).rtoSeconds).toHaveLength(2);
    expect(enc.stderr).toContain("iot-dr:healthCheckPathSecret is encrypted (secure:)");
    const pl = iotDr("rto", "--stack", "primary", "--config", plain, "--json");
    expect(pl.code).toBe(0);
    expect(pl.stderr).toContain("pulumi config set --secret iot-dr:healthCheckPathSecret");
  }, 180_000);

  it("an encrypted value for a key that is not a secret is refused naming the key, since it must be checked", () => {
    const file = stackFile("envsecure", `  iot-dr:environment:\n    secure: ${SECURE}\n`);
    const run = iotDr("rto", "--stack", "primary", "--config", file);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("iot-dr:environment is encrypted (secure:) but is not a secret setting");
    expect(run.stdout).toBe("");
  });
});
