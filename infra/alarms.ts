/**
 * The one builder of the CloudWatch alarms components raise about themselves (dead letters,
 * function errors, lag, drift): each named `${component}-${suffix}`, described
 * `iot-dr <region>: ...`, notifying the alarm topic when it fires and when it clears, and treating
 * missing data as not breaching unless the alarm says otherwise.
 */
import * as aws from "@pulumi/aws";
import type * as pulumi from "@pulumi/pulumi";

/** The defaults of a count alarm: anything above zero within one minute fires. */
export const ANY_IN_A_MINUTE = {
  comparisonOperator: "GreaterThanThreshold",
  period: 60,
  threshold: 0,
} as const satisfies Partial<aws.cloudwatch.MetricAlarmArgs>;

export interface AlarmFamilyArgs {
  /** The region named in each description (`iot-dr <region>: ...`); default none (`iot-dr: ...`). */
  region?: pulumi.Input<string>;
  /** SNS topic notified on ALARM and OK; default none. */
  alarmTopicArn?: pulumi.Input<string>;
  /**
   * The actions on ALARM and OK instead of the topic; `false`: none at all, for an alarm that only
   * Route 53 or EventBridge reads. Default: the topic.
   */
  actions?: pulumi.Input<string>[] | false;
  /** Arguments every alarm of the family starts from (e.g. ANY_IN_A_MINUTE); default none. */
  defaults?: Partial<aws.cloudwatch.MetricAlarmArgs>;
}

/** An alarm of the family: its logical-name suffix, what it means, its metric and overrides. */
export type Alarm = (
  suffix: string,
  description: string,
  metric: Partial<aws.cloudwatch.MetricAlarmArgs>,
  opts?: pulumi.CustomResourceOptions,
) => aws.cloudwatch.MetricAlarm;

/** The alarms of the component `name`, created with `opts` (its parent) unless an alarm gives its own. */
export function alarmFamily(name: string, args: AlarmFamilyArgs, opts: pulumi.CustomResourceOptions): Alarm {
  const actions = args.actions ?? (args.alarmTopicArn ? [args.alarmTopicArn] : []);
  const prefix = args.region === undefined ? "iot-dr" : `iot-dr ${args.region}`;
  return (suffix, description, metric, alarmOpts) =>
    new aws.cloudwatch.MetricAlarm(
      `${name}-${suffix}`,
      {
        alarmDescription: `${prefix}: ${description}`,
        evaluationPeriods: 1,
        treatMissingData: "notBreaching",
        ...(actions ? { alarmActions: actions, okActions: actions } : {}),
        ...args.defaults,
        ...metric,
      } as aws.cloudwatch.MetricAlarmArgs,
      alarmOpts ?? opts,
    );
}
