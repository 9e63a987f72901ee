import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { requireProvider } from "../stacks/providers.js";

export interface NotificationTopicArgs {
  /** Who reads it, for the topic's display name (e.g. "alarms us-east-1"). */
  purpose: string;
  /** E-mail address subscribed to the topic; default: none. */
  email?: string;
  /** Account ids whose CloudWatch alarms and Route 53 health checks may publish; default: the topic's own account. */
  publisherAccountIds?: string[];
}

/** An encrypted SNS topic for alarms and fail-over notices, with an optional e-mail subscription. */
export class NotificationTopic extends pulumi.ComponentResource {
  readonly topic: aws.sns.Topic;
  readonly arn: pulumi.Output<string>;

  constructor(name: string, args: NotificationTopicArgs, opts: pulumi.ComponentResourceOptions) {
    super("iot-dr:notify:NotificationTopic", name, {}, opts);
    requireProvider(opts.provider, "NotificationTopic", "shared-services");
    this.topic = new aws.sns.Topic(
      `${name}-topic`,
      { displayName: `iot-dr ${args.purpose}`.slice(0, 100), kmsMasterKeyId: "alias/aws/sns" },
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
