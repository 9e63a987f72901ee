import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { HEALTH_FACTORS } from "../functions/health/factors.js";
import { DRIFT_COUNT } from "../functions/reconcile/driftMetric.js";
import { METRICS_NAMESPACE, REPLICATION_LAG } from "../functions/replication/observability.js";
import { requireProvider } from "./provider.js";
import { alarmFamily } from "./alarms.js";
import { CrossAccountObservability } from "./observability.js";
import { driftAlarmWindowSeconds } from "./reconciler.js";

/** Namespace of every metric iot-dr publishes (replication lag, drift, health). */
export const IOT_DR_NAMESPACE = METRICS_NAMESPACE;

/**
 * The metric namespaces the dashboard reads from each source account; the OAM links share exactly
 * these (infra/observability.ts), so a widget added here must add its namespace here.
 */
export const DASHBOARD_NAMESPACES = {
  iot: [IOT_DR_NAMESPACE, "AWS/SQS", "AWS/IoT"],
  commandControl: ["AWS/ApiGateway"],
  analytics: ["AWS/Events", "AWS/SQS"],
} as const;

export interface DeadLetterQueueRef {
  /** What lands in the queue, for the widget legend and the alarm text (e.g. "replay dead letters"). */
  label: string;
  /** The queue's name or URL (SQS metrics are keyed by QueueName, the URL's last segment). */
  queueName: pulumi.Input<string>;
  /** Whether this component alarms on the queue's depth; default false (the owning component usually does). */
  alarm?: boolean;
}

export interface RegionalDashboardArgs {
  /** The region this dashboard watches. Required. */
  region: string;
  /** The other region, shown next to this one for device connects. Required. */
  peerRegion: string;
  /** The SNS alarm topic (NotificationTopic) every alarm notifies, on ALARM and OK. Required. */
  alarmTopicArn: pulumi.Input<string>;
  /** Provider of the IoT services account in this region (replication, dead letters, drift, connects). Required. */
  iotProvider: pulumi.ProviderResource;
  /** The IoT services account id; metrics of another account than the dashboard's carry it. Required. */
  iotAccountId: string;
  /** The account id of opts.provider (shared services: health metrics, the dashboard itself). Required. */
  dashboardAccountId: string;
  /** The C&C account and its provider in this region, for its API's errors; default: no C&C widget. */
  commandControl?: SourceAccountRef;
  /** The analytics account and its provider in this region, for failed deliveries and dead letters; default: no analytics widget. */
  analytics?: SourceAccountRef;
  /**
   * Whether this component links the other accounts to a sink in the dashboard's account
   * (CrossAccountObservability), sharing only the namespaces in DASHBOARD_NAMESPACES; default true.
   * Set false when they are already linked to a monitoring sink there (an account has one sink per region).
   */
  linkAccounts?: boolean;
  /** An existing OAM sink of the dashboard's account in this region, and the links' label template (CrossAccountObservability). */
  observability?: { existingSinkArn?: string; labelTemplate?: string };
  /** The dashboard's name (include the environment); default `iot-dr-<component name>-<region>`. */
  dashboardName?: string;
  /** Dead-letter queues in this region; default none. */
  deadLetterQueues?: DeadLetterQueueRef[];
  /** Health factors the health-check function publishes (FactorHealthy{Region, Factor}); default every factor. */
  healthFactors?: readonly string[];
  /** Dimensions of ReplicationLagMs; default `REPLICATION_LAG.dimensions` (Powertools' service dimension). */
  replicationLagDimensions?: Record<string, string>;
  /** Lag (seconds) drawn as the line the lag alarm fires at; default 60. */
  lagAlarmSeconds?: number;
  /** Drift above which the drift alarm fires; default 0 (any drift). */
  maxDrift?: number;
  /** Period of the drift alarm in seconds, at least the reconciler's schedule; default 3600. */
  driftPeriodSeconds?: number;
  /**
   * The reconciler's schedule (config `reconcile.scheduleMinutes`). When given and one full pass
   * (`driftAlarmWindowSeconds`) fits Metrics Insights' 3 hours, the drift alarm's period is that
   * window and missing data breaches (a reconciler that stops publishing alarms); default: not
   * given, period `driftPeriodSeconds` and missing data not breaching.
   */
  reconcileScheduleMinutes?: number;
  /** Minutes a factor must stay unhealthy before its alarm fires; default 3. */
  factorAlarmMinutes?: number;
  /** Region of Route 53's health-check metrics; default us-east-1 (where Route 53 publishes them). */
  route53MetricsRegion?: string;
}

export interface SourceAccountRef {
  /** The account id. */
  accountId: string;
  /** Its provider in this region (where its link to the sink is created). */
  provider: pulumi.ProviderResource;
}

type Metric = (pulumi.Input<string> | Record<string, unknown>)[];

/**
 * One region's operations view: a CloudWatch dashboard (replication lag, dead-letter depth, drift,
 * health per factor, device connects in both regions, fail-over state from Route 53) in the
 * shared-services account (opts.provider), and alarms on what no other component alarms on:
 * an unhealthy factor, a standby that is not ready, drift, and any dead-letter queue flagged
 * `alarm`. Metrics of other accounts (IoT, C&C, analytics) are shown through CloudWatch
 * cross-account observability: the component links those accounts to a sink in its own account
 * (infra/observability.ts), sharing only the namespaces it reads; each metric names its account. Every alarm evaluates in the account that publishes its metric and notifies the topic
 * across accounts, so a broken link empties a widget but never silences an alarm.
 */
export class RegionalDashboard extends pulumi.ComponentResource {
  readonly dashboard: aws.cloudwatch.Dashboard;
  readonly alarms: aws.cloudwatch.MetricAlarm[];
  /** The OAM sink and links the dashboard reads other accounts through; absent when linkAccounts is false. */
  readonly observability?: CrossAccountObservability;
  readonly dashboardName: pulumi.Output<string>;

  constructor(name: string, args: RegionalDashboardArgs, opts: pulumi.ComponentResourceOptions = {}) {
    // Checked before registering anything, so a bad call leaves no half-built component behind.
    requireProvider(opts.provider, "RegionalDashboard", "shared-services");
    requireProvider(args.iotProvider, "RegionalDashboard iotProvider", "IoT services");
    if (args.commandControl)
      requireProvider(args.commandControl.provider, "RegionalDashboard commandControl", "C&C");
    if (args.analytics) requireProvider(args.analytics.provider, "RegionalDashboard analytics", "analytics");
    for (const key of [
      "region",
      "peerRegion",
      "iotAccountId",
      "dashboardAccountId",
      "alarmTopicArn",
    ] as const) {
      if (!args[key]) throw new Error(`RegionalDashboard needs args.${key} (see RegionalDashboardArgs)`);
    }
    super("iot-dr:observability:RegionalDashboard", name, {}, opts);
    const { region, peerRegion } = args;
    const factors = args.healthFactors ?? HEALTH_FACTORS;
    const queues = (args.deadLetterQueues ?? []).map((d) => ({
      ...d,
      queueName: pulumi.output(d.queueName).apply((n) => n.slice(n.lastIndexOf("/") + 1)),
    }));
    const lagMs = (args.lagAlarmSeconds ?? 60) * 1000;
    const maxDrift = args.maxDrift ?? 0;
    const passWindow =
      args.reconcileScheduleMinutes === undefined
        ? undefined
        : driftAlarmWindowSeconds(args.reconcileScheduleMinutes);
    // Metrics Insights alarms query at most 3 hours; a longer window leaves it to the reconciler's own alarm.
    const driftMissingBreaches = passWindow !== undefined && passWindow <= 3 * 3600;
    const driftPeriod = driftMissingBreaches ? passWindow : (args.driftPeriodSeconds ?? 3600);
    const factorMinutes = args.factorAlarmMinutes ?? 3;
    const route53Region = args.route53MetricsRegion ?? "us-east-1";
    const lagDimensions = args.replicationLagDimensions ?? REPLICATION_LAG.dimensions;
    // Same account: plain metrics. Otherwise the metric names its account (cross-account observability).
    const from = (accountId: string) => (accountId === args.dashboardAccountId ? {} : { accountId });
    const iot = from(args.iotAccountId);
    const cc = args.commandControl ? from(args.commandControl.accountId) : undefined;
    const analytics = args.analytics ? from(args.analytics.accountId) : undefined;

    // Widgets of another account stay empty until its link to the sink exists: links first.
    if (args.linkAccounts ?? true) {
      this.observability = new CrossAccountObservability(
        `${name}-observability`,
        {
          region,
          monitoringAccountId: args.dashboardAccountId,
          ...args.observability,
          sources: [
            {
              name: "iot",
              accountId: args.iotAccountId,
              provider: args.iotProvider,
              namespaces: DASHBOARD_NAMESPACES.iot,
            },
            ...(args.commandControl
              ? [
                  {
                    name: "commandControl",
                    ...args.commandControl,
                    namespaces: DASHBOARD_NAMESPACES.commandControl,
                  },
                ]
              : []),
            ...(args.analytics
              ? [{ name: "analytics", ...args.analytics, namespaces: DASHBOARD_NAMESPACES.analytics }]
              : []),
          ],
        },
        { parent: this, provider: opts.provider },
      );
    }
    const q = (s: string) => s.replace(/'/g, "");

    const widget = (title: string, metrics: Metric[], extra: Record<string, unknown> = {}) => ({
      type: "metric",
      width: 12,
      height: 6,
      properties: { title, region, view: "timeSeries", stacked: false, period: 60, metrics, ...extra },
    });
    const widgets = [
      {
        type: "text",
        width: 24,
        height: 2,
        properties: {
          markdown:
            `# iot-dr ${region}\nReplication into this region, its dead letters and drift; health as the ` +
            `health-check function judges ${region}; device connects in both regions; Route 53 fail-over state.`,
        },
      },
      widget(
        "Replication lag (ms, capture to apply)",
        [
          [
            IOT_DR_NAMESPACE,
            REPLICATION_LAG.metricName,
            ...Object.entries(lagDimensions).flat(),
            { stat: "p99", label: "p99", ...iot },
          ],
          [".", ".", ...Object.entries(lagDimensions).flat(), { stat: "Maximum", label: "max", ...iot }],
        ],
        { annotations: { horizontal: [{ label: "lag alarm", value: lagMs }] } },
      ),
      queues.length > 0
        ? widget(
            "Dead letters (messages waiting)",
            queues.map((d) => [
              "AWS/SQS",
              "ApproximateNumberOfMessagesVisible",
              "QueueName",
              d.queueName,
              { stat: "Maximum", label: d.label, ...iot },
            ]),
          )
        : {
            type: "text",
            width: 12,
            height: 6,
            properties: { markdown: "No dead-letter queues in this region." },
          },
      widget(
        "Registry drift (reconciler)",
        [
          [
            {
              expression: `SEARCH('Namespace="${IOT_DR_NAMESPACE}" MetricName="${DRIFT_COUNT.metricName}"', 'Maximum', 300)`,
              id: "drift",
              ...iot,
            },
          ],
        ],
        { period: 300, annotations: { horizontal: [{ label: "drift alarm", value: maxDrift }] } },
      ),
      widget(
        `Health per factor in ${region} (1 healthy, 0 not)`,
        [
          [
            {
              expression: `SEARCH('Namespace="${IOT_DR_NAMESPACE}" MetricName="FactorHealthy" Region="${q(region)}"', 'Minimum', 60)`,
              id: "factors",
            },
          ],
          [
            {
              expression: `SEARCH('Namespace="${IOT_DR_NAMESPACE}" MetricName="RegionHealthy" Region="${q(region)}"', 'Minimum', 60)`,
              id: "region",
            },
          ],
          [
            {
              expression: `SEARCH('Namespace="${IOT_DR_NAMESPACE}" MetricName="RegionReady" Region="${q(region)}"', 'Minimum', 60)`,
              id: "ready",
            },
          ],
        ],
        { yAxis: { left: { min: 0, max: 1 } } },
      ),
      widget(`Health probe latency in ${region} (ms)`, [
        [
          {
            expression: `SEARCH('Namespace="${IOT_DR_NAMESPACE}" MetricName="FactorLatencyMs" Region="${q(region)}"', 'Maximum', 60)`,
            id: "latency",
          },
        ],
      ]),
      widget(
        "Device connects per region",
        [region, peerRegion].map((r) => [
          "AWS/IoT",
          "Connect.Success",
          "Protocol",
          "MQTT",
          { stat: "Sum", label: r, region: r, ...iot },
        ]),
      ),
      ...(cc || analytics
        ? [
            widget("Command & control and analytics (errors, failed deliveries, dead letters)", [
              ...(cc
                ? [
                    [
                      {
                        expression: `SEARCH('{AWS/ApiGateway,ApiId} MetricName="5xx"', 'Sum', 60)`,
                        id: "cc5xx",
                        label: "C&C API 5xx",
                        ...cc,
                      },
                    ],
                  ]
                : []),
              ...(analytics
                ? [
                    [
                      {
                        expression: `SEARCH('{AWS/Events,EventBusName,RuleName} MetricName="FailedInvocations"', 'Sum', 60)`,
                        id: "busfailed",
                        label: "analytics failed deliveries",
                        ...analytics,
                      },
                    ],
                    [
                      {
                        expression: `SEARCH('{AWS/SQS,QueueName} MetricName="ApproximateNumberOfMessagesVisible" dlq', 'Maximum', 60)`,
                        id: "analyticsdlq",
                        label: "analytics dead letters",
                        ...analytics,
                      },
                    ],
                  ]
                : []),
            ]),
          ]
        : []),
      widget(
        "Fail-over state (Route 53 health checks, 1 healthy)",
        [
          [
            {
              expression: `SEARCH('Namespace="AWS/Route53" MetricName="HealthCheckStatus"', 'Minimum', 60)`,
              id: "r53",
            },
          ],
        ],
        { region: route53Region, yAxis: { left: { min: 0, max: 1 } } },
      ),
    ];
    this.dashboard = new aws.cloudwatch.Dashboard(
      `${name}-dashboard`,
      {
        // Dashboards have no generated names; this one is per stack role and region.
        dashboardName: (args.dashboardName ?? `iot-dr-${name}-${region}`).slice(0, 255),
        dashboardBody: pulumi.jsonStringify({ widgets }),
      },
      // Widgets of other accounts stay empty until their links exist.
      { parent: this, dependsOn: this.observability?.links ?? [] },
    );

    const family = alarmFamily(name, { region, alarmTopicArn: args.alarmTopicArn }, { parent: this });
    const alarm = (
      suffix: string,
      description: string,
      alarmArgs: Partial<aws.cloudwatch.MetricAlarmArgs>,
      provider: pulumi.ProviderResource | undefined,
    ) => family(suffix, description, alarmArgs, { parent: this, ...(provider ? { provider } : {}) });
    // Metrics Insights queries ignore dimensions the publisher adds (Powertools' `service`).
    const insights = (id: string, sql: string, period: number) => ({
      metricQueries: [{ id, expression: sql, period, returnData: true }],
    });
    this.alarms = [
      ...factors.map((factor) =>
        alarm(
          `${factor.toLowerCase()}-unhealthy-alarm`,
          `health factor ${factor} unhealthy for ${factorMinutes} minutes`,
          {
            comparisonOperator: "LessThanThreshold",
            threshold: 1,
            evaluationPeriods: factorMinutes,
            datapointsToAlarm: factorMinutes,
            ...insights(
              "factor",
              `SELECT MIN(FactorHealthy) FROM "${IOT_DR_NAMESPACE}" WHERE Region = '${q(region)}' AND Factor = '${q(factor)}'`,
              60,
            ),
          },
          undefined,
        ),
      ),
      alarm(
        "not-ready-alarm",
        "not ready to take traffic (replication stale or drifting) for 5 minutes",
        {
          comparisonOperator: "LessThanThreshold",
          threshold: 1,
          evaluationPeriods: 5,
          datapointsToAlarm: 5,
          ...insights(
            "ready",
            `SELECT MIN(RegionReady) FROM "${IOT_DR_NAMESPACE}" WHERE Region = '${q(region)}'`,
            60,
          ),
        },
        undefined,
      ),
      alarm(
        "drift-alarm",
        `registry drift above ${maxDrift}`,
        {
          comparisonOperator: "GreaterThanThreshold",
          threshold: maxDrift,
          ...(driftMissingBreaches ? { treatMissingData: "breaching" } : {}),
          ...insights(
            "drift",
            `SELECT MAX(${DRIFT_COUNT.metricName}) FROM "${IOT_DR_NAMESPACE}"`,
            driftPeriod,
          ),
        },
        args.iotProvider,
      ),
      ...queues
        .filter((d) => d.alarm)
        .map((d, i) =>
          alarm(
            `dead-letter-${i + 1}-alarm`,
            `${d.label}: messages waiting in the dead-letter queue`,
            {
              comparisonOperator: "GreaterThanThreshold",
              threshold: 0,
              period: 60,
              namespace: "AWS/SQS",
              metricName: "ApproximateNumberOfMessagesVisible",
              dimensions: { QueueName: d.queueName },
              statistic: "Maximum",
            },
            args.iotProvider,
          ),
        ),
    ];

    this.dashboardName = this.dashboard.dashboardName;
    this.registerOutputs({ dashboardName: this.dashboardName });
  }
}
