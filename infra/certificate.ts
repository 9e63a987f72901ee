/**
 * A server certificate for a custom domain served in one account and region (the device
 * endpoint's IoT domain configuration, the C&C API's API Gateway domain): an issued ACM
 * certificate given by ARN, or one requested here and DNS-validated in a hosted zone that may
 * live in another account (the shared-services account's zone).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface CertificateSource {
  /** An issued ACM certificate for the domain in this account and region; default: request one. */
  certificateArn?: pulumi.Input<string>;
  /** Where to validate a requested certificate: the hosted zone and a provider of the account that owns it. Required without certificateArn. */
  validation?: { zoneId: pulumi.Input<string>; provider: pulumi.ProviderResource };
}

/**
 * The certificate's ARN, and what a resource using it must wait for (the validation, when this
 * requested the certificate). `where` names the component for the error message.
 */
export function issuedCertificate(
  name: string,
  domainName: string,
  source: CertificateSource,
  parent: pulumi.Resource,
  where: string,
): { certificateArn: pulumi.Input<string>; dependsOn: pulumi.Resource[] } {
  if (source.certificateArn !== undefined) return { certificateArn: source.certificateArn, dependsOn: [] };
  if (!source.validation) {
    throw new Error(
      `${where}: give certificateArn (an issued ACM certificate for ${domainName}) ` +
        "or validation { zoneId, provider } so that the component can request and DNS-validate one",
    );
  }
  const certificate = new aws.acm.Certificate(
    `${name}-cert`,
    { domainName, validationMethod: "DNS" },
    { parent },
  );
  const option = certificate.domainValidationOptions[0];
  // Both regions' certificates for one name in one account ask for the same record: overwrite, do not fail.
  const record = new aws.route53.Record(
    `${name}-cert-validation`,
    {
      zoneId: source.validation.zoneId,
      name: option.resourceRecordName,
      type: option.resourceRecordType,
      records: [option.resourceRecordValue],
      ttl: 300,
      allowOverwrite: true,
    },
    { parent, provider: source.validation.provider },
  );
  const validated = new aws.acm.CertificateValidation(
    `${name}-cert-validated`,
    { certificateArn: certificate.arn, validationRecordFqdns: [record.fqdn] },
    { parent },
  );
  return { certificateArn: validated.certificateArn, dependsOn: [validated] };
}
