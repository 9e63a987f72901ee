/**
 * The C&C function acts in the IoT services account through a role there, assumed with an
 * external id (confused-deputy protection). Also the one IoT call the registry port lacks.
 */
import type * as IotSdk from "@aws-sdk/client-iot";
import type * as StsSdk from "@aws-sdk/client-sts";

export interface TemporaryCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}

export interface AssumeRoleOptions {
  roleArn: string;
  externalId: string;
  sessionName: string;
  /** Default 900 s, the minimum: the function runs for seconds. */
  durationSeconds?: number;
  clock?: () => number;
}

/**
 * A credential provider for SDK clients: assumes the role on first use and again a minute before
 * the credentials expire. Missing settings fail with the setting named.
 */
export function assumedRoleCredentials(
  sdk: Pick<typeof StsSdk, "AssumeRoleCommand">,
  sts: { send(command: unknown): Promise<unknown> },
  options: AssumeRoleOptions,
): () => Promise<TemporaryCredentials> {
  if (!/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/.test(options.roleArn ?? "")) {
    throw new Error(
      `the IoT account role ARN is missing or malformed ('${options.roleArn}'); set IOT_ROLE_ARN`,
    );
  }
  if (!options.externalId)
    throw new Error("the external id for the IoT account role is missing; set IOT_ROLE_EXTERNAL_ID");
  const clock = options.clock ?? Date.now;
  let cached: TemporaryCredentials | undefined;
  return async () => {
    if (cached && cached.expiration.getTime() - clock() > 60_000) return cached;
    const out = (await sts.send(
      new sdk.AssumeRoleCommand({
        RoleArn: options.roleArn,
        ExternalId: options.externalId,
        RoleSessionName: options.sessionName.replace(/[^\w+=,.@-]/g, "-").slice(0, 64),
        DurationSeconds: options.durationSeconds ?? 900,
      }),
    )) as StsSdk.AssumeRoleCommandOutput;
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken) {
      throw new Error(`AssumeRole of ${options.roleArn} returned no credentials`);
    }
    cached = {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      sessionToken: c.SessionToken,
      expiration: c.Expiration ?? new Date(clock() + 900_000),
    };
    return cached;
  };
}

/** Things a certificate is attached to, by certificate id (ListPrincipalThings takes the ARN). */
export function principalThingsLister(
  sdk: Pick<typeof IotSdk, "DescribeCertificateCommand" | "ListPrincipalThingsCommand">,
  client: { send(command: unknown): Promise<unknown> },
): (certificateId: string) => Promise<string[]> {
  return async (certificateId) => {
    let arn: string | undefined;
    try {
      const d = (await client.send(
        new sdk.DescribeCertificateCommand({ certificateId }),
      )) as IotSdk.DescribeCertificateCommandOutput;
      arn = d.certificateDescription?.certificateArn;
    } catch (err) {
      if ((err as { name?: string }).name === "ResourceNotFoundException") return [];
      throw err;
    }
    if (!arn) return [];
    const things: string[] = [];
    let nextToken: string | undefined;
    do {
      const out = (await client.send(
        new sdk.ListPrincipalThingsCommand({ principal: arn, nextToken }),
      )) as IotSdk.ListPrincipalThingsCommandOutput;
      things.push(...(out.things ?? []));
      nextToken = out.nextToken;
    } while (nextToken);
    return things;
  };
}
