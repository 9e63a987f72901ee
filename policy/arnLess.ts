/**
 * The only actions an identity policy of this project may grant on resource `*`: those IAM does
 * not authorize against a resource ARN (the Service Authorization Reference lists no resource
 * type for them), so no narrower Resource exists. Add an entry only with that reason, one line.
 */
export const ARN_LESS_ACTIONS: Readonly<Record<string, string>> = {
  // IoT registry (replication, backfill, reconcile, C&C)
  "iot:RegisterCertificateWithoutCA": "the certificate's ARN exists only after the call",
  "iot:CreateKeysAndCertificate": "the certificate's ARN exists only after the call",
  "iot:AttachThingPrincipal": "listed without a resource type; authorized per account and region",
  "iot:DetachThingPrincipal": "listed without a resource type; authorized per account and region",
  "iot:ListThings": "account-wide listing, no resource",
  "iot:ListThingGroups": "account-wide listing, no resource",
  "iot:ListThingTypes": "account-wide listing, no resource",
  "iot:ListCertificates": "account-wide listing, no resource",
  "iot:ListPolicies": "account-wide listing, no resource",
  "iot:DescribeEndpoint": "returns the account's data endpoint, no resource",
  // DynamoDB
  "dynamodb:ListStreams": "Lambda's stream poller lists a table's streams; no resource ARN",
  "dynamodb:ListTables": "account-wide listing, no resource",
  // CloudWatch metrics (scope PutMetricData with the cloudwatch:namespace condition)
  "cloudwatch:PutMetricData": "metrics have no ARN",
  "cloudwatch:GetMetricData": "metrics have no ARN (readiness reads replication lag and drift)",
  "cloudwatch:GetMetricStatistics": "metrics have no ARN",
  "cloudwatch:ListMetrics": "metrics have no ARN",
  // X-Ray tracing from functions
  "xray:PutTraceSegments": "traces have no ARN",
  "xray:PutTelemetryRecords": "telemetry has no ARN",
  "xray:GetSamplingRules": "sampling is account-wide",
  "xray:GetSamplingTargets": "sampling is account-wide",
  // CloudWatch Logs deliveries, which Step Functions and EventBridge logging need
  "logs:CreateLogDelivery": "log deliveries have no ARN",
  "logs:GetLogDelivery": "log deliveries have no ARN",
  "logs:UpdateLogDelivery": "log deliveries have no ARN",
  "logs:DeleteLogDelivery": "log deliveries have no ARN",
  "logs:ListLogDeliveries": "log deliveries have no ARN",
  "logs:PutResourcePolicy": "log resource policies are account-wide",
  "logs:DescribeResourcePolicies": "log resource policies are account-wide",
  "logs:DescribeLogGroups": "account-wide listing, no resource",
  // STS
  "sts:GetCallerIdentity": "needs no permission at all; harmless on *",
};

/** True when `action` (case-insensitive, exact) may be granted on `*`. */
export function isArnLess(action: string): boolean {
  const wanted = action.toLowerCase();
  return Object.keys(ARN_LESS_ACTIONS).some((a) => a.toLowerCase() === wanted);
}
