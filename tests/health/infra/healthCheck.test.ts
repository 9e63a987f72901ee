import * as crypto from "node:crypto";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HealthCheck } from "../../../infra/healthCheck.js";
import { invokeSerialized, serializedCallback } from "../../support/serialized.js";
import { useMoto } from "../../support/useMoto.js";
import { doc, named, provider, SHARED_ACCOUNT, underMocks } from "../mocks.js";
import { factorHandler, policy, startServer, type LoopbackServer } from "../support.js";
import { createPkTable } from "../../support/tables.js";

const SECRET = "a-route53-path-secret-of-32-chars";
const factors = ["iotBroker", "applicationServices", "commandControl", "analytics"].map((name, i) => ({
  name,
  url: `https://api${i}.lambda-url.eu-west-1.on.aws/${name}`,
  functionArn: `arn:aws:lambda:eu-west-1:11111111111${i}:function:health-${i}`,
}));

describe("the health-check function in endpoint mode, under mocks", async () => {
  const run = await underMocks(() => {
    const shared = provider("shared-primary", "eu-west-1", SHARED_ACCOUNT);
    return new HealthCheck(
      "health-check",
      {
        region: "eu-west-1",
        factors,
        policy: policy({ readinessGate: true, failuresBeforeUnhealthy: 2 }),
        pathSecret: SECRET,
        readinessRoleArn: "arn:aws:iam::111111111111:role/readiness-reader",
        readinessExternalId: "ext-health",
      },
      { provider: shared },
    );
  });
  const fn = named(run.resources, "aws:lambda/function:Function", "health-check-fn");
  const env = (fn.inputs.environment as { variables: Record<string, string> }).variables;

  it("registers without errors", () => {
    expect(run.errors).toEqual([]);
  });

  it("answers Route 53 on a public URL whose only way in is the secret path", () => {
    const url = named(run.resources, "aws:lambda/functionUrl:FunctionUrl", "health-check-url");
    expect(url.inputs.authorizationType).toBe("NONE");
    expect(env.HEALTH_PATH_SECRET_SHA256).toBe(crypto.createHash("sha256").update(SECRET).digest("hex"));
    expect(JSON.stringify(fn.inputs)).not.toContain(SECRET);
    expect(fn.secretInputs ?? []).toContain("environment");
  });

  it("carries the policy and the factors into the function", () => {
    expect(JSON.parse(env.HEALTH_FACTORS!).map((f: { name: string }) => f.name)).toEqual(
      factors.map((f) => f.name),
    );
    expect(JSON.parse(env.HEALTH_POLICY!)).toMatchObject({ readinessGate: true, failuresBeforeUnhealthy: 2 });
    expect(env).toMatchObject({
      HEALTH_MODE: "endpoint",
      HEALTH_DEADLINE_MS: "1500",
      HEALTH_REGION: "eu-west-1",
    });
  });

  it("may call exactly the health APIs' functions, read its state, its override and the metrics", () => {
    const policyDoc = doc(
      named(run.resources, "aws:iam/rolePolicy:RolePolicy", "health-check-policy").inputs.policy,
    );
    const bySid = Object.fromEntries(policyDoc.Statement.map((s) => [s.Sid, s]));
    expect(bySid.CallHealthApis!.Action).toEqual(["lambda:InvokeFunctionUrl", "lambda:InvokeFunction"]);
    expect(bySid.CallHealthApis!.Resource).toEqual(factors.map((f) => f.functionArn));
    expect(bySid.HysteresisState!.Action).toEqual(["dynamodb:GetItem", "dynamodb:PutItem"]);
    expect(bySid.ReadOverride!.Resource).toMatch(/^arn:aws:ssm:/);
    expect(bySid.ReadIotAccountMetrics).toMatchObject({
      Action: ["sts:AssumeRole"],
      Resource: "arn:aws:iam::111111111111:role/readiness-reader",
    });
    expect(env.HEALTH_READINESS_ROLE_ARN).toBe("arn:aws:iam::111111111111:role/readiness-reader");
    // GetMetricData is the one action on "*": it has no resource-level permissions.
    expect(policyDoc.Statement.filter((s) => s.Resource === "*").map((s) => s.Action)).toEqual([
      ["cloudwatch:GetMetricData"],
    ]);
    expect(policyDoc.Statement.flatMap((s) => s.Action as string[])).not.toContain("*");
  });

  it("keeps the override an operator setting: a deployment does not reset it", () => {
    const parameter = named(run.resources, "aws:ssm/parameter:Parameter", "health-check-override");
    expect(parameter.inputs).toMatchObject({
      name: "/iot-dr/health/override/eu-west-1",
      value: "automatic",
      type: "String",
    });
  });

  it("sets a short timeout, memory and log retention", () => {
    expect(fn.inputs).toMatchObject({ runtime: "nodejs22.x", timeout: 5, memorySize: 512 });
    expect(
      named(run.resources, "aws:cloudwatch/logGroup:LogGroup", "health-check-logs").inputs.retentionInDays,
    ).toBe(30);
  });

  describe("its serialized code, run in a fresh Node process", () => {
    const moto = useMoto({ resetBeforeEach: false });
    const servers: LoopbackServer[] = [];
    beforeAll(async () => {
      await createPkTable(new DynamoDBClient(moto.clientConfig("eu-west-1")), "state");
    });
    afterAll(async () => {
      await Promise.all(servers.map((s) => s.close()));
    });

    async function invoke(path: string, behaviour: "healthy" | "hanging") {
      const local = [];
      for (const f of factors) {
        const server = await startServer(factorHandler(f.name === "analytics" ? behaviour : "healthy"));
        servers.push(server);
        local.push({ name: f.name, url: `${server.url}/${f.name}` });
      }
      const code = await serializedCallback(fn.inputs);
      return invokeSerialized(
        code,
        { rawPath: path, requestContext: { http: { method: "GET" } } },
        {
          ...moto.env("eu-west-1"),
          ...env,
          HEALTH_FACTORS: JSON.stringify(local),
          HEALTH_POLICY: JSON.stringify(policy()),
          HEALTH_STATE_TABLE: "state",
          HEALTH_OVERRIDE_PARAMETER: "/iot-dr/health/override/eu-west-1",
          // A fresh process per invocation loads the SDK clients and reads moto inside the round's
          // deadline; on a machine shared by many test runs that alone took longer than the deployed
          // 1.5 s (one failure at load 10); 2 s is the most the function accepts (Route 53 waits 2 s).
          HEALTH_DEADLINE_MS: "2000",
          // Each invocation its own round: the function counts a round once (policy.ts), so two
          // invocations that start in the same wall-clock second of the default 1 s rounds share
          // one, and the second answers the first's stored verdict (CI once got 200 for the
          // hanging factor right after the healthy test's invocation).
          HEALTH_ROUND_MS: "1",
        },
      );
    }

    it("answers 200 with the verdict and writes factor metrics as EMF", async () => {
      const result = await invoke(`/${SECRET}`, "healthy");
      expect(result.error).toBeUndefined();
      expect(result.result).toMatchObject({ statusCode: 200 });
      const emf = result.logLines.filter((l) => l.includes('"_aws"')).map((l) => JSON.parse(l));
      expect(emf.some((d) => d.FactorHealthy === 1 && d.Factor === "analytics")).toBe(true);
      expect(
        emf.some((d) => d.RegionHealthy === 1 && d._aws.CloudWatchMetrics[0].Namespace === "iot-dr"),
      ).toBe(true);
    });

    it("answers 503 within its deadline when a factor hangs", async () => {
      const result = await invoke(`/${SECRET}`, "hanging");
      expect(result.result).toMatchObject({ statusCode: 503 });
      const body = JSON.parse((result.result as { body: string }).body);
      expect(body.factors.find((f: { name: string }) => f.name === "analytics").error).toMatch(/timeout/);
    });

    it("answers 404 with nothing else to a wrong path", async () => {
      const result = await invoke("/guess", "healthy");
      expect(result.result).toEqual({ statusCode: 404, headers: { "cache-control": "no-store" }, body: "" });
    });
  });
});
