/**
 * The IoT account's health API as AWS runs it, for its broker canary: the planned iot-health-fn
 * archive in one warm process (a Lambda container: module state survives between invocations), its
 * identity read from Secrets Manager (moto), connecting over mutual TLS with SNI to an IoT Core
 * stand-in (peers/iotTls.ts) that accepts only registered certificates. The canary keeps one
 * connection across invocations, so Route 53's checks do not draw on the account's connect quota
 * while a fleet's reconnect storm spends it; a region that dies still fails the next check.
 */
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createIssuer } from "../../../drill/certificates.js";
import type { CheckpointSpec } from "../../../functions/health/probes.js";
import { HealthApi } from "../../../infra/healthApi.js";
import { startIotTlsPair, type IotTlsRegion } from "../../../peers/iotTls.js";
import { createTestCa, type TestCa } from "../../../peers/testCa.js";
import { serializedCallback, startSerialized, type WarmFunction } from "../../support/serialized.js";
import { useMoto } from "../../support/useMoto.js";
import { IOT_ACCOUNT, named, provider, SHARED_ACCOUNT, underMocks } from "../mocks.js";

const REGION = "eu-west-1";
const ENDPOINT = "abc-ats.iot.eu-west-1.amazonaws.com";
const EVENT = { rawPath: "/iotBroker", requestContext: { http: { method: "GET" } } };

describe("the deployed broker canary in a warm container", () => {
  const moto = useMoto({ resetBeforeEach: false });
  let ca: TestCa;
  let regions: [IotTlsRegion, IotTlsRegion];
  let warm: WarmFunction;
  let spec: Extract<CheckpointSpec, { type: "mqttCanary" }>;

  beforeAll(async () => {
    const run = await underMocks(
      () =>
        new HealthApi(
          "iot-health",
          {
            account: "iot",
            region: REGION,
            callerAccountId: SHARED_ACCOUNT,
            factors: ["iotBroker"],
            checkpoints: [],
            canary: { endpoint: ENDPOINT },
          },
          { provider: provider("iot-primary", REGION, IOT_ACCOUNT) },
        ),
    );
    const fn = named(run.resources, "aws:lambda/function:Function", "iot-health-fn");
    const env = (fn.inputs.environment as { variables: Record<string, string> }).variables;
    const specs = JSON.parse(env.HEALTH_CHECKPOINTS!) as CheckpointSpec[];
    spec = specs.find((s) => s.type === "mqttCanary") as typeof spec;
    expect(spec.brokerUrl).toBe(`mqtts://${ENDPOINT}:8883`);

    ca = createTestCa({ commonName: "test-amazon-root" });
    const server = ca.issue(ENDPOINT, { extensions: [`subjectAltName=DNS:${ENDPOINT}`] });
    const identity = createIssuer().issueIdentity(spec.clientId, 1);
    regions = await startIotTlsPair({
      regions: [
        { cert: server.certificatePem, key: server.keyPem, registered: [identity.certificatePem] },
        { cert: server.certificatePem, key: server.keyPem, registered: [identity.certificatePem] },
      ],
    });
    const secrets = new SecretsManagerClient(moto.clientConfig(REGION));
    const secret = await secrets.send(
      new CreateSecretCommand({
        Name: "iot-dr-canary-identity",
        SecretString: JSON.stringify({ ...identity, caPem: ca.caPem }),
      }),
    );
    // The planned spec, pointed at the stand-in's address: SNI still names the IoT endpoint.
    const local = {
      ...spec,
      brokerUrl: `mqtts://${regions[0].host}:${regions[0].ports.mqtts}`,
      serverName: ENDPOINT,
      secretId: secret.ARN!,
    };
    warm = await startSerialized(await serializedCallback(fn.inputs), {
      ...moto.env(REGION),
      ...env,
      HEALTH_CHECKPOINTS: JSON.stringify([local]),
    });
  });
  afterAll(async () => {
    await warm?.stop();
    await Promise.all((regions ?? []).map((r) => r.stop()));
    ca?.dispose();
  });

  async function check(): Promise<{ statusCode: number; error?: string }> {
    const out = await warm.invoke(EVENT);
    expect(out.error).toBeUndefined();
    const result = out.result as { statusCode: number; body: string };
    return { statusCode: result.statusCode, error: JSON.parse(result.body).checkpoints?.[0]?.error };
  }

  it("answers 200 on every check over one TLS session, and fails the check after its region dies", async () => {
    for (let i = 0; i < 4; i++) expect(await check()).toMatchObject({ statusCode: 200 });
    const [region] = regions;
    expect(region.refused).toEqual([]);
    expect(region.accepted).toHaveLength(1);
    expect(region.accepted[0]).toMatchObject({ listener: "mqtts", servername: ENDPOINT });
    expect(region.clientIds()).toEqual([
      expect.stringMatching(new RegExp(`^${spec.clientId}-[a-z0-9]{10}$`)),
    ]);

    await region.kill();
    const down = await check();
    expect(down.statusCode).toBe(503);
    expect(down.error).toMatch(/ECONNREFUSED|closed the canary connection/);
  });
});
