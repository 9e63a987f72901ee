import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { requireProvider } from "./providers.js";

export interface NotificationTopicArgs {
  /** Who reads it, for the topic's display name (e.g. "alarms us-east-1"). */
  purpose: string;
  /** E-mail address subscribed to the topic; default: none. */
  email?: string;
  /** Account ids whose CloudWatch alarms and Route 53 health checks may publish; default: the topic's own account. */
  publisherAccountIds?: string[];
}

/**
 * An SNS topic for alarms and fail-over notices, encrypted with its own KMS key, with an optional
 * e-mail subscription. CloudWatch alarms of the publisher accounts may publish to it: the topic
 * policy and the key policy both admit CloudWatch on their behalf (aws:SourceAccount). The AWS
 * managed key alias/aws/sns cannot serve: its policy cannot be edited to let CloudWatch use it,
 * so alarm actions on such a topic fail.
 */
export class NotificationTopic extends pulumi.ComponentResource {
  readonly topic: aws.sns.Topic;
  readonly key: aws.kms.Key;
  readonly arn: pulumi.Output<string>;

  constructor(name: string, args: NotificationTopicArgs, opts: pulumi.ComponentResourceOptions) {
    super("iot-dr:notify:NotificationTopic", name, {}, opts);
    requireProvider(opts.provider, "NotificationTopic", "shared-services");
    const ownAccount = aws.getCallerIdentityOutput({}, { parent: this, provider: opts.provider }).accountId;
    const publishers =
      args.publisherAccountIds && args.publisherAccountIds.length > 0
        ? args.publisherAccountIds
        : [ownAccount];
    this.key = new aws.kms.Key(
      `${name}-key`,
      {
        description: `iot-dr ${args.purpose} topic`.slice(0, 8192),
        enableKeyRotation: true,
        deletionWindowInDays: 7,
        policy: pulumi.jsonStringify({
          Version: "2012-10-17",
          Statement: [
            {
              // The default key policy: the account's IAM decides who administers and uses the key.
              Sid: "AccountIam",
              Effect: "Allow",
              Principal: { AWS: pulumi.interpolate`arn:aws:iam::${ownAccount}:root` },
              Action: "kms:*",
              Resource: "*",
            },
            {
              Sid: "CloudWatchAlarms",
              Effect: "Allow",
              Principal: { Service: "cloudwatch.amazonaws.com" },
              Action: ["kms:Decrypt", "kms:GenerateDataKey*"],
              Resource: "*",
              Condition: { StringEquals: { "aws:SourceAccount": publishers } },
            },
          ],
        }),
      },
      { parent: this },
    );
    this.topic = new aws.sns.Topic(
      `${name}-topic`,
      { displayName: `iot-dr ${args.purpose}`.slice(0, 100), kmsMasterKeyId: this.key.arn },
      { parent: this },
    );
    if (args.publisherAccountIds && args.publisherAccountIds.length > 0) {
      new aws.sns.TopicPolicy(
        `${name}-policy`,
        {
          arn: this.topic.arn,
          policy: pulumi.jsonStringify({
            Version: "2012-10-17",
            Statement: [
              {
                Sid: "CloudWatchAlarms",
                Effect: "Allow",
                Principal: { Service: "cloudwatch.amazonaws.com" },
                Action: "sns:Publish",
                Resource: this.topic.arn,
                Condition: { StringEquals: { "aws:SourceAccount": args.publisherAccountIds } },
              },
            ],
          }),
        },
        { parent: this },
      );
    }
    if (args.email) {
      new aws.sns.TopicSubscription(
        `${name}-email`,
        { topic: this.topic.arn, protocol: "email", endpoint: args.email },
        { parent: this },
      );
    }
    this.arn = this.topic.arn;
    this.registerOutputs({ arn: this.arn });
  }
}
