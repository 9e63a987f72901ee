/**
 * One account's IoT quotas in front of moto, shared by every worker process of a bench: an HTTP
 * proxy on loopback that forwards each IoT request to moto unless the API already took its quota
 * in the last second, and then answers as IoT does (HTTP 400, `x-amzn-ErrorType:
 * ThrottlingException`, which the SDK raises as ThrottlingException). The API of a request is named
 * by the worker's SDK client in a header (`withApiHeader`): the emulator stands in for the service,
 * which knows the operation it serves.
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export const API_HEADER = "x-iot-dr-bench-api";
/**
 * Set by a bench worker where its SDK client hands a request to the HTTP handler: "<sender> <epoch
 * ms>", so the emulator can count each sender's arrivals and how long a request took to reach it.
 */
export const SENT_HEADER = "x-iot-dr-bench-sent";

export interface EmulatedApiCounter {
  ok: number;
  throttled: number;
  /** performance.now() of the first and last accepted call. */
  first: number;
  last: number;
  /** performance.now() of every accepted and every throttled call. */
  acceptedAt: number[];
  throttledAt: number[];
  /** Epoch ms of every arrival (accepted or throttled) by sender, for requests that named one. */
  arrivalsBySender: Map<string, number[]>;
  /** Milliseconds from the sender's handler to this emulator's handler, per request that named it. */
  wireLagMs: number[];
}

export interface QuotaEmulator {
  /** http://127.0.0.1:port, the IoT endpoint for workers. */
  endpoint: string;
  counters: Map<string, EmulatedApiCounter>;
  /** Quota of an API in calls per sliding second (Infinity: unlimited). */
  setQuota(quotaOf: (api: string) => number): void;
  close(): Promise<void>;
}

/** Adds the API header to every request of an SDK v3 client. */
export function withApiHeader(client: {
  middlewareStack: {
    add: (
      mw: (next: (a: unknown) => Promise<unknown>, ctx: unknown) => (a: unknown) => Promise<unknown>,
      o: { step: "build"; name: string },
    ) => void;
  };
}): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const api = ((context as { commandName?: string }).commandName ?? "").replace(/Command$/, "");
      const req = (args as { request?: { headers?: Record<string, string> } }).request;
      if (req?.headers) req.headers[API_HEADER] = api;
      return next(args);
    },
    { step: "build", name: "benchApiHeader" },
  );
}

export async function startQuotaEmulator(target: string): Promise<QuotaEmulator> {
  const upstream = new URL(target);
  const counters = new Map<string, EmulatedApiCounter>();
  const windows = new Map<string, number[]>();
  let quotaOf: (api: string) => number = () => Number.POSITIVE_INFINITY;

  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const out = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (up) => {
        // moto answers `Connection: close`; IoT keeps a client's HTTPS connection open. Passed on,
        // it made every request of a worker open a new connection to the emulator, whose accept
        // and parse then moved the time it counted a request by up to ~100 ms on a loaded machine.
        const { connection: _connection, "keep-alive": _keepAlive, ...headers } = up.headers;
        res.writeHead(up.statusCode ?? 500, headers);
        up.pipe(res);
      },
    );
    out.on("error", (err) => {
      res.writeHead(502, { "content-type": "text/plain" });
      res.end(`quota emulator: upstream failed: ${err.message}`);
    });
    req.pipe(out);
  };

  const server = createServer((req, res) => {
    const api = String(req.headers[API_HEADER] ?? "unknown");
    let c = counters.get(api);
    if (!c)
      counters.set(
        api,
        (c = {
          ok: 0,
          throttled: 0,
          first: 0,
          last: 0,
          acceptedAt: [],
          throttledAt: [],
          arrivalsBySender: new Map(),
          wireLagMs: [],
        }),
      );
    const sent = String(req.headers[SENT_HEADER] ?? "").split(" ");
    if (sent.length === 2) {
      const at = performance.timeOrigin + performance.now();
      const bySender = c.arrivalsBySender.get(sent[0]) ?? [];
      c.arrivalsBySender.set(sent[0], bySender);
      bySender.push(at);
      c.wireLagMs.push(at - Number(sent[1]));
    }
    let w = windows.get(api);
    if (!w) windows.set(api, (w = []));
    const now = performance.now();
    while (w.length > 0 && now - w[0] >= 1000) w.shift();
    if (w.length >= quotaOf(api)) {
      c.throttled++;
      c.throttledAt.push(now);
      req.resume();
      res.writeHead(400, { "content-type": "application/json", "x-amzn-ErrorType": "ThrottlingException" });
      res.end(JSON.stringify({ message: "Rate exceeded" }));
      return;
    }
    w.push(now);
    c.ok++;
    if (c.first === 0) c.first = now;
    c.last = now;
    c.acceptedAt.push(now);
    forward(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    counters,
    setQuota: (f) => {
      quotaOf = f;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
