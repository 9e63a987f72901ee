import { promises as dnsPromises } from "node:dns";
import { afterEach, describe, expect, it } from "vitest";
import { startDnsServer, type TestDnsServer } from "../../peers/dns.js";

const servers: TestDnsServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

function resolverFor(dns: TestDnsServer): dnsPromises.Resolver {
  const resolver = new dnsPromises.Resolver({ timeout: 200, tries: 1 });
  resolver.setServers([dns.server]);
  return resolver;
}

describe("DNS server fixture", () => {
  it("answers A records with their TTL and follows a flip at once", async () => {
    const dns = await startDnsServer({ "iot.example.test": { addresses: ["127.0.0.2"], ttl: 7 } });
    servers.push(dns);
    const resolver = resolverFor(dns);
    expect(await resolver.resolve4("IOT.example.test", { ttl: true })).toEqual([
      { address: "127.0.0.2", ttl: 7 },
    ]);
    dns.setRecord("iot.example.test", ["127.0.0.3", "127.0.0.4"], 3);
    expect(await resolver.resolve4("iot.example.test", { ttl: true })).toEqual([
      { address: "127.0.0.3", ttl: 3 },
      { address: "127.0.0.4", ttl: 3 },
    ]);
    expect(dns.queryCount("iot.example.test")).toBe(2);
  });

  it("answers NXDOMAIN for unknown or removed names", async () => {
    const dns = await startDnsServer({ "gone.example.test": { addresses: ["127.0.0.2"], ttl: 1 } });
    servers.push(dns);
    const resolver = resolverFor(dns);
    await expect(resolver.resolve4("other.example.test")).rejects.toMatchObject({ code: "ENOTFOUND" });
    dns.removeRecord("gone.example.test");
    await expect(resolver.resolve4("gone.example.test")).rejects.toMatchObject({ code: "ENOTFOUND" });
  });

  it("can be made to fail with SERVFAIL or to time out, and to recover", async () => {
    const dns = await startDnsServer({ "iot.example.test": { addresses: ["127.0.0.2"], ttl: 1 } });
    servers.push(dns);
    const resolver = resolverFor(dns);
    dns.setMode("servfail");
    await expect(resolver.resolve4("iot.example.test")).rejects.toMatchObject({ code: "ESERVFAIL" });
    dns.setMode("timeout");
    await expect(resolver.resolve4("iot.example.test")).rejects.toMatchObject({ code: "ETIMEOUT" });
    dns.setMode("answer");
    expect(await resolver.resolve4("iot.example.test")).toEqual(["127.0.0.2"]);
  });

  it("rejects records that are not IPv4 addresses", async () => {
    const dns = await startDnsServer();
    servers.push(dns);
    expect(() => dns.setRecord("iot.example.test", "iot.example.org")).toThrow(/not an IPv4 address/);
  });
});
