/**
 * Test fixture: an authoritative DNS server (dns2, UDP) on a loopback port whose A records a test
 * can flip, and that can be made to fail.
 *
 *   const dns = await startDnsServer({ "iot.example.test": { addresses: ["127.0.0.2"], ttl: 5 } });
 *   dns.server;                                         // "127.0.0.1:PORT", for a resolver's server list
 *   dns.setRecord("iot.example.test", ["127.0.0.3"], 5); // flip (what Route 53 fail-over does)
 *   dns.setMode("timeout");                              // drop every query; also "servfail", "answer"
 *   dns.queryCount("iot.example.test");                  // queries seen for a name
 *   await dns.stop();
 *
 * Names are case-insensitive; a name without a record gets NXDOMAIN.
 */
import dns2 from "dns2";
import net from "node:net";

const { Packet } = dns2;

export interface ARecord {
  /** IPv4 addresses answered, in order. */
  addresses: string[];
  /** TTL in seconds put on every answer. */
  ttl: number;
}

/** How the server treats queries: answer them, answer SERVFAIL, or drop them (the client times out). */
export type DnsMode = "answer" | "servfail" | "timeout";

export interface TestDnsServer {
  readonly host: string;
  readonly port: number;
  /** `host:port`, the form resolvers take (`Resolver.setServers`, `--dns`). */
  readonly server: string;
  /** Sets (or replaces) the A record of a name. */
  setRecord(name: string, addresses: string | string[], ttl?: number): void;
  /** Sets (or replaces) a name as a CNAME to `target` (what a Route 53 fail-over CNAME record answers). */
  setCname(name: string, target: string, ttl?: number): void;
  /** Removes a name: it answers NXDOMAIN from now on. */
  removeRecord(name: string): void;
  setMode(mode: DnsMode): void;
  /** Queries received for a name (any type), or for all names when no name is given. */
  queryCount(name?: string): number;
  stop(): Promise<void>;
}

const normalize = (name: string) => name.toLowerCase().replace(/\.$/, "");

function checkRecord(name: string, addresses: string[], ttl: number): void {
  const bad = addresses.filter((a) => !net.isIPv4(a));
  if (bad.length > 0) throw new Error(`record ${name}: ${bad.join(", ")} is not an IPv4 address`);
  if (!Number.isInteger(ttl) || ttl < 0)
    throw new Error(`record ${name}: ttl ${ttl} must be an integer >= 0`);
}

/** Starts the server on 127.0.0.1 (or another loopback address) and a free UDP port. */
export async function startDnsServer(
  records: Record<string, ARecord> = {},
  options: { host?: string } = {},
): Promise<TestDnsServer> {
  const host = options.host ?? "127.0.0.1";
  if (!(net.isIPv4(host) && host.startsWith("127."))) {
    throw new Error(`dns host '${host}' is not an IPv4 loopback address; use one in 127.0.0.0/8`);
  }
  const zone = new Map<string, ARecord>();
  const cnames = new Map<string, { target: string; ttl: number }>();
  const counts = new Map<string, number>();
  let mode: DnsMode = "answer";

  const setRecord = (name: string, addresses: string | string[], ttl = 60) => {
    const list = typeof addresses === "string" ? [addresses] : [...addresses];
    checkRecord(name, list, ttl);
    cnames.delete(normalize(name));
    zone.set(normalize(name), { addresses: list, ttl });
  };
  for (const [name, record] of Object.entries(records)) setRecord(name, record.addresses, record.ttl);

  const server = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      const question = request.questions[0];
      const name = question ? normalize(question.name) : "";
      counts.set(name, (counts.get(name) ?? 0) + 1);
      if (mode === "timeout") return;
      const response = Packet.createResponseFromRequest(request);
      if (mode === "servfail") {
        response.header.rcode = Packet.RCODE.SERVFAIL;
        return send(response);
      }
      const cname = cnames.get(name);
      if (cname) {
        response.header.aa = 1;
        response.answers.push({
          name: question.name,
          type: Packet.TYPE.CNAME,
          class: Packet.CLASS.IN,
          ttl: cname.ttl,
          domain: cname.target,
        } as (typeof response.answers)[number]);
        return send(response);
      }
      const record = zone.get(name);
      if (!record) {
        response.header.rcode = Packet.RCODE.NXDOMAIN;
        return send(response);
      }
      response.header.aa = 1;
      if (question.type === Packet.TYPE.A || question.type === Packet.TYPE.ANY) {
        for (const address of record.addresses) {
          response.answers.push({
            name: question.name,
            type: Packet.TYPE.A,
            class: Packet.CLASS.IN,
            ttl: record.ttl,
            address,
            // dns2's typings demand toBuffer on answers; the encoder only needs the plain fields
          } as (typeof response.answers)[number]);
        }
      }
      send(response);
    },
  });
  const addresses = await server.listen({ udp: { port: 0, address: host } });
  const port = addresses.udp!.port;
  let stopped = false;

  return {
    host,
    port,
    server: `${host}:${port}`,
    setRecord,
    setCname: (name, target, ttl = 60) => {
      zone.delete(normalize(name));
      cnames.set(normalize(name), { target, ttl });
    },
    removeRecord: (name) => {
      zone.delete(normalize(name));
      cnames.delete(normalize(name));
    },
    setMode: (next) => {
      mode = next;
    },
    queryCount: (name) =>
      name === undefined
        ? [...counts.values()].reduce((a, b) => a + b, 0)
        : (counts.get(normalize(name)) ?? 0),
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.close();
    },
  };
}
