/**
 * The device's own DNS resolver with a TTL-respecting cache.
 *
 * A device must see a Route 53 fail-over flip within the record's TTL, so it cannot rely on the
 * operating system's resolver (no TTL, often no cache control). Answers are cached for exactly
 * their TTL; a failed lookup keeps serving the last good answer (marked "stale") so that a DNS
 * outage never disconnects a device that could still reach its broker.
 */
import { promises as dns } from "node:dns";
import net from "node:net";

/** One DNS answer: IPv4 addresses and the TTL (seconds) of the record set. */
export interface DnsAnswer {
  addresses: string[];
  ttlSeconds: number;
}

/** Looks a name up; rejects on failure. Injectable for tests and for sharing one socket in a fleet. */
export type QueryFn = (host: string) => Promise<DnsAnswer>;

/** Where an answer came from. */
export type AnswerSource = "dns" | "cache" | "stale" | "literal";

export interface ResolvedAnswer extends DnsAnswer {
  host: string;
  source: AnswerSource;
  /** Clock time (ms) the answer was received from DNS. */
  resolvedAt: number;
  /** Clock time (ms) after which the answer is refreshed. */
  expiresAt: number;
}

export interface ResolverOptions {
  /** DNS servers as "ip" or "ip:port" (e.g. "127.0.0.1:5353"). Default: the system's (resolv.conf). */
  servers?: string[];
  /** Per-try timeout in ms. Default 2000. */
  timeoutMs?: number;
  /** Tries per server. Default 2. */
  tries?: number;
  /** Lower bound on a cached answer's life, seconds. Default 0 (honour the record's TTL). */
  minTtlSeconds?: number;
  /** Upper bound on a cached answer's life, seconds. Default 3600. */
  maxTtlSeconds?: number;
  /** Replaces the DNS query (tests, or one shared query function for many resolvers). */
  query?: QueryFn;
  /** Clock in ms. Default Date.now. */
  now?: () => number;
}

/** A name could not be resolved and no earlier answer exists. */
export class ResolveError extends Error {
  override name = "ResolveError";
  constructor(
    readonly host: string,
    cause: unknown,
  ) {
    super(
      `cannot resolve ${host}: ${cause instanceof Error ? cause.message : String(cause)} (no earlier answer to fall back on)`,
      { cause },
    );
  }
}

/** Checks "ip" / "ip:port" server strings before c-ares sees them, with an error naming the bad one. */
export function parseDnsServers(servers: string[]): string[] {
  return servers.map((server) => {
    const match = /^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?$/.exec(server.trim());
    const port = match?.[2] === undefined ? 53 : Number(match[2]);
    if (!match || !net.isIPv4(match[1]) || port < 1 || port > 65535) {
      throw new RangeError(`DNS server '${server}' is not of the form IPv4[:port], e.g. 127.0.0.1:5353`);
    }
    return `${match[1]}:${port}`;
  });
}

/** A query function on one c-ares channel (one UDP socket, reusable by many resolvers). */
export function dnsQuery(options: Pick<ResolverOptions, "servers" | "timeoutMs" | "tries"> = {}): QueryFn {
  const resolver = new dns.Resolver({ timeout: options.timeoutMs ?? 2_000, tries: options.tries ?? 2 });
  if (options.servers && options.servers.length > 0) resolver.setServers(parseDnsServers(options.servers));
  return async (host) => {
    const records = await resolver.resolve4(host, { ttl: true });
    if (records.length === 0) throw new Error(`no A record for ${host}`);
    return { addresses: records.map((r) => r.address), ttlSeconds: Math.min(...records.map((r) => r.ttl)) };
  };
}

/** How long (s) a cache keeps an answer with this TTL, given its bounds. */
export function cacheLifeSeconds(ttlSeconds: number, minTtlSeconds: number, maxTtlSeconds: number): number {
  return Math.min(maxTtlSeconds, Math.max(minTtlSeconds, ttlSeconds));
}

interface CacheEntry {
  answer: DnsAnswer;
  resolvedAt: number;
  expiresAt: number;
}

export class CachingResolver {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inFlight = new Map<string, Promise<ResolvedAnswer>>();
  private readonly query: QueryFn;
  private readonly now: () => number;
  private readonly minTtl: number;
  private readonly maxTtl: number;
  /** Lookups that failed (whether or not a stale answer covered them). */
  failures = 0;
  /** Lookups sent to DNS. */
  queries = 0;
  /** The last lookup error, if any. */
  lastError: unknown;

  constructor(options: ResolverOptions = {}) {
    this.query = options.query ?? dnsQuery(options);
    this.now = options.now ?? Date.now;
    this.minTtl = options.minTtlSeconds ?? 0;
    this.maxTtl = options.maxTtlSeconds ?? 3_600;
    if (!(this.minTtl >= 0 && this.maxTtl >= this.minTtl)) {
      throw new RangeError(
        `resolver TTL bounds are inconsistent: minTtlSeconds=${this.minTtl}, maxTtlSeconds=${this.maxTtl}`,
      );
    }
  }

  /**
   * Resolves `host`. Serves the cache until the answer's TTL expires, unless `refresh` is set.
   * On a DNS failure, serves the last good answer (source "stale"); throws ResolveError without one.
   */
  async resolve(host: string, options: { refresh?: boolean } = {}): Promise<ResolvedAnswer> {
    const now = this.now();
    if (net.isIPv4(host)) {
      return {
        host,
        addresses: [host],
        ttlSeconds: Infinity,
        source: "literal",
        resolvedAt: now,
        expiresAt: Infinity,
      };
    }
    const key = host.toLowerCase();
    const entry = this.cache.get(key);
    if (entry && !options.refresh && now < entry.expiresAt) {
      return {
        host,
        ...entry.answer,
        source: "cache",
        resolvedAt: entry.resolvedAt,
        expiresAt: entry.expiresAt,
      };
    }
    // Concurrent callers share one query.
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const lookup = this.lookup(host, key).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, lookup);
    return lookup;
  }

  /** The cached answer without querying, if any (expired or not). */
  peek(host: string): DnsAnswer | undefined {
    return this.cache.get(host.toLowerCase())?.answer;
  }

  private async lookup(host: string, key: string): Promise<ResolvedAnswer> {
    this.queries++;
    try {
      const answer = await this.query(host);
      const resolvedAt = this.now();
      const life = cacheLifeSeconds(answer.ttlSeconds, this.minTtl, this.maxTtl);
      const entry = { answer, resolvedAt, expiresAt: resolvedAt + life * 1000 };
      this.cache.set(key, entry);
      return { host, ...answer, source: "dns", resolvedAt, expiresAt: entry.expiresAt };
    } catch (err) {
      this.failures++;
      this.lastError = err;
      const last = this.cache.get(key);
      if (!last) throw new ResolveError(host, err);
      return {
        host,
        ...last.answer,
        source: "stale",
        resolvedAt: last.resolvedAt,
        expiresAt: last.expiresAt,
      };
    }
  }
}
