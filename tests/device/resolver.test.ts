import { afterEach, describe, expect, it } from "vitest";
import { CachingResolver, parseDnsServers, ResolveError } from "../../device/resolver.js";
import { startDnsServer, type TestDnsServer } from "../../peers/dns.js";

const NAME = "iot.dr.example.test";
let dns: TestDnsServer | undefined;
afterEach(async () => {
  await dns?.stop();
  dns = undefined;
});

/** A resolver on the test DNS server with a clock the test moves by hand. */
async function setup(ttl: number) {
  dns = await startDnsServer({ [NAME]: { addresses: ["127.0.0.2"], ttl } });
  let now = 1_000_000;
  const resolver = new CachingResolver({ servers: [dns.server], timeoutMs: 100, tries: 1, now: () => now });
  return { dns, resolver, advance: (ms: number) => (now += ms) };
}

describe("device resolver", () => {
  it("serves the cached answer until its TTL expires, then asks DNS again", async () => {
    const { dns, resolver, advance } = await setup(30);
    expect(await resolver.resolve(NAME)).toMatchObject({
      addresses: ["127.0.0.2"],
      ttlSeconds: 30,
      source: "dns",
    });
    dns.setRecord(NAME, "127.0.0.3", 30);
    advance(29_999);
    expect(await resolver.resolve(NAME)).toMatchObject({ addresses: ["127.0.0.2"], source: "cache" });
    expect(dns.queryCount(NAME)).toBe(1);
    advance(1);
    expect(await resolver.resolve(NAME)).toMatchObject({ addresses: ["127.0.0.3"], source: "dns" });
    expect(dns.queryCount(NAME)).toBe(2);
  });

  it("refresh bypasses an unexpired answer", async () => {
    const { dns, resolver } = await setup(300);
    await resolver.resolve(NAME);
    dns.setRecord(NAME, "127.0.0.3", 300);
    expect(await resolver.resolve(NAME, { refresh: true })).toMatchObject({
      addresses: ["127.0.0.3"],
      source: "dns",
    });
  });

  it.each(["timeout", "servfail"] as const)(
    "keeps serving the last good answer while DNS fails (%s), and recovers",
    async (mode) => {
      const { dns, resolver, advance } = await setup(5);
      await resolver.resolve(NAME);
      dns.setMode(mode);
      advance(60_000);
      expect(await resolver.resolve(NAME)).toMatchObject({ addresses: ["127.0.0.2"], source: "stale" });
      expect(await resolver.resolve(NAME, { refresh: true })).toMatchObject({ source: "stale" });
      expect(resolver.failures).toBe(2);
      dns.setMode("answer");
      dns.setRecord(NAME, "127.0.0.3", 5);
      expect(await resolver.resolve(NAME)).toMatchObject({ addresses: ["127.0.0.3"], source: "dns" });
    },
  );

  it("keeps the last good answer when the DNS server is gone", async () => {
    const { dns, resolver, advance } = await setup(1);
    await resolver.resolve(NAME);
    await dns.stop();
    advance(5_000);
    expect(await resolver.resolve(NAME)).toMatchObject({ addresses: ["127.0.0.2"], source: "stale" });
  });

  it("fails with ResolveError naming the host when there is no earlier answer", async () => {
    const { resolver } = await setup(1);
    const error = await resolver.resolve("unknown.example.test").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ResolveError);
    expect((error as Error).message).toMatch(/cannot resolve unknown.example.test: .*no earlier answer/);
  });

  it("sends one query for concurrent lookups of the same name", async () => {
    const { dns, resolver } = await setup(1);
    const answers = await Promise.all(Array.from({ length: 50 }, () => resolver.resolve(NAME)));
    expect(new Set(answers.map((a) => a.addresses[0]))).toEqual(new Set(["127.0.0.2"]));
    expect(dns.queryCount(NAME)).toBe(1);
  });

  it("answers an IP address without asking DNS", async () => {
    const { dns, resolver } = await setup(1);
    expect(await resolver.resolve("127.0.0.9")).toMatchObject({
      addresses: ["127.0.0.9"],
      source: "literal",
    });
    expect(dns.queryCount()).toBe(0);
  });

  it("rejects DNS server strings that are not IPv4[:port], naming the bad one", () => {
    expect(parseDnsServers(["127.0.0.1:5353", "10.0.0.2"])).toEqual(["127.0.0.1:5353", "10.0.0.2:53"]);
    expect(() => parseDnsServers(["dns.example.com:53"])).toThrow(
      /'dns.example.com:53' is not of the form IPv4\[:port\]/,
    );
    expect(() => parseDnsServers(["127.0.0.1:99999"])).toThrow(/127.0.0.1:99999/);
  });
});
