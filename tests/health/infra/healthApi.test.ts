import { describe, expect, it } from "vitest";
import { HealthApi } from "../../../infra/healthApi.js";
import { invokeSerialized, serializedCallback } from "../../support/serialized.js";
import { startServer } from "../support.js";
import { doc, IOT_ACCOUNT, named, ofType, provider, SHARED_ACCOUNT, underMocks } from "../mocks.js";
import { collectThrown } from "../../support/mocks.js";

describe("an account's health API under mocks", async () => {
  const run = await underMocks(() => {
    const iot = provider("iot-primary", "eu-west-1", IOT_ACCOUNT);
    const cc = provider("cc-primary", "eu-west-1", "222222222222");
    new HealthApi(
      "cc-health",
      {
        account: "commandControl",
        region: "eu-west-1",
        callerAccountId: SHARED_ACCOUNT,
        factors: ["commandControl"],
        checkpoints: [{ name: "cc-queue", type: "probe", probe: "ccQueue", factor: "commandControl" }],
        probes: {
          // Runs inside the deployed function: requires what it needs there, reads its environment.
          factory: (env) => ({
            ccQueue: async (signal) => {
              const response = await fetch(String(env.CC_PROBE_URL), { signal });
              if (!response.ok) throw new Error(`queue API answered ${response.status}`);
            },
          }),
          environment: { CC_PROBE_URL: "http://127.0.0.1:9/" },
          statements: [
            {
              Sid: "ProbeQueue",
              Effect: "Allow",
              Action: ["sqs:GetQueueAttributes"],
              Resource: "arn:aws:sqs:eu-west-1:222222222222:cc",
            },
          ],
        },
      },
      { provider: cc },
    );
    return new HealthApi(
      "iot-health",
      {
        account: "iot",
        region: "eu-west-1",
        callerAccountId: SHARED_ACCOUNT,
        factors: ["iotBroker", "applicationServices"],
        checkpoints: [
          { name: "orders", type: "http", url: "https://orders.internal.example.com/health" },
          { name: "devices-table", type: "dynamodbTable", tableName: "devices" },
        ],
        canary: { endpoint: "abc-ats.iot.eu-west-1.amazonaws.com" },
        readinessReader: { externalId: "ext-health" },
      },
      { provider: iot },
    );
  });

  it("registers without errors", () => {
    expect(run.errors).toEqual([]);
  });

  it("is not public: the function URL requires IAM auth", () => {
    const urls = ofType(run.resources, "aws:lambda/functionUrl:FunctionUrl");
    expect(urls).toHaveLength(2);
    for (const url of urls) expect(url.inputs.authorizationType).toBe("AWS_IAM");
  });

  it("lets only the shared-services account call it, through the URL", () => {
    const permissions = ofType(run.resources, "aws:lambda/permission:Permission").filter(
      (p) => p.parent === "iot-health",
    );
    expect(permissions.map((p) => [p.inputs.action, p.inputs.principal]).sort()).toEqual([
      ["lambda:InvokeFunction", SHARED_ACCOUNT],
      ["lambda:InvokeFunctionUrl", SHARED_ACCOUNT],
    ]);
    expect(
      permissions.find((p) => p.inputs.action === "lambda:InvokeFunctionUrl")!.inputs.functionUrlAuthType,
    ).toBe("AWS_IAM");
    expect(
      permissions.find((p) => p.inputs.action === "lambda:InvokeFunction")!.inputs.invokedViaFunctionUrl,
    ).toBe(true);
    expect(permissions.some((p) => p.inputs.principal === "*")).toBe(false);
  });

  it("keeps the canary identity in Secrets Manager and out of the code package and environment", async () => {
    const fn = named(run.resources, "aws:lambda/function:Function", "iot-health-fn");
    const env = (fn.inputs.environment as { variables: Record<string, string> }).variables;
    const specs = JSON.parse(env.HEALTH_CHECKPOINTS!);
    const canary = specs.find((s: { type: string }) => s.type === "mqttCanary");
    expect(canary).toMatchObject({
      brokerUrl: "mqtts://abc-ats.iot.eu-west-1.amazonaws.com:8883",
      clientId: "iot-dr-canary-eu-west-1",
    });
    expect(canary.secretId).toMatch(/^arn:aws:secretsmanager:/);
    expect(JSON.stringify(env)).not.toContain("PRIVATE KEY");
    const version = ofType(run.resources, "aws:secretsmanager/secretVersion:SecretVersion")[0]!;
    expect(version.secretInputs).toContain("secretString");
  });

  it("gives the function a least-privilege role: no wildcard action, resources named", () => {
    const policy = doc(
      named(run.resources, "aws:iam/rolePolicy:RolePolicy", "iot-health-policy").inputs.policy,
    );
    const actions = policy.Statement.flatMap((s) => s.Action as string[]);
    expect(actions).not.toContain("*");
    expect(actions.sort()).toEqual([
      "dynamodb:DescribeTable",
      "kms:Decrypt",
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "secretsmanager:GetSecretValue",
    ]);
    for (const statement of policy.Statement) expect(statement.Resource).not.toBe("*");
    expect(policy.Statement.find((s) => s.Sid === "DescribeTables")!.Resource).toEqual([
      `arn:aws:dynamodb:eu-west-1:${IOT_ACCOUNT}:table/devices`,
    ]);
  });

  it("limits the canary's IoT policy to client ids under its own prefix and its topic", () => {
    const policy = doc(ofType(run.resources, "aws:iot/policy:Policy")[0]!.inputs.policy);
    expect(policy.Statement.map((s) => s.Resource)).toEqual([
      // Each probe connects as <prefix>-<random>: overlapping probes must not share one id.
      `arn:aws:iot:eu-west-1:${IOT_ACCOUNT}:client/iot-dr-canary-eu-west-1-*`,
      `arn:aws:iot:eu-west-1:${IOT_ACCOUNT}:topic/iot-dr/canary/iot-dr-canary-eu-west-1`,
      `arn:aws:iot:eu-west-1:${IOT_ACCOUNT}:topicfilter/iot-dr/canary/iot-dr-canary-eu-west-1`,
    ]);
  });

  it("sets runtime, timeout, memory and a log group with retention", () => {
    const fn = named(run.resources, "aws:lambda/function:Function", "iot-health-fn");
    expect(fn.inputs).toMatchObject({ runtime: "nodejs22.x", timeout: 10, memorySize: 256 });
    expect(
      named(run.resources, "aws:cloudwatch/logGroup:LogGroup", "iot-health-logs").inputs.retentionInDays,
    ).toBe(30);
  });

  it("lets the shared-services account read replication metrics through a role that can do nothing else", () => {
    const role = named(run.resources, "aws:iam/role:Role", "iot-health-readiness-reader");
    expect(doc(role.inputs.assumeRolePolicy).Statement[0]!.Principal).toEqual({
      AWS: `arn:aws:iam::${SHARED_ACCOUNT}:root`,
    });
    expect(doc(role.inputs.assumeRolePolicy).Statement[0]!.Condition).toEqual({
      StringEquals: { "sts:ExternalId": "ext-health" },
    });
    const policy = doc(
      named(run.resources, "aws:iam/rolePolicy:RolePolicy", "iot-health-readiness-read").inputs.policy,
    );
    expect(policy.Statement).toEqual([
      { Effect: "Allow", Action: "cloudwatch:GetMetricData", Resource: "*" },
    ]);
  });

  it("runs plugged-in probes in the deployed code: 200 while the dependency answers, 503 when it fails", async () => {
    const fn = named(run.resources, "aws:lambda/function:Function", "cc-health-fn");
    const env = (fn.inputs.environment as { variables: Record<string, string> }).variables;
    const policy = doc(
      named(run.resources, "aws:iam/rolePolicy:RolePolicy", "cc-health-policy").inputs.policy,
    );
    expect(policy.Statement.map((s) => s.Sid)).toContain("ProbeQueue");
    const code = await serializedCallback(fn.inputs);
    let status = 200;
    // status 0: never answer (the checkpoint's deadline must cut it off).
    const queue = await startServer((_req, res) => {
      if (status !== 0) res.writeHead(status).end();
    });
    try {
      const event = { rawPath: "/commandControl", requestContext: { http: { method: "GET" } } };
      /** The API's answer with the queue answering `status`: its status code and its first checkpoint's error. */
      const answer = async (queueStatus: number) => {
        status = queueStatus;
        const out = await invokeSerialized(code, event, {
          ...env,
          CC_PROBE_URL: queue.url,
          AWS_REGION: "eu-west-1",
        });
        const result = out.result as { statusCode: number; body: string };
        return { statusCode: result.statusCode, error: JSON.parse(result.body).checkpoints[0].error };
      };
      expect((await answer(200)).statusCode).toBe(200);
      const down = await answer(500);
      expect(down.statusCode).toBe(503);
      expect(down.error).toContain("queue API answered 500");
      // The deadline error keeps its name and budget through Pulumi's serializer.
      const hung = await answer(0);
      expect(hung.statusCode).toBe(503);
      expect(hung.error).toBe("timeout after 1000 ms");
    } finally {
      await queue.close();
    }
  });

  it("answers for the declared factors even before they have checkpoints", () => {
    const fn = named(run.resources, "aws:lambda/function:Function", "iot-health-fn");
    const env = (fn.inputs.environment as { variables: Record<string, string> }).variables;
    expect(JSON.parse(env.HEALTH_API_FACTORS!).sort()).toEqual(["applicationServices", "iotBroker"]);
  });
});

describe("a health API refuses arguments it cannot deploy safely", () => {
  it("refuses a missing provider, a bad caller account and a bad checkpoint spec", async () => {
    const { attempt, messages: errors } = collectThrown();
    await underMocks(() => {
      const p = provider("cc-primary", "eu-west-1", "222222222222");
      attempt(
        () =>
          new HealthApi(
            "a",
            { account: "commandControl", region: "eu-west-1", callerAccountId: SHARED_ACCOUNT },
            {},
          ),
      );
      attempt(
        () =>
          new HealthApi(
            "b",
            { account: "commandControl", region: "eu-west-1", callerAccountId: "shared" },
            { provider: p },
          ),
      );
      attempt(
        () =>
          new HealthApi(
            "c",
            {
              account: "commandControl",
              region: "eu-west-1",
              callerAccountId: SHARED_ACCOUNT,
              checkpoints: [{ name: "x", type: "ftp" } as never],
            },
            { provider: p },
          ),
      );
      attempt(
        () =>
          new HealthApi(
            "d",
            {
              account: "commandControl",
              region: "eu-west-1",
              callerAccountId: SHARED_ACCOUNT,
              checkpoints: [{ name: "q", type: "probe", probe: "ccQueue" }],
            },
            { provider: p },
          ),
      );
    });
    expect(errors).toHaveLength(4);
    expect(errors[3]).toMatch(/checkpoints name probes \(ccQueue\) but no 'probes' factory is given/);
    expect(errors[0]).toMatch(/HealthApi must be given the aws.Provider/);
    expect(errors[1]).toMatch(/callerAccountId must be the 12-digit shared-services account id/);
    expect(errors[2]).toMatch(/type 'ftp'/);
  });
});
