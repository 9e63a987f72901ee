/**
 * Under `pulumi up` the program itself warns about a secret key stored in plain text: the engine
 * passes the program the encrypted (`secure:`) keys (PULUMI_CONFIG_SECRET_KEYS, read by the runtime),
 * so a set secret key missing from that list is plain text in the stack file. Run here under the
 * runtime's mocks with the config the engine would hand over.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import { plainTextSecretKeys, warnPlainTextSecrets } from "../../stacks/config.js";

afterEach(() => vi.restoreAllMocks());

describe("the program's warning for plain-text secrets", () => {
  it("names each secret key set in plain text and the command that encrypts it, and nothing for encrypted ones", async () => {
    await pulumi.runtime.setMocks(
      { newResource: (a) => ({ id: `${a.name}-id`, state: a.inputs }), call: (a) => a.inputs },
      "iot-dr",
      "primary",
      true,
    );
    pulumi.runtime.setAllConfig(
      {
        "iot-dr:healthCheckPathSecret": "abcdefghijklmnopqrstuvwxyz0123456789",
        "iot-dr:assumeRoleExternalId": "external-id-value",
      },
      // Only the external id is encrypted in the stack file.
      ["iot-dr:assumeRoleExternalId"],
    );
    const warn = vi.spyOn(pulumi.log, "warn").mockResolvedValue(undefined as never);
    warnPlainTextSecrets("primary");
    expect(warn.mock.calls.map((c) => c[0])).toEqual([
      "iot-dr:healthCheckPathSecret is a secret stored in plain text in Pulumi.primary.yaml; " +
        "encrypt it: pulumi config set --secret iot-dr:healthCheckPathSecret <value>",
    ]);
    // The value itself never appears in the warning.
    expect(warn.mock.calls.flat().join(" ")).not.toContain("abcdefghijklmnop");

    warn.mockClear();
    pulumi.runtime.setAllConfig({ "iot-dr:healthCheckPathSecret": "x".repeat(32) }, [
      "iot-dr:healthCheckPathSecret",
    ]);
    warnPlainTextSecrets("primary");
    expect(warn).not.toHaveBeenCalled();
  });

  it("counts only keys that are set", () => {
    expect(
      plainTextSecretKeys(
        (k) => k === "assumeRoleExternalId",
        () => false,
      ),
    ).toEqual(["assumeRoleExternalId"]);
    expect(
      plainTextSecretKeys(
        () => true,
        () => true,
      ),
    ).toEqual([]);
  });
});
