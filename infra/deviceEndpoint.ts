/**
 * The device endpoint of one region: an IoT domain configuration serving the shared device
 * domain name (e.g. `devices.iot.example.com`) with its ACM server certificate, deployed in both
 * regions from day one so that a DNS fail-over record can move devices between them. Also the
 * role the fail-over notifier (shared-services account) assumes to publish notices here.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { requireProvider } from "./provider.js";
import { issuedCertificate, type CertificateSource } from "./certificate.js";
import { crossAccountRole } from "./serviceRole.js";

/** The certificate: `certificateArn` (issued), or `validation` to request and DNS-validate one. */
export interface DeviceEndpointArgs extends CertificateSource {
  /** The device domain name, the same in both regions, e.g. `devices.iot.example.com`. Required. */
  domainName: string;
  /** TLS security policy of the endpoint; default `IoTSecurityPolicy_TLS13_1_2_2022_10`. */
  tlsSecurityPolicy?: string;
  /** The MQTT topic of fail-over notices (the publisher role may publish there only). Required. */
  noticeTopic: string;
  /** The shared-services account whose notifier assumes the publisher role. Required. */
  noticePublisherAccountId: string;
  /** External id the notifier must present to assume the publisher role. Required. */
  noticeExternalId: pulumi.Input<string>;
}

export class DeviceEndpoint extends pulumi.ComponentResource {
  readonly domainName: string;
  /** The account's ATS data endpoint in this region: what the fail-over record points at. */
  readonly target: pulumi.Output<string>;
  readonly domainConfigurationArn: pulumi.Output<string>;
  /** Role in this account that may publish fail-over notices on `noticeTopic`. */
  readonly noticePublisherRoleArn: pulumi.Output<string>;

  constructor(name: string, args: DeviceEndpointArgs, opts: pulumi.ComponentResourceOptions) {
    super("iot-dr:health:DeviceEndpoint", name, {}, opts);
    requireProvider(opts.provider, "DeviceEndpoint", "IoT services");
    if (!/^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/.test(args.domainName)) {
      throw new Error(
        `DeviceEndpoint '${name}': domainName must be a lower-case DNS name like devices.iot.example.com, got '${args.domainName}'`,
      );
    }
    if (!/^\d{12}$/.test(args.noticePublisherAccountId)) {
      throw new Error(
        `DeviceEndpoint '${name}': noticePublisherAccountId must be a 12-digit account id, got '${args.noticePublisherAccountId}'`,
      );
    }
    if (args.noticeTopic === "" || /[#+]/.test(args.noticeTopic)) {
      throw new Error(
        `DeviceEndpoint '${name}': noticeTopic must be a plain MQTT topic, got '${args.noticeTopic}'`,
      );
    }
    const { certificateArn, dependsOn } = issuedCertificate(
      name,
      args.domainName,
      args,
      this,
      `DeviceEndpoint '${name}'`,
    );

    const domain = new aws.iot.DomainConfiguration(
      `${name}-domain`,
      {
        domainName: args.domainName,
        serviceType: "DATA",
        serverCertificateArns: [certificateArn],
        tlsConfig: { securityPolicy: args.tlsSecurityPolicy ?? "IoTSecurityPolicy_TLS13_1_2_2022_10" },
        status: "ENABLED",
      },
      { parent: this, dependsOn },
    );

    const endpoint = aws.iot.getEndpointOutput({ endpointType: "iot:Data-ATS" }, { parent: this });
    const region = aws.getRegionOutput({}, { parent: this });
    const identity = aws.getCallerIdentityOutput({}, { parent: this });
    const partition = aws.getPartitionOutput({}, { parent: this });
    const { role } = crossAccountRole(
      { role: `${name}-notice-publisher`, policy: `${name}-notice-publish` },
      {
        description: "iot-dr: lets the fail-over notifier publish notices to devices",
        principal: pulumi.interpolate`arn:${partition.partition}:iam::${args.noticePublisherAccountId}:root`,
        externalId: args.noticeExternalId,
        statements: [
          {
            Effect: "Allow",
            // Retained: a device that connects after the publish still learns where to be.
            Action: ["iot:Publish", "iot:RetainPublish"],
            Resource: pulumi.interpolate`arn:${partition.partition}:iot:${region.region}:${identity.accountId}:topic/${args.noticeTopic}`,
          },
        ],
      },
      { parent: this },
    );

    this.domainName = args.domainName;
    this.target = endpoint.endpointAddress;
    this.domainConfigurationArn = domain.arn;
    this.noticePublisherRoleArn = role.arn;
    this.registerOutputs({
      domainName: this.domainName,
      target: this.target,
      domainConfigurationArn: this.domainConfigurationArn,
      noticePublisherRoleArn: this.noticePublisherRoleArn,
    });
  }
}
