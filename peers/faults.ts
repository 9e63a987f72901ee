/**
 * A fault-injecting loopback peer in front of an AWS endpoint (moto in tests, drills and benches):
 * every request passes through to the upstream until a fault is set, then meets it. The faults are
 * how a half-dead region looks from a client:
 * - `refuse`: nothing listens on the port (connection refused);
 * - `blackhole`: the connection is accepted and the request never answered;
 * - `slow`: the upstream's answer, but the headers only after `slowMs` and the body one byte per
 *   `dripMs` (defeats an idle-socket timeout, not a request deadline);
 * - `reset`: the upstream's status, headers and half the body, then a TCP reset;
 * - `throttle`: 400 `ThrottlingException` in the shape every AWS JSON protocol parses (header
 *   `x-amzn-ErrorType` and body `__type`).
 * `after` lets that many requests through first, so a fault can hit work in flight (`refuse`
 * applies at once: it closes the port).
 */
import * as http from "node:http";
import type { AddressInfo, Socket } from "node:net";

export type Fault = "pass" | "refuse" | "blackhole" | "slow" | "reset" | "throttle";
export const FAULTS: readonly Exclude<Fault, "pass">[] = ["refuse", "blackhole", "slow", "reset", "throttle"];

export interface FaultOptions {
  /** Requests that still pass before the fault applies; default 0. */
  after?: number;
  /** `slow`: delay before the headers, ms; default 2000. */
  slowMs?: number;
  /** `slow`: delay between body bytes, ms; default 200. */
  dripMs?: number;
}

export interface FaultPeer {
  /** e.g. http://127.0.0.1:40123: what AWS_ENDPOINT_URL points at. */
  readonly endpoint: string;
  readonly port: number;
  /** Requests seen (passed or faulted). */
  readonly requests: number;
  /** Requests the fault applied to. */
  readonly faulted: number;
  /** When the fault first applied (Date.now()), for measuring a client's time to give up. */
  readonly firstFaultAt: number | undefined;
  /** Sets the fault for the following requests (resets the `after` count). */
  set(fault: Fault, options?: FaultOptions): Promise<void>;
  stop(): Promise<void>;
}

const THROTTLE_BODY = JSON.stringify({ __type: "ThrottlingException", message: "Rate exceeded" });

/** Starts a peer on a free loopback port that forwards to `upstream` (e.g. moto's endpoint). */
export async function startFaultPeer(upstream: string): Promise<FaultPeer> {
  const target = new URL(upstream);
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let fault: Fault = "pass";
  let options: FaultOptions = {};
  let seen = 0;
  let faulted = 0;
  let passedSinceSet = 0;
  let firstFaultAt: number | undefined;

  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  const forward = (
    req: http.IncomingMessage,
    onResponse: (res: http.IncomingMessage, body: Buffer) => void,
    onError: (err: Error) => void,
  ) => {
    const out = http.request(
      {
        hostname: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => onResponse(res, Buffer.concat(chunks)));
        res.on("error", onError);
      },
    );
    out.on("error", onError);
    req.pipe(out);
  };

  const server = http.createServer((req, res) => {
    seen++;
    const mode = fault !== "pass" && passedSinceSet >= (options.after ?? 0) ? fault : "pass";
    if (mode === "pass") passedSinceSet++;
    else {
      faulted++;
      firstFaultAt ??= Date.now();
    }
    const fail = (err: Error) => {
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
      res.end(`fault peer: upstream failed: ${err.message}`);
    };
    switch (mode) {
      case "blackhole":
        req.resume(); // read the request, never answer
        return;
      case "throttle":
        req.resume();
        req.on("end", () => {
          res.writeHead(400, {
            "content-type": "application/x-amz-json-1.0",
            "x-amzn-errortype": "ThrottlingException",
            "x-amzn-requestid": `fault-${seen}`,
          });
          res.end(THROTTLE_BODY);
        });
        return;
      case "reset":
        forward(
          req,
          (up, body) => {
            res.writeHead(up.statusCode ?? 200, { ...up.headers, "content-length": String(body.length) });
            res.write(body.subarray(0, Math.floor(body.length / 2)));
            // Flushed, then a TCP RST instead of the rest.
            later(20, () => req.socket.resetAndDestroy());
          },
          fail,
        );
        return;
      case "slow":
        forward(
          req,
          (up, body) =>
            later(options.slowMs ?? 2000, () => {
              if (res.destroyed) return;
              res.writeHead(up.statusCode ?? 200, {
                ...up.headers,
                "content-length": String(body.length),
              });
              let i = 0;
              const drip = () => {
                if (res.destroyed) return;
                if (i >= body.length) return void res.end();
                res.write(body.subarray(i, i + 1));
                i++;
                later(options.dripMs ?? 200, drip);
              };
              drip();
            }),
          fail,
        );
        return;
      default:
        forward(
          req,
          (up, body) => {
            res.writeHead(up.statusCode ?? 200, { ...up.headers, "content-length": String(body.length) });
            res.end(body);
          },
          fail,
        );
    }
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.keepAliveTimeout = 1000;

  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve((server.address() as AddressInfo).port);
      });
    });
  const close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });

  const port = await listen(0);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    get requests() {
      return seen;
    },
    get faulted() {
      return faulted;
    },
    get firstFaultAt() {
      return firstFaultAt;
    },
    async set(next, opts = {}) {
      if (next === "refuse") await close();
      else if (!server.listening) await listen(port);
      fault = next;
      options = opts;
      passedSinceSet = 0;
      firstFaultAt = undefined;
    },
    async stop() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await close();
    },
  };
}
