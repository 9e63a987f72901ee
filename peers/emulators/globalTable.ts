/**
 * Emulates what AWS does inside DynamoDB for the ops table, on top of moto (which ignores
 * global-table replicas): replication of every change between the tables of two regions, and the
 * stream → event-source-mapping delivery to each region's launcher, with the deployed
 * FilterCriteria (the same pattern object, evaluated by streamFilter.ts), batches, per-item
 * failure retries and an on-failure list. Used by tests and the local drill, never by deployed code.
 *
 * Concurrent writes of one item in both regions are reconciled as DynamoDB global tables document
 * it (MREC): "last writer wins", every replica agreeing on the same write. Each write carries a
 * stamp (its stream record's creation time, then region and sequence number as tie-breakers, a
 * total order both sides share); a replicated write is applied only over an older one, and only if
 * the target item is still the one the emulator knows (a conditional write), since any write the
 * emulator has not yet read there is later than the one being replicated.
 */
import {
  ConditionalCheckFailedException,
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
import { createPkTable } from "../tables.js";

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
  /**
   * A fault hook for tests: returns true to drop the replication of one local write of item `pk`
   * from `from` to `to` (the item is then never copied). Default: nothing is dropped.
   */
  dropReplication?: (pk: string, from: string, to: string) => boolean;
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
  /** Changes not copied because the other region held a later write of the item (last writer wins). */
  superseded: number;
  /** Changes held because the other region is unreachable; copied once it is back. */
  held: number;
  /** Changes the `dropReplication` hook dropped. */
  dropped: number;
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
  /** The write each item of this region holds (as far as the emulator has read), by pk. */
  items: Map<string, HeldWrite>;
  /** Items where a replicated write lost to a write not yet read: that write is later than this. */
  floors: Map<string, Stamp>;
}

/** A write's place in the total order both replicas agree on: time, then region, then sequence. */
interface Stamp {
  time: number;
  region: string;
  sequence: bigint;
}

interface HeldWrite {
  stamp: Stamp;
  /** The item as written; null for a delete. */
  image: Record<string, DdbAttributeValue> | null;
}

/** A local write read from a region's stream, to be replicated. */
interface LocalWrite {
  from: RegionState;
  record: StreamRecord;
  pk: string;
  write: HeldWrite;
}

const laterThan = (a: Stamp, b: Stamp): boolean =>
  a.time !== b.time ? a.time > b.time : a.region !== b.region ? a.region > b.region : a.sequence > b.sequence;

const pkOf = (r: StreamRecord) => canonicalJson(r.dynamodb?.Keys);

/**
 * `#a0 = :a0 AND ...` over every attribute of `image`: the item is still the write the emulator
 * knows. (A later write that only adds attributes would pass; every write of the ops table changes
 * its versionKey, so none does.)
 */
function sameItemCondition(image: Record<string, DdbAttributeValue>): {
  ConditionExpression: string;
  ExpressionAttributeNames: Record<string, string>;
  ExpressionAttributeValues: Record<string, DdbAttributeValue>;
} {
  const names: Record<string, string> = {};
  const values: Record<string, DdbAttributeValue> = {};
  const parts: string[] = [];
  Object.entries(image).forEach(([name, value], i) => {
    names[`#a${i}`] = name;
    if (value.NULL) {
      // NULL is not comparable with `=`; its type says it all.
      values[`:a${i}`] = { S: "NULL" };
      parts.push(`attribute_type(#a${i}, :a${i})`);
    } else {
      values[`:a${i}`] = value;
      parts.push(`#a${i} = :a${i}`);
    }
  });
  return {
    ConditionExpression: parts.join(" AND "),
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
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
  /** Local writes read from a stream whose target region was unreachable, oldest first. */
  private readonly held: LocalWrite[] = [];
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
      const out = await createPkTable(ddb, options.tableName, { stream: true });
      const streamArn = out.TableDescription?.LatestStreamArn;
      if (!streamArn) throw new Error(`moto created ${options.tableName} in ${region} without a stream`);
      states.set(region, {
        region,
        ddb,
        streams: new DynamoDBStreamsClient(options.clientConfig(region)),
        streamArn,
        iterators: new Map(),
        echoes: new Map(),
        items: new Map(),
        floors: new Map(),
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

  /**
   * Reads a stream record: our own replicated write showing up again (an echo, not sent back), or a
   * local write, which this region's item now holds and which is returned for replication.
   */
  private observe(from: RegionState, record: StreamRecord): LocalWrite | undefined {
    const key = changeKey(record);
    const pending = from.echoes.get(key) ?? 0;
    if (pending > 0) {
      if (pending === 1) from.echoes.delete(key);
      else from.echoes.set(key, pending - 1);
      return undefined;
    }
    const created = record.dynamodb?.ApproximateCreationDateTime;
    const pk = pkOf(record);
    const stamp: Stamp = {
      time: created ? new Date(created).getTime() : 0,
      region: from.region,
      sequence: BigInt(record.dynamodb?.SequenceNumber ?? "0"),
    };
    // A write that replaced another in this region is later than it, whatever the clock's resolution.
    for (const before of [from.items.get(pk)?.stamp, from.floors.get(pk)])
      if (before && !laterThan(stamp, before)) stamp.time = before.time + 1;
    from.floors.delete(pk);
    const write: HeldWrite = {
      stamp,
      image:
        record.eventName === "REMOVE"
          ? null
          : (record.dynamodb!.NewImage as Record<string, DdbAttributeValue>),
    };
    from.items.set(pk, write);
    return { from, record, pk, write };
  }

  /**
   * Copies one local write to the other region, as global-table replication does (attributes
   * preserved), unless that region holds a later write of the item: then the later write wins in
   * both (it is itself replicated the other way). Returns whether it was copied.
   */
  private async replicate(local: LocalWrite): Promise<boolean> {
    const to = this.other(local.from.region);
    const held = to.items.get(local.pk);
    if (held && laterThan(held.stamp, local.write.stamp)) return false;
    // The target must still hold what we know; anything written there since is a later writer.
    const condition = held?.image
      ? sameItemCondition(held.image)
      : { ConditionExpression: "attribute_not_exists(pk)" };
    const record = local.record;
    try {
      if (record.eventName === "REMOVE") {
        await to.ddb.send(
          new DeleteItemCommand({
            TableName: this.options.tableName,
            Key: record.dynamodb!.Keys as Record<string, DdbAttributeValue>,
            ...condition,
          }),
        );
      } else {
        await to.ddb.send(
          new PutItemCommand({
            TableName: this.options.tableName,
            Item: record.dynamodb!.NewImage as Record<string, DdbAttributeValue>,
            ...condition,
          }),
        );
      }
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
      // Changed there since we read its stream: that write is later and will be replicated back.
      to.floors.set(local.pk, local.write.stamp);
      return false;
    }
    to.items.set(local.pk, local.write);
    // Deleting an item that is not there writes no stream record, so there is no echo to expect.
    if (record.eventName !== "REMOVE" || held?.image) {
      const key = changeKey(record);
      to.echoes.set(key, (to.echoes.get(key) ?? 0) + 1);
    }
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

  /**
   * One round: read the streams, replicate each local change to the other region (last writer
   * wins), deliver each stream to its region's consumer. Both streams are read before anything is
   * replicated, so a write in one region is never copied over a later one the other region holds.
   *
   * `unreachable` regions take no part (their stream is not read, nothing is delivered to them or
   * copied into them), as when a region is down: what the other region writes meanwhile is held and
   * copied once it is back; what the unreachable region had not yet replicated stays in its stream
   * (stranded) until then. The reachable region's stream is still delivered to its own consumer,
   * so records replicated into it before the outage are still replayed there.
   */
  async pump(unreachable: ReadonlySet<string> = new Set()): Promise<PumpReport> {
    const report: PumpReport = { replicated: 0, superseded: 0, held: 0, dropped: 0, delivered: {} };
    const read = new Map<RegionState, StreamRecord[]>();
    for (const region of this.options.regions) {
      if (unreachable.has(region)) continue;
      const s = this.state(region);
      read.set(s, await this.readStream(s));
    }
    const local: LocalWrite[] = [];
    for (const [s, records] of read)
      for (const r of records) {
        const write = this.observe(s, r);
        if (write) local.push(write);
      }
    // Writes held while their target was unreachable go first: they are older than those just read.
    for (const write of [...this.held.splice(0), ...local]) {
      const to = this.other(write.from.region).region;
      if (unreachable.has(to)) {
        this.held.push(write);
        report.held++;
      } else if (this.options.dropReplication?.(write.pk, write.from.region, to)) {
        report.dropped++;
      } else if (await this.replicate(write)) report.replicated++;
      else report.superseded++;
    }
    for (const [s, records] of read)
      report.delivered[s.region] = await this.deliver(
        s,
        records.map((r) => toLambdaRecord(r, s.region, s.streamArn)),
      );
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
