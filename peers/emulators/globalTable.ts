/**
 * Emulates what AWS does inside DynamoDB for the ops table, on top of moto (which ignores
 * global-table replicas): replication of every change between the tables of two regions, and the
 * stream → event-source-mapping delivery to each region's launcher, with the deployed
 * FilterCriteria (the same pattern object, evaluated by streamFilter.ts), batches, per-item
 * failure retries and an on-failure list. Used by tests and the local drill, never by deployed code.
 */
import {
  CreateTableCommand,
  DeleteItemCommand,
  DynamoDBClient,
  PutItemCommand,
  type AttributeValue as DdbAttributeValue,
} from "@aws-sdk/client-dynamodb";
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record as StreamRecord,
} from "@aws-sdk/client-dynamodb-streams";
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";
import { canonicalJson } from "../../functions/registry/records.js";
import { matchesFilter, replayFilterPattern } from "../../functions/replication/streamFilter.js";
import type { MotoClientConfig } from "../moto.js";

/** A region's stream consumer: the launcher core (or its serialized handler) given a Lambda-shaped event. */
export type StreamConsumer = (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse>;

export interface GlobalTableOptions {
  tableName: string;
  /** The two regions; the first is where the table was created (the primary). */
  regions: readonly [string, string];
  clientConfig(region: string): MotoClientConfig;
  /** The launcher of each region; a region without one only replicates. */
  consumers?: Record<string, StreamConsumer>;
  /** Records per delivered batch, as the mapping's BatchSize; default 100. */
  batchSize?: number;
  /** Retries of a batch that reported failures, as MaximumRetryAttempts; default 3. */
  maxRetries?: number;
}

/** A delivery the mapping gave up on, as its on-failure destination would receive it. */
export interface FailedDelivery {
  region: string;
  startSequenceNumber: string;
  endSequenceNumber: string;
  batchSize: number;
}

export interface PumpReport {
  /** Changes copied to the other region. */
  replicated: number;
  /** Records handed to each region's consumer after the filter (retries included). */
  delivered: Record<string, number>;
}

interface RegionState {
  region: string;
  ddb: DynamoDBClient;
  streams: DynamoDBStreamsClient;
  streamArn: string;
  iterators: Map<string, string | undefined>;
  /** Changes this emulator wrote into the region; their stream records are not replicated back. */
  echoes: Map<string, number>;
}

const changeKey = (r: StreamRecord) =>
  r.eventName === "REMOVE"
    ? `REMOVE|${canonicalJson(r.dynamodb?.Keys)}`
    : `PUT|${canonicalJson(r.dynamodb?.NewImage)}`;

function toLambdaRecord(r: StreamRecord, region: string, streamArn: string): DynamoDBRecord {
  const created = r.dynamodb?.ApproximateCreationDateTime;
  return {
    eventID: r.eventID,
    eventName: r.eventName as DynamoDBRecord["eventName"],
    eventVersion: "1.1",
    eventSource: "aws:dynamodb",
    // moto always says us-east-1 (DESIGN.md §8); Lambda reports the stream's region.
    awsRegion: region,
    eventSourceARN: streamArn,
    dynamodb: {
      ...(r.dynamodb as DynamoDBRecord["dynamodb"]),
      ApproximateCreationDateTime: created ? Math.floor(new Date(created).getTime() / 1000) : undefined,
    },
  };
}

export class GlobalTableEmulator {
  readonly failed: FailedDelivery[] = [];
  /** Every record delivered to a region's consumer, in order (retries included). */
  readonly deliveries: Record<string, DynamoDBRecord[]> = {};

  private constructor(
    private readonly options: GlobalTableOptions,
    private readonly states: Map<string, RegionState>,
  ) {
    for (const region of options.regions) this.deliveries[region] = [];
  }

  /** Creates the table (pk hash key, NEW_AND_OLD_IMAGES stream) in both regions. */
  static async create(options: GlobalTableOptions): Promise<GlobalTableEmulator> {
    if (options.regions[0] === options.regions[1])
      throw new Error("a global table needs two different regions");
    const states = new Map<string, RegionState>();
    for (const region of options.regions) {
      const ddb = new DynamoDBClient(options.clientConfig(region));
      const out = await ddb.send(
        new CreateTableCommand({
          TableName: options.tableName,
          AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
          KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
          BillingMode: "PAY_PER_REQUEST",
          StreamSpecification: { StreamEnabled: true, StreamViewType: "NEW_AND_OLD_IMAGES" },
        }),
      );
      const streamArn = out.TableDescription?.LatestStreamArn;
      if (!streamArn) throw new Error(`moto created ${options.tableName} in ${region} without a stream`);
      states.set(region, {
        region,
        ddb,
        streams: new DynamoDBStreamsClient(options.clientConfig(region)),
        streamArn,
        iterators: new Map(),
        echoes: new Map(),
      });
    }
    return new GlobalTableEmulator(options, states);
  }

  streamArn(region: string): string {
    return this.state(region).streamArn;
  }

  private state(region: string): RegionState {
    const s = this.states.get(region);
    if (!s)
      throw new Error(
        `region ${region} is not part of this global table (${this.options.regions.join(", ")})`,
      );
    return s;
  }

  private other(region: string): RegionState {
    return this.state(this.options.regions[0] === region ? this.options.regions[1] : this.options.regions[0]);
  }

  /** New stream records of a region since the last read, oldest first. */
  private async readStream(s: RegionState): Promise<StreamRecord[]> {
    const described = await s.streams.send(new DescribeStreamCommand({ StreamArn: s.streamArn }));
    const records: StreamRecord[] = [];
    for (const shard of described.StreamDescription?.Shards ?? []) {
      const shardId = shard.ShardId!;
      let iterator = s.iterators.get(shardId);
      if (!s.iterators.has(shardId)) {
        const it = await s.streams.send(
          new GetShardIteratorCommand({
            StreamArn: s.streamArn,
            ShardId: shardId,
            ShardIteratorType: "TRIM_HORIZON",
          }),
        );
        iterator = it.ShardIterator;
      }
      if (!iterator) continue;
      const out = await s.streams.send(new GetRecordsCommand({ ShardIterator: iterator }));
      records.push(...(out.Records ?? []));
      s.iterators.set(shardId, out.NextShardIterator ?? iterator);
    }
    return records;
  }

  /** Copies one change to the other region, as global-table replication does (attributes preserved). */
  private async replicate(from: RegionState, record: StreamRecord): Promise<boolean> {
    const key = changeKey(record);
    const pending = from.echoes.get(key) ?? 0;
    if (pending > 0) {
      // Our own replicated write showing up in this region's stream: do not send it back.
      if (pending === 1) from.echoes.delete(key);
      else from.echoes.set(key, pending - 1);
      return false;
    }
    const to = this.other(from.region);
    if (record.eventName === "REMOVE") {
      await to.ddb.send(
        new DeleteItemCommand({
          TableName: this.options.tableName,
          Key: record.dynamodb!.Keys as Record<string, DdbAttributeValue>,
        }),
      );
    } else {
      await to.ddb.send(
        new PutItemCommand({
          TableName: this.options.tableName,
          Item: record.dynamodb!.NewImage as Record<string, DdbAttributeValue>,
        }),
      );
    }
    to.echoes.set(key, (to.echoes.get(key) ?? 0) + 1);
    return true;
  }

  /** Delivers filtered records in batches; a batch with failures is retried from its first failed record. */
  private async deliver(s: RegionState, records: DynamoDBRecord[]): Promise<number> {
    const consumer = this.options.consumers?.[s.region];
    if (!consumer) return 0;
    // The deployed FilterCriteria, evaluated the way Lambda does before invoking the function.
    const pattern = replayFilterPattern(s.region);
    const matching = records.filter((r) => matchesFilter(pattern, r));
    const batchSize = this.options.batchSize ?? 100;
    const maxRetries = this.options.maxRetries ?? 3;
    let delivered = 0;
    for (let start = 0; start < matching.length; start += batchSize) {
      let batch = matching.slice(start, start + batchSize);
      for (let attempt = 0; batch.length > 0; attempt++) {
        delivered += batch.length;
        this.deliveries[s.region].push(...batch);
        let response: DynamoDBBatchResponse;
        try {
          response = await consumer({ Records: batch });
        } catch {
          // A thrown error fails the whole batch.
          response = { batchItemFailures: [{ itemIdentifier: batch[0].dynamodb!.SequenceNumber! }] };
        }
        const failedIds = new Set(response?.batchItemFailures?.map((f) => f.itemIdentifier) ?? []);
        const firstFailed = batch.findIndex((r) => failedIds.has(r.dynamodb!.SequenceNumber!));
        if (firstFailed < 0) break;
        batch = batch.slice(firstFailed);
        if (attempt >= maxRetries) {
          this.failed.push({
            region: s.region,
            startSequenceNumber: batch[0].dynamodb!.SequenceNumber!,
            endSequenceNumber: batch[batch.length - 1].dynamodb!.SequenceNumber!,
            batchSize: batch.length,
          });
          break;
        }
      }
    }
    return delivered;
  }

  /** One round: read both streams, replicate each change to the other region, deliver to consumers. */
  async pump(): Promise<PumpReport> {
    const report: PumpReport = { replicated: 0, delivered: {} };
    for (const region of this.options.regions) {
      const s = this.state(region);
      const records = await this.readStream(s);
      for (const r of records) if (await this.replicate(s, r)) report.replicated++;
      report.delivered[region] = await this.deliver(
        s,
        records.map((r) => toLambdaRecord(r, region, s.streamArn)),
      );
    }
    return report;
  }

  /** Pumps until a round moves nothing (replays write markers and echoes settle), at most `maxRounds`. */
  async settle(maxRounds = 20): Promise<PumpReport[]> {
    const reports: PumpReport[] = [];
    for (let i = 0; i < maxRounds; i++) {
      const report = await this.pump();
      reports.push(report);
      const moved = report.replicated + Object.values(report.delivered).reduce((a, b) => a + b, 0);
      if (moved === 0) return reports;
    }
    throw new Error(`the global table did not settle within ${maxRounds} rounds`);
  }
}
