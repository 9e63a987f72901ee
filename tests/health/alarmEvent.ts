/**
 * A health-check alarm's state change as CloudWatch -> SNS -> Lambda delivers it (the documented
 * SNS event, the alarm message as a string): the one message every subscriber of the alarm topic
 * (the notifier, the server-side movers) gets.
 */
import { SHARED_ACCOUNT } from "./mocks.js";

export interface AlarmChange {
  alarmName: string;
  messageId: string;
  /** Default ALARM (from OK). */
  newState?: "ALARM" | "OK";
  oldState?: "ALARM" | "OK" | "INSUFFICIENT_DATA";
  /** The transition's time as CloudWatch writes it; default a fixed time per new state. */
  stateChangeTime?: string;
}

export function snsAlarmEvent({
  alarmName,
  messageId,
  newState = "ALARM",
  oldState,
  stateChangeTime,
}: AlarmChange) {
  const old = oldState ?? (newState === "ALARM" ? "OK" : "ALARM");
  return {
    Records: [
      {
        EventSource: "aws:sns",
        EventVersion: "1.0",
        EventSubscriptionArn: `arn:aws:sns:us-east-1:${SHARED_ACCOUNT}:health-alarms:6f0d5a4e-3b1c-4c1e-9d51-0e0a6b7c1d2e`,
        Sns: {
          Type: "Notification",
          MessageId: messageId,
          TopicArn: `arn:aws:sns:us-east-1:${SHARED_ACCOUNT}:health-alarms`,
          Subject: `${newState}: "${alarmName}" in US East (N. Virginia)`,
          Message: JSON.stringify({
            AlarmName: alarmName,
            AlarmDescription: "iot-dr: the primary region (us-east-1) is unhealthy",
            AWSAccountId: SHARED_ACCOUNT,
            AlarmConfigurationUpdatedTimestamp: "2026-12-01T09:00:00.000+0000",
            NewStateValue: newState,
            NewStateReason:
              newState === "ALARM"
                ? "Threshold Crossed: 1 out of the last 1 datapoints [0.0 (03/12/26 17:00:00)] was less than the threshold (1.0) (minimum 1 datapoint for OK -> ALARM transition)."
                : "Threshold Crossed: 1 out of the last 1 datapoints [1.0 (03/12/26 17:30:00)] was not less than the threshold (1.0) (minimum 1 datapoint for ALARM -> OK transition).",
            StateChangeTime:
              stateChangeTime ??
              (newState === "ALARM" ? "2026-12-03T17:01:02.345+0000" : "2026-12-03T17:31:02.345+0000"),
            Region: "US East (N. Virginia)",
            AlarmArn: `arn:aws:cloudwatch:us-east-1:${SHARED_ACCOUNT}:alarm:${alarmName}`,
            OldStateValue: old,
            OKActions: [],
            AlarmActions: [],
            InsufficientDataActions: [],
            Trigger: {
              MetricName: "HealthCheckStatus",
              Namespace: "AWS/Route53",
              StatisticType: "Statistic",
              Statistic: "MINIMUM",
              Unit: null,
              Dimensions: [{ value: "hc-primary-id", name: "HealthCheckId" }],
              Period: 60,
              EvaluationPeriods: 1,
              DatapointsToAlarm: 1,
              ComparisonOperator: "LessThanThreshold",
              Threshold: 1.0,
              TreatMissingData: "breaching",
              EvaluateLowSampleCountPercentile: "",
            },
          }),
          Timestamp: newState === "ALARM" ? "2026-12-03T17:01:02.412Z" : "2026-12-03T17:31:02.412Z",
          SignatureVersion: "1",
          Signature: "EXAMPLE",
          SigningCertUrl: "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000.pem",
          UnsubscribeUrl: "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
          MessageAttributes: {},
        },
      },
    ],
  };
}
