/**
 * `iot-dr preflight`: read-only checks of the accounts and regions a stack deploys into, before
 * `pulumi up`. Every call here only reads (Get/List/Describe and STS AssumeRole). What cannot be
 * read (API refused or not offered by the endpoint) is reported as not checked, never as passed.
 */
import * as dns from "node:dns";
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { DescribeEventConfigurationsCommand, GetPolicyCommand, IoTClient } from "@aws-sdk/client-iot";
import { GetAccountSettingsCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { GetHostedZoneCommand, Route53Client } from "@aws-sdk/client-route-53";
import { ACMClient, DescribeCertificateCommand } from "@aws-sdk/client-acm";
import { ListServiceQuotasCommand, ServiceQuotasClient } from "@aws-sdk/client-service-quotas";
import { ListSinksCommand, OAMClient } from "@aws-sdk/client-oam";
import { awsClient } from "../aws.js";
import { ACCOUNTS, type AccountName, type DrConfig } from "../../stacks/config.js";
import type { AwsCredentials } from "../../functions/health/aws.js";
import {
  judgeConcurrency,
  judgeEventConfigurations,
  judgeParity,
  judgeRates,
  judgeSinks,
  type CheckResult,
  type QuotaValue,
} from "./judge.js";

export interface PreflightOptions {
  /** The environment: AWS_ENDPOINT_URL(_<SERVICE>) and base credentials (AWS_ACCESS_KEY_ID ...). */
  env: Record<string, string | undefined>;
  /** External id the assumed roles demand (iot-dr:assumeRoleExternalId is a secret the tool cannot read). */
  externalId?: string;
  /** Resolves a zone's NS records from public DNS; default node's resolver. */
  resolveNs?: (name: string) => Promise<string[]>;
}

type Credentials = AwsCredentials;

const describe = (err: unknown) => {
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  return `${e?.name ?? "Error"}: ${e?.message ?? String(err)}`;
};

/** The regions this stack deploys into (the global stack lives in the primary region and us-east-1). */
function regionsOf(config: DrConfig): string[] {
  return config.role === "secondary" ? [config.secondaryRegion] : [config.primaryRegion];
}

function baseCredentials(env: PreflightOptions["env"]): Credentials | undefined {
  return env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
    ? {
        accessKeyId: env.AWS_ACCESS_KEY_ID,
        secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
        ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
      }
    : undefined;
}

/**
 * A client through the tool's `awsClient` (deadlines of functions/deadlines.ts `control`, watched by
 * the command's budget), with the endpoint from the given environment (as the SDK reads it) and the
 * given credentials.
 */
function client<C extends { destroy(): void }>(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any SDK v3 client class
  Client: new (config: any) => C,
  env: PreflightOptions["env"],
  service: string,
  region: string,
  credentials?: Credentials,
): C {
  const endpoint = env[`AWS_ENDPOINT_URL_${service}`] ?? env.AWS_ENDPOINT_URL;
  return awsClient(Client, "control", region, {
    ...(endpoint ? { endpoint } : {}),
    ...(credentials ? { credentials } : {}),
  });
}

/** Runs every check for the stack; the caller prints them and exits 3 when any fails. */
export async function runPreflight(config: DrConfig, options: PreflightOptions): Promise<CheckResult[]> {
  const { env } = options;
  const results: CheckResult[] = [];
  const add = (r: CheckResult) => results.push(r);
  const regions = regionsOf(config);
  const home = regions[0]!;
  const base = baseCredentials(env);

  // ── credentials and assumed roles, per account ──
  const creds = new Map<AccountName, Credentials | undefined>();
  for (const account of ACCOUNTS) {
    const { id, roleArn } = config.accounts[account];
    try {
      let credentials = base;
      if (roleArn) {
        if (!options.externalId) {
          add({
            check: "credentials",
            account,
            region: home,
            status: "fail",
            message: `${roleArn} demands an external id, and none was given`,
            fix: "pass --external-id <the value of iot-dr:assumeRoleExternalId> (or IOT_DR_EXTERNAL_ID)",
          });
          continue;
        }
        const sts = client(STSClient, env, "STS", home, base);
        const assumed = await sts.send(
          new AssumeRoleCommand({
            RoleArn: roleArn,
            RoleSessionName: "iot-dr-preflight",
            ExternalId: options.externalId,
            DurationSeconds: 900,
          }),
        );
        const c = assumed.Credentials!;
        credentials = {
          accessKeyId: c.AccessKeyId!,
          secretAccessKey: c.SecretAccessKey!,
          ...(c.SessionToken ? { sessionToken: c.SessionToken } : {}),
        };
      }
      const who = await client(STSClient, env, "STS", home, credentials).send(
        new GetCallerIdentityCommand({}),
      );
      if (who.Account !== id) {
        add({
          check: "credentials",
          account,
          region: home,
          status: "fail",
          message: `the credentials act in account ${who.Account}, not ${id}`,
          fix: `set iot-dr:${account}RoleArn to a role in ${id}, or deploy with credentials of ${id}`,
        });
        continue;
      }
      creds.set(account, credentials);
      add({
        check: "credentials",
        account,
        region: home,
        status: "pass",
        message: `acting in ${id} as ${who.Arn}${roleArn ? " (assumed with the external id)" : ""}`,
      });
    } catch (err) {
      add({
        check: "credentials",
        account,
        region: home,
        status: "fail",
        message: `cannot act in ${id}: ${describe(err)}`,
        fix: roleArn
          ? `let the deploying identity assume ${roleArn} with the external id (trust policy)`
          : "configure credentials of that account",
      });
    }
  }
  const reachable = (a: AccountName) => creds.has(a);

  // ── Lambda concurrency headroom, per account and region ──
  for (const account of ACCOUNTS) {
    if (!reachable(account)) continue;
    for (const region of regions) {
      try {
        const settings = await client(LambdaClient, env, "LAMBDA", region, creds.get(account)).send(
          new GetAccountSettingsCommand({}),
        );
        add({ check: "lambda-concurrency", account, region, ...judgeConcurrency(settings) });
      } catch (err) {
        add({ check: "lambda-concurrency", account, region, status: "not-checked", message: describe(err) });
      }
    }
  }

  // ── IoT services account: registry events, the policies C&C attaches, in both regions ──
  if (reachable("iot") && config.role !== "global") {
    const iotCreds = creds.get("iot");
    for (const region of regions) {
      try {
        const answer = await client(IoTClient, env, "IOT", region, iotCreds).send(
          new DescribeEventConfigurationsCommand({}),
        );
        add({
          check: "iot-event-configurations",
          account: "iot",
          region,
          ...judgeEventConfigurations(
            (answer.eventConfigurations ?? {}) as Record<string, { Enabled?: boolean }>,
          ),
        });
      } catch (err) {
        add({
          check: "iot-event-configurations",
          account: "iot",
          region,
          status: "not-checked",
          message: describe(err),
        });
      }
    }
    // C&C attaches these in whichever region serves; both regions must have them.
    for (const region of [config.primaryRegion, config.secondaryRegion]) {
      const iot = client(IoTClient, env, "IOT", region, iotCreds);
      for (const policyName of config.commandControl.allowedPolicies) {
        try {
          await iot.send(new GetPolicyCommand({ policyName }));
          add({
            check: "iot-policy",
            account: "iot",
            region,
            status: "pass",
            message: `IoT policy ${policyName} exists`,
          });
        } catch (err) {
          const missing = (err as Error)?.name === "ResourceNotFoundException";
          add({
            check: "iot-policy",
            account: "iot",
            region,
            status: missing ? "fail" : "not-checked",
            message: missing
              ? `IoT policy ${policyName} (iot-dr:ccAllowedPolicies) does not exist in ${region}: onboarding fails there`
              : describe(err),
            ...(missing
              ? {
                  fix: `create the device policy ${policyName} in ${region} with the same document as in the other region (aws iot create-policy)`,
                }
              : {}),
          });
        }
      }
    }
  }

  // ── domain certificates the stacks expect ──
  const certificate = async (key: string, account: AccountName, arn: string | undefined) => {
    if (arn === undefined || !reachable(account)) return;
    const region = arn.split(":")[3]!;
    try {
      const acm = client(ACMClient, env, "ACM", region, creds.get(account));
      const answer = await acm.send(new DescribeCertificateCommand({ CertificateArn: arn }), {
        abortSignal: AbortSignal.timeout(10_000),
      });
      const status = answer.Certificate?.Status;
      add({
        check: "domain-certificate",
        account,
        region,
        status: status === "ISSUED" ? "pass" : "fail",
        message: `iot-dr:${key} ${arn} is ${status ?? "unknown"}`,
        ...(status === "ISSUED"
          ? {}
          : {
              fix: "finish the certificate's validation (DNS record) before 'pulumi up': IoT and API Gateway need an issued certificate",
            }),
      });
    } catch (err) {
      const missing = (err as Error)?.name === "ResourceNotFoundException";
      add({
        check: "domain-certificate",
        account,
        region,
        status: missing ? "fail" : "not-checked",
        message: missing ? `iot-dr:${key} ${arn} does not exist` : describe(err),
        ...(missing
          ? { fix: `request the certificate in ${region} or unset iot-dr:${key} to validate one in the zone` }
          : {}),
      });
    }
  };
  if (config.role !== "global") {
    await certificate("deviceCertificateArn", "iot", config.dns.deviceCertificateArn);
    await certificate("ccCertificateArn", "commandControl", config.dns.ccCertificateArn);
  }

  // ── shared services: an existing OAM sink, the hosted zone's delegation ──
  if (reachable("sharedServices")) {
    const shared = creds.get("sharedServices");
    if (config.role !== "global") {
      for (const region of regions) {
        try {
          // @aws-sdk/client-oam's last release is 3.332.0 (2023): it brings its own older SDK core
          // (CLI only, in no function archive); see README "The operations tool".
          const oam = client(OAMClient, env, "OAM", region, shared);
          const sinks: { Arn?: string }[] = [];
          let NextToken: string | undefined;
          do {
            const page = await oam.send(new ListSinksCommand({ ...(NextToken ? { NextToken } : {}) }));
            sinks.push(...(page.Items ?? []));
            NextToken = page.NextToken;
          } while (NextToken);
          add({
            check: "oam-sink",
            account: "sharedServices",
            region,
            ...judgeSinks(sinks, config.observability?.sinkArn),
          });
        } catch (err) {
          add({
            check: "oam-sink",
            account: "sharedServices",
            region,
            status: "not-checked",
            message: describe(err),
          });
        }
      }
    }
    if (config.dns.hostedZoneId) {
      try {
        const zone = await client(Route53Client, env, "ROUTE_53", "us-east-1", shared).send(
          new GetHostedZoneCommand({ Id: config.dns.hostedZoneId }),
        );
        const expected = (zone.DelegationSet?.NameServers ?? []).map((n) =>
          n.toLowerCase().replace(/\.$/, ""),
        );
        const zoneName = (zone.HostedZone?.Name ?? "").toLowerCase().replace(/\.$/, "");
        if (zoneName !== config.dns.hostedZoneName) {
          const wrong = new Error(
            `${config.dns.hostedZoneId} is the zone of ${zoneName}, not of iot-dr:hostedZoneName ${config.dns.hostedZoneName}`,
          );
          wrong.name = "WrongZone";
          throw wrong;
        }
        try {
          const resolveNs = options.resolveNs ?? ((name: string) => dns.promises.resolveNs(name));
          const published = (await resolveNs(config.dns.hostedZoneName)).map((n) =>
            n.toLowerCase().replace(/\.$/, ""),
          );
          const delegated = expected.length > 0 && expected.every((n) => published.includes(n));
          add({
            check: "zone-delegation",
            account: "sharedServices",
            region: "global",
            status: delegated ? "pass" : "fail",
            message: delegated
              ? `${config.dns.hostedZoneName} is delegated to the zone's name servers`
              : `${config.dns.hostedZoneName} resolves to name servers ${published.join(", ") || "(none)"}, not the zone's ${expected.join(", ")}`,
            ...(delegated
              ? {}
              : {
                  fix: `add NS records for ${config.dns.hostedZoneName} with ${expected.join(", ")} in the parent zone (registrar)`,
                }),
          });
        } catch (err) {
          add({
            check: "zone-delegation",
            account: "sharedServices",
            region: "global",
            status: "not-checked",
            message: `public DNS: ${describe(err)}`,
          });
        }
      } catch (err) {
        const wrongZone = (err as Error)?.name === "WrongZone";
        const missing = (err as Error)?.name === "NoSuchHostedZone" || wrongZone;
        add({
          check: "zone-delegation",
          account: "sharedServices",
          region: "global",
          status: missing ? "fail" : "not-checked",
          message: wrongZone
            ? `iot-dr:hostedZoneId ${(err as Error).message}`
            : missing
              ? `iot-dr:hostedZoneId ${config.dns.hostedZoneId} does not exist`
              : describe(err),
          ...(missing
            ? {
                fix: "set iot-dr:hostedZoneId to the zone's id, or unset it to let the global stack create the zone",
              }
            : {}),
        });
      }
    } else {
      add({
        check: "zone-delegation",
        account: "sharedServices",
        region: "global",
        status: "not-checked",
        message: "no iot-dr:hostedZoneId: the global stack creates the zone",
        fix: "after the global deploy, delegate the zone: NS records with its name servers (output hostedZoneId) in the parent zone",
      });
    }
  }

  // ── Service Quotas: replay's paced rates and parity between the regions ──
  if (reachable("iot")) {
    const quotasIn = async (region: string): Promise<QuotaValue[]> => {
      const quotas = client(ServiceQuotasClient, env, "SERVICE_QUOTAS", region, creds.get("iot"));
      const out: QuotaValue[] = [];
      let next: string | undefined;
      do {
        const page = await quotas.send(
          new ListServiceQuotasCommand({ ServiceCode: "iotcore", ...(next ? { NextToken: next } : {}) }),
          { abortSignal: AbortSignal.timeout(10_000) },
        );
        out.push(...((page.Quotas ?? []) as QuotaValue[]));
        next = page.NextToken;
      } while (next);
      return out;
    };
    let primary: QuotaValue[] | undefined;
    let secondary: QuotaValue[] | undefined;
    try {
      primary = await quotasIn(config.primaryRegion);
      secondary = await quotasIn(config.secondaryRegion);
    } catch (err) {
      add({
        check: "iot-quotas",
        account: "iot",
        region: home,
        status: "not-checked",
        message: describe(err),
      });
    }
    if (primary && secondary) {
      for (const [region, quotas] of [
        [config.primaryRegion, primary],
        [config.secondaryRegion, secondary],
      ] as const) {
        for (const r of judgeRates(quotas, config.replication.iotApiRates))
          add({
            check: "iot-quotas",
            account: "iot",
            region,
            status: r.status,
            message: r.message,
            ...(r.fix ? { fix: r.fix } : {}),
          });
      }
      for (const p of judgeParity(primary, secondary, {
        primary: config.primaryRegion,
        secondary: config.secondaryRegion,
      }))
        add({ check: "quota-parity", account: "iot", region: config.secondaryRegion, ...p });
    }
  }
  return results;
}

/** True when a result stops the deploy. */
export const blocks = (r: CheckResult) => r.status === "fail";
