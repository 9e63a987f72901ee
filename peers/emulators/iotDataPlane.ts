/**
 * Emulates IoT Core's data-plane HTTPS Publish for one region (`POST /topics/<topic>?qos=1
 * [&retain=true]`, SigV4 for service `iotdata`) in front of a real MQTT broker: what AWS does inside
 * the service between the notifier's request and the devices' subscriptions. moto has no IoT data
 * plane; tests and the local drill use this, deployed code never does.
 *
 * Not kinder than AWS: plain HTTP is refused (TLS only, a self-signed certificate the caller must
 * trust through NODE_EXTRA_CA_CERTS), an unsigned request or a signature scoped to another region
 * or service gets 403, a qos other than 0/1 gets 400. The signature itself is not verified (the
 * emulator does not know the assumed role's secret).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestBroker } from "../mqtt.js";
import { closeHttpServer } from "../ports.js";

export interface DataPlanePublish {
  topic: string;
  payload: string;
  qos: 0 | 1;
  retain: boolean;
  /** The access key the request was signed with. */
  accessKeyId: string;
  sessionToken?: string;
}

/** Closes one client's connection by id; false when no client with that id is connected. */
export type BrokerDisconnect = (
  clientId: string,
  options: { cleanSession: boolean; preventWillMessage: boolean },
) => Promise<boolean>;

export interface DataPlaneDisconnect {
  clientId: string;
  cleanSession: boolean;
  preventWillMessage: boolean;
  at: number;
  found: boolean;
}

export interface IotDataPlane {
  /** The bare host:port, as the stacks export `iotDataEndpoint` (no scheme). */
  readonly endpoint: string;
  /** Every accepted publish, in order. */
  readonly published: DataPlanePublish[];
  /** Every DeleteConnection answered, in order. */
  readonly disconnects: DataPlaneDisconnect[];
  /** Answers every request with 503 from now on (the region's data plane is down), or again normally. */
  setDown(down: boolean): void;
  stop(): Promise<void>;
}

export interface TlsMaterial {
  /** PEM file of the self-signed certificate: give it to clients as NODE_EXTRA_CA_CERTS. */
  caFile: string;
  key: string;
  cert: string;
  dispose(): void;
}

/** A self-signed certificate for 127.0.0.1 (openssl, one per test file). */
export function loopbackTls(): TlsMaterial {
  const dir = mkdtempSync(path.join(tmpdir(), "iot-dr-dataplane-"));
  const keyFile = path.join(dir, "key.pem");
  const certFile = path.join(dir, "cert.pem");
  const out = spawnSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-keyout",
      keyFile,
      "-out",
      certFile,
    ],
    { encoding: "utf8" },
  );
  if (out.status !== 0) throw new Error(`openssl could not make a test certificate: ${out.stderr}`);
  return {
    caFile: certFile,
    key: readFileSync(keyFile, "utf8"),
    cert: readFileSync(certFile, "utf8"),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Publishes one message into the region's broker (`retain` kept as given). */
export type BrokerPublish = (topic: string, payload: string, qos: 0 | 1, retain: boolean) => Promise<void>;

export async function startIotDataPlane(options: {
  region: string;
  tls: TlsMaterial;
  publish: BrokerPublish;
  /** DeleteConnection; absent: 404 for every client. */
  disconnect?: BrokerDisconnect;
}): Promise<IotDataPlane> {
  const published: DataPlanePublish[] = [];
  const disconnects: DataPlaneDisconnect[] = [];
  let down = false;
  const server = https.createServer({ key: options.tls.key, cert: options.tls.cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const answer = (status: number, body: Record<string, unknown>) =>
        res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
      if (down) return answer(503, { message: "Service Unavailable" });
      const url = new URL(req.url ?? "/", "https://dataplane");
      const auth = String(req.headers.authorization ?? "");
      const scope = /Credential=([^/]+)\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/.exec(auth);
      if (!scope) return answer(403, { message: "Missing Authentication Token" });
      if (scope[2] !== options.region || scope[3] !== "iotdata")
        return answer(403, {
          message: `Credential should be scoped to a valid region and service iotdata in ${options.region}`,
        });
      const connection = /^\/connections\/([^/]+)$/.exec(url.pathname);
      if (req.method === "DELETE" && connection) {
        const clientId = decodeURIComponent(connection[1]!);
        const flags = {
          cleanSession: url.searchParams.get("cleanSession") === "true",
          preventWillMessage: url.searchParams.get("preventWillMessage") === "true",
        };
        (options.disconnect ? options.disconnect(clientId, flags) : Promise.resolve(false)).then(
          (found) => {
            disconnects.push({ clientId, ...flags, at: Date.now(), found });
            if (found) answer(200, {});
            else answer(404, { message: `No connection found for client ${clientId}` });
          },
          (err: Error) => answer(500, { message: err.message }),
        );
        return;
      }
      const match = /^\/topics\/(.+)$/.exec(url.pathname);
      if (req.method !== "POST" || !match) return answer(404, { message: "Not Found" });
      const qos = Number(url.searchParams.get("qos") ?? "0");
      if (qos !== 0 && qos !== 1) return answer(400, { message: "qos must be 0 or 1" });
      const retain = url.searchParams.get("retain") === "true";
      const topic = decodeURIComponent(match[1]!);
      const payload = Buffer.concat(chunks).toString("utf8");
      const token = req.headers["x-amz-security-token"];
      options.publish(topic, payload, qos as 0 | 1, retain).then(
        () => {
          published.push({
            topic,
            payload,
            qos: qos as 0 | 1,
            retain,
            accessKeyId: scope[1]!,
            ...(typeof token === "string" ? { sessionToken: token } : {}),
          });
          answer(200, {});
        },
        (err: Error) => answer(500, { message: err.message }),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0 }, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `127.0.0.1:${port}`,
    published,
    disconnects,
    setDown: (value) => {
      down = value;
    },
    stop: () => closeHttpServer(server),
  };
}

/**
 * The data plane of a region whose broker is a local one (peers/mqtt.ts): publishes go into it, and
 * DeleteConnection closes the client's connection there.
 */
export function startBrokerDataPlane(
  region: string,
  tls: TlsMaterial,
  broker: TestBroker,
): Promise<IotDataPlane> {
  return startIotDataPlane({
    region,
    tls,
    publish: (topic, payload, qos, retain) => broker.publish(topic, payload, { qos, retain }),
    disconnect: async (clientId) => broker.closeClient(clientId),
  });
}
