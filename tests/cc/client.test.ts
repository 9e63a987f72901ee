/**
 * C&C callers after fail-over (issue #17, item 1): SigV4 is scoped to one region, so the client
 * learns the serving region from the `_region` TXT failover record and signs for it. Proven against
 * two regional endpoints that verify SigV4 as API Gateway does (the signature recomputed with the
 * caller's secret for the endpoint's own region), a real DNS server (dns2) for the TXT answer, and
 * a fail-over that moves both the route and the TXT answer.
 */
import * as crypto from "node:crypto";
import * as dns from "node:dns";
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import dns2 from "dns2";
import { SignatureV4 } from "@smithy/signature-v4";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCcClient, SERVING_REGION_LABEL } from "../../functions/cc/client.js";
import { createSigV4Signer } from "../../functions/health/aws.js";
import { createNodeTransport, type HttpRequest } from "../../functions/health/http.js";

const CREDENTIALS = { accessKeyId: "AKIDCALLER", secretAccessKey: "caller-secret", sessionToken: "token" };
const PRIMARY = "us-east-1";
const SECONDARY = "us-west-2";
const HOST = "cc.iot.example.test";

const bytes = (d: string | ArrayBuffer | ArrayBufferView): Buffer =>
  typeof d === "string"
    ? Buffer.from(d)
    : ArrayBuffer.isView(d)
      ? Buffer.from(d.buffer, d.byteOffset, d.byteLength)
      : Buffer.from(d);

/** A regional API endpoint: accepts only requests whose SigV4 signature is valid for its own region. */
async function regionalApi(region: string) {
  const seen: { region: string; status: number }[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      void (async () => {
        const auth = String(req.headers.authorization ?? "");
        const scope = /Credential=[^/]+\/(\d{8})\/([a-z0-9-]+)\/execute-api\/aws4_request/.exec(auth);
        const sent = /Signature=([0-9a-f]+)/.exec(auth)?.[1];
        let ok = false;
        if (scope && scope[2] === region && sent) {
          const amzDate = String(req.headers["x-amz-date"]);
          const signedHeaders = /SignedHeaders=([^,]+)/.exec(auth)![1]!.split(";");
          const headers = Object.fromEntries(signedHeaders.map((h) => [h, String(req.headers[h])]));
          const url = new URL(req.url ?? "/", `http://${HOST}`);
          const again = await new SignatureV4({
            service: "execute-api",
            region,
            credentials: CREDENTIALS,
            sha256: class {
              private h: crypto.Hash | crypto.Hmac;
              constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
                this.h =
                  secret === undefined
                    ? crypto.createHash("sha256")
                    : crypto.createHmac("sha256", bytes(secret));
              }
              update(d: string | ArrayBuffer | ArrayBufferView) {
                this.h.update(bytes(d));
              }
              digest() {
                return Promise.resolve(new Uint8Array(this.h.digest()));
              }
            },
          }).sign(
            {
              method: req.method!,
              protocol: "https:",
              hostname: HOST,
              path: url.pathname,
              query: {},
              headers,
              body,
            },
            {
              signingDate: new Date(
                `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
              ),
            },
          );
          ok = /Signature=([0-9a-f]+)/.exec(String(again.headers.authorization))?.[1] === sent;
        }
        const status = ok ? 200 : 403;
        seen.push({ region: scope?.[2] ?? "?", status });
        res.writeHead(status, { "content-type": "application/json" });
        res.end(
          JSON.stringify(
            ok
              ? { ok: true, servedBy: region }
              : { message: "Credential should be scoped to a valid region." },
          ),
        );
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port, seen };
}

let primary: Awaited<ReturnType<typeof regionalApi>>;
let secondary: Awaited<ReturnType<typeof regionalApi>>;
let txtRegion = PRIMARY;
let dnsServer: ReturnType<typeof dns2.createServer>;
let resolver: dns.promises.Resolver;
/** Which region the fail-over record routes to (Route 53's alias answer). */
let serving: "primary" | "secondary" = "primary";

beforeAll(async () => {
  primary = await regionalApi(PRIMARY);
  secondary = await regionalApi(SECONDARY);
  dnsServer = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      const response = dns2.Packet.createResponseFromRequest(request);
      const q = request.questions[0]!;
      if (q.name.toLowerCase() === `${SERVING_REGION_LABEL}.${HOST}` && q.type === dns2.Packet.TYPE.TXT) {
        response.answers.push({
          name: q.name,
          type: dns2.Packet.TYPE.TXT,
          class: dns2.Packet.CLASS.IN,
          ttl: 0,
          data: txtRegion,
        } as (typeof response.answers)[number]);
      } else response.header.rcode = dns2.Packet.RCODE.NXDOMAIN;
      send(response);
    },
  });
  const addr = await dnsServer.listen({ udp: { port: 0, address: "127.0.0.1" } });
  resolver = new dns.promises.Resolver({ timeout: 500, tries: 1 });
  resolver.setServers([`127.0.0.1:${addr.udp!.port}`]);
});
afterAll(async () => {
  await dnsServer?.close();
  await new Promise((r) => primary?.server.close(r));
  await new Promise((r) => secondary?.server.close(r));
});

const node = createNodeTransport({ http, https });
/** The network: `cc.<zone>` reaches whichever region the fail-over record currently answers. */
const transport = (request: HttpRequest) => {
  const url = new URL(request.url);
  const port = serving === "primary" ? primary.port : secondary.port;
  return node({ ...request, url: `http://127.0.0.1:${port}${url.pathname}` });
};
const sign = (request: HttpRequest, region: string) =>
  createSigV4Signer({
    SignatureV4,
    crypto,
    credentials: async () => CREDENTIALS,
    region,
    service: "execute-api",
  })(request);

describe("a C&C caller across a fail-over", () => {
  it("signs for the serving region it reads from DNS, before and after fail-over, retrying once when the answers are apart", async () => {
    serving = "primary";
    txtRegion = PRIMARY;
    const client = createCcClient({
      baseUrl: `https://${HOST}`,
      resolveTxt: (n) => resolver.resolveTxt(n),
      sign,
      transport,
    });
    const before = await client.send("suspend", { thingName: "t1" }, "k-1");
    expect([before.status, before.region, JSON.parse(before.body).servedBy]).toEqual([200, PRIMARY, PRIMARY]);

    // Fail-over: Route 53 now answers the secondary for both records; the client still holds the primary.
    serving = "secondary";
    txtRegion = SECONDARY;
    const after = await client.send("suspend", { thingName: "t2" }, "k-2");
    expect([after.status, after.region, JSON.parse(after.body).servedBy]).toEqual([
      200,
      SECONDARY,
      SECONDARY,
    ]);
    // The secondary refused the primary's signature once, then accepted the one for its own region.
    expect(secondary.seen).toEqual([
      { region: PRIMARY, status: 403 },
      { region: SECONDARY, status: 200 },
    ]);
    expect(client.region()).toBe(SECONDARY);
  });

  it("without the serving region a caller signing for the primary is refused by the secondary (the defect)", async () => {
    serving = "secondary";
    const refused = await transport(
      await sign(
        { method: "POST", url: `https://${HOST}/commands/suspend`, headers: {}, body: "{}" },
        PRIMARY,
      ),
    );
    expect(refused.status).toBe(403);
  });

  it("returns a refusal that is not about the region as it is, without a second attempt", async () => {
    serving = "primary";
    txtRegion = PRIMARY;
    const wrongSecret = (request: HttpRequest, region: string) =>
      createSigV4Signer({
        SignatureV4,
        crypto,
        credentials: async () => ({ ...CREDENTIALS, secretAccessKey: "wrong" }),
        region,
        service: "execute-api",
      })(request);
    const before = primary.seen.length;
    const client = createCcClient({
      baseUrl: `https://${HOST}`,
      resolveTxt: (n) => resolver.resolveTxt(n),
      sign: wrongSecret,
      transport,
    });
    expect((await client.send("resume", {}, "k-3")).status).toBe(403);
    expect(primary.seen.length - before).toBe(1);
  });

  it("names the TXT record when the serving region cannot be learned", async () => {
    const client = createCcClient({
      baseUrl: "https://cc.other.example.test",
      resolveTxt: (n) => resolver.resolveTxt(n),
      sign,
      transport,
    });
    await expect(client.send("suspend", {}, "k-4")).rejects.toThrow(
      /TXT _region\.cc\.other\.example\.test did not resolve.*deploy the global stack/,
    );
  });
});
