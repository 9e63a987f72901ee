/**
 * `iot-dr preflight` (issue #17): against moto with assumed roles into four accounts, a prepared
 * account passes and each seeded problem is reported once with its fix and exit 3; what moto does
 * not answer (Lambda account settings, IoT event configurations, OAM, Service Quotas) is reported
 * as not checked, never as passed. The judgments of those answers are proven on AWS's documented
 * response shapes.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import { CreatePolicyCommand, IoTClient } from "@aws-sdk/client-iot";
import { CreateHostedZoneCommand, Route53Client } from "@aws-sdk/client-route-53";
import { makePreflightCommand, PREFLIGHT_BLOCKED_EXIT } from "../../cli/commands/preflight";
import {
  judgeConcurrency,
  judgeParity,
  judgeRates,
  judgeSinks,
  type CheckResult,
} from "../../cli/preflight/judge";
import { useMoto } from "../support/useMoto.js";
import { ACMClient, DescribeCertificateCommand, RequestCertificateCommand } from "@aws-sdk/client-acm";

const IDS = {
  iot: "111111111111",
  commandControl: "222222222222",
  analytics: "333333333333",
  sharedServices: "444444444444",
};
const EXTERNAL_ID = "preflight-test-external-id";
const moto = useMoto();
let dir: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "iot-dr-preflight-"));
});
afterAll(async () => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function stackFile(extra: Record<string, unknown> = {}): string {
  const values: Record<string, unknown> = {
    role: "primary",
    primaryRegion: "us-east-1",
    secondaryRegion: "us-west-2",
    assumeRoleExternalId: EXTERNAL_ID,
    ...Object.fromEntries(
      Object.entries(IDS).flatMap(([a, id]) => [
        [`${a}AccountId`, id],
        [`${a}RoleArn`, `arn:aws:iam::${id}:role/iot-dr-deployer`],
      ]),
    ),
    ...extra,
  };
  const file = path.join(dir, `stack-${Math.random().toString(36).slice(2)}.yaml`);
  const yaml = [
    "config:",
    ...Object.entries(values).map(([k, v]) => `  iot-dr:${k}: ${JSON.stringify(v)}`),
  ].join("\n");
  fs.writeFileSync(file, `${yaml}\n`);
  return file;
}

/** Acts in an account of moto the way the tool does: an assumed role. */
async function inAccount(account: keyof typeof IDS, region: string) {
  const sts = new STSClient(moto.clientConfig(region));
  const c = (
    await sts.send(
      new AssumeRoleCommand({
        RoleArn: `arn:aws:iam::${IDS[account]}:role/iot-dr-deployer`,
        RoleSessionName: "seed",
        ExternalId: EXTERNAL_ID,
      }),
    )
  ).Credentials!;
  return {
    ...moto.clientConfig(region),
    credentials: {
      accessKeyId: c.AccessKeyId!,
      secretAccessKey: c.SecretAccessKey!,
      sessionToken: c.SessionToken!,
    },
  };
}

const DEVICE_POLICY = JSON.stringify({
  Version: "2012-10-17",
  Statement: [
    {
      Effect: "Allow",
      Action: "iot:Connect",
      Resource: "arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}",
    },
  ],
});
async function devicePolicyIn(region: string) {
  await new IoTClient(await inAccount("iot", region)).send(
    new CreatePolicyCommand({ policyName: "iot-dr-device", policyDocument: DEVICE_POLICY }),
  );
}

async function preflight(args: string[], resolveNs?: (name: string) => Promise<string[]>) {
  let out = "";
  let code = 0;
  const program = new Command("iot-dr").exitOverride();
  makePreflightCommand(() => ({
    env: moto.env("us-east-1"),
    stdout: (t) => (out += t),
    ...(resolveNs ? { resolveNs } : {}),
  }))(program, (c) => (code = c));
  await program.parseAsync(["preflight", "--stack", "primary", "--json", ...args], { from: "user" });
  const doc = JSON.parse(out) as { blocking: number; checks: CheckResult[] };
  return { code, ...doc, failed: doc.checks.filter((c) => c.status === "fail") };
}

describe("iot-dr preflight against moto", () => {
  it("reads a domain certificate's status through ACM, and names one that does not exist", async () => {
    await devicePolicyIn("us-east-1");
    await devicePolicyIn("us-west-2");
    const acm = new ACMClient(await inAccount("iot", "us-east-1"));
    const { CertificateArn: arn } = await acm.send(
      new RequestCertificateCommand({ DomainName: "devices.example.com", ValidationMethod: "DNS" }),
    );
    const { Certificate } = await acm.send(new DescribeCertificateCommand({ CertificateArn: arn }));
    const gone = `arn:aws:acm:us-east-1:${IDS.commandControl}:certificate/00000000-0000-0000-0000-000000000000`;
    const run = await preflight([
      "--config",
      stackFile({ deviceCertificateArn: arn, ccCertificateArn: gone }),
      "--external-id",
      EXTERNAL_ID,
    ]);
    const certificates = run.checks.filter((c) => c.check === "domain-certificate");
    expect(certificates).toEqual([
      expect.objectContaining({
        account: "iot",
        status: Certificate!.Status === "ISSUED" ? "pass" : "fail",
        message: `iot-dr:deviceCertificateArn ${arn} is ${Certificate!.Status}`,
      }),
      expect.objectContaining({
        account: "commandControl",
        status: "fail",
        message: `iot-dr:ccCertificateArn ${gone} does not exist`,
        fix: expect.stringContaining("request the certificate in us-east-1"),
      }),
    ]);
  });

  it("passes a prepared set of accounts: roles assumed with the external id, device policy in both regions, zone delegated", async () => {
    await devicePolicyIn("us-east-1");
    await devicePolicyIn("us-west-2");
    const zone = await new Route53Client(await inAccount("sharedServices", "us-east-1")).send(
      new CreateHostedZoneCommand({ Name: "example.com", CallerReference: "preflight" }),
    );
    const servers = zone.DelegationSet!.NameServers!;
    const run = await preflight(
      [
        "--config",
        stackFile({ hostedZoneId: zone.HostedZone!.Id!.replace("/hostedzone/", "") }),
        "--external-id",
        EXTERNAL_ID,
      ],
      async () => servers.map((s) => `${s}.`),
    );
    expect(run.failed).toEqual([]);
    expect(run.code).toBe(0);
    const status = (check: string) => [
      ...new Set(run.checks.filter((c) => c.check === check).map((c) => c.status)),
    ];
    expect(status("credentials")).toEqual(["pass"]);
    expect(run.checks.filter((c) => c.check === "credentials")).toHaveLength(4);
    expect(status("iot-policy")).toEqual(["pass"]);
    expect(status("zone-delegation")).toEqual(["pass"]);
    // What moto does not answer is reported as not checked, never as passed.
    for (const check of ["lambda-concurrency", "iot-event-configurations", "oam-sink", "iot-quotas"])
      expect(status(check), check).toEqual(["not-checked"]);
  });

  it("reports a device policy missing in the standby region once, with its fix, and exits 3", async () => {
    await devicePolicyIn("us-east-1");
    const run = await preflight(["--config", stackFile(), "--external-id", EXTERNAL_ID]);
    expect(run.code).toBe(PREFLIGHT_BLOCKED_EXIT);
    expect(run.failed).toEqual([
      expect.objectContaining({
        check: "iot-policy",
        region: "us-west-2",
        message: expect.stringContaining(
          "iot-dr-device (iot-dr:ccAllowedPolicies) does not exist in us-west-2",
        ),
        fix: expect.stringContaining("create the device policy iot-dr-device in us-west-2"),
      }),
    ]);
  });

  it("fails every account whose role needs an external id when none is given, and a zone that is not delegated", async () => {
    const run = await preflight(["--config", stackFile()]);
    expect(run.code).toBe(PREFLIGHT_BLOCKED_EXIT);
    expect(run.failed.map((c) => [c.check, c.account])).toEqual(
      Object.keys(IDS).map((a) => ["credentials", a]),
    );
    expect(run.failed[0]!.fix).toMatch(/--external-id/);

    const zone = await new Route53Client(await inAccount("sharedServices", "us-east-1")).send(
      new CreateHostedZoneCommand({ Name: "example.com", CallerReference: "undelegated" }),
    );
    await devicePolicyIn("us-east-1");
    await devicePolicyIn("us-west-2");
    const undelegated = await preflight(
      [
        "--config",
        stackFile({ hostedZoneId: zone.HostedZone!.Id!.replace("/hostedzone/", "") }),
        "--external-id",
        EXTERNAL_ID,
      ],
      async () => ["ns1.registrar.example."],
    );
    expect(undelegated.failed).toEqual([
      expect.objectContaining({
        check: "zone-delegation",
        fix: expect.stringContaining("add NS records for example.com"),
      }),
    ]);

    // A zone id of another name is refused, not judged by the wrong zone's name servers.
    const other = await new Route53Client(await inAccount("sharedServices", "us-east-1")).send(
      new CreateHostedZoneCommand({ Name: "other.example.org", CallerReference: "other" }),
    );
    const wrongZone = await preflight(
      [
        "--config",
        stackFile({ hostedZoneId: other.HostedZone!.Id!.replace("/hostedzone/", "") }),
        "--external-id",
        EXTERNAL_ID,
      ],
      async () => other.DelegationSet!.NameServers!,
    );
    expect(wrongZone.failed).toEqual([
      expect.objectContaining({
        check: "zone-delegation",
        message: expect.stringMatching(
          /zone of other\.example\.org, not of iot-dr:hostedZoneName example\.com/,
        ),
      }),
    ]);
  });

  it("prints one line per check with what to do, in text mode", async () => {
    await devicePolicyIn("us-east-1");
    let out = "";
    const program = new Command("iot-dr").exitOverride();
    makePreflightCommand(() => ({ env: moto.env("us-east-1"), stdout: (t) => (out += t) }))(
      program,
      () => {},
    );
    await program.parseAsync(
      ["preflight", "--stack", "primary", "--config", stackFile(), "--external-id", EXTERNAL_ID],
      {
        from: "user",
      },
    );
    expect(out).toMatch(/^FAIL {8}iot-policy iot us-west-2: .*\n {12}what to do: create the device policy/m);
    expect(out).toMatch(/^NOT CHECKED lambda-concurrency iot us-east-1: /m);
    expect(out).toMatch(/1 check\(s\) block the deploy/);
  });
});

describe("preflight judgments on AWS's answers", () => {
  it("a concurrency quota that leaves fewer than 100 unreserved blocks, naming the quota to raise", () => {
    expect(
      judgeConcurrency({ AccountLimit: { ConcurrentExecutions: 10, UnreservedConcurrentExecutions: 10 } }),
    ).toMatchObject({
      status: "fail",
      fix: expect.stringContaining("L-B99A9384"),
    });
    expect(
      judgeConcurrency({ AccountLimit: { ConcurrentExecutions: 1000, UnreservedConcurrentExecutions: 1000 } })
        .status,
    ).toBe("pass");
    expect(judgeConcurrency({}).status).toBe("not-checked");
  });

  it("an existing OAM sink blocks until config names it; a named sink that is not there blocks too", () => {
    const arn = "arn:aws:oam:us-east-1:444444444444:sink/abc";
    expect(judgeSinks([{ Arn: arn }], undefined)).toMatchObject({
      status: "fail",
      fix: `pulumi config set iot-dr:oamSinkArn ${arn} (and let its policy admit the IoT, C&C and analytics accounts for metrics)`,
    });
    expect(judgeSinks([{ Arn: arn }], arn).status).toBe("pass");
    expect(judgeSinks([], arn)).toMatchObject({ status: "fail" });
    expect(judgeSinks([], undefined).status).toBe("pass");
  });

  it("a standby region with lower IoT quotas than the primary blocks, once per quota", () => {
    const primary = [
      { QuotaCode: "L-CONNECT", QuotaName: "Connect requests per second per account", Value: 500 },
      { QuotaCode: "L-CREATE", QuotaName: "CreateThing API TPS", Value: 100 },
    ];
    const secondary = [
      { QuotaCode: "L-CONNECT", QuotaName: "Connect requests per second per account", Value: 100 },
      { QuotaCode: "L-CREATE", QuotaName: "CreateThing API TPS", Value: 100 },
    ];
    const regions = { primary: "us-east-1", secondary: "us-west-2" };
    expect(judgeParity(primary, secondary, regions)).toEqual([
      expect.objectContaining({
        status: "fail",
        message: expect.stringMatching(/100 in us-west-2 but 500 in us-east-1/),
      }),
    ]);
    expect(judgeParity(primary, primary, regions)).toEqual([expect.objectContaining({ status: "pass" })]);
    expect(judgeRates(primary, { CreateThing: 150, DeleteThing: 10 })).toEqual([
      expect.objectContaining({
        api: "CreateThing",
        status: "fail",
        fix: expect.stringContaining("lower iot-dr:iotApiRates CreateThing to 100"),
      }),
      expect.objectContaining({ api: "DeleteThing", status: "not-checked" }),
    ]);
  });
});
