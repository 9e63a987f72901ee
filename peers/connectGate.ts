/**
 * IoT Core's connect quota in front of a local broker: a TCP gate that admits new connections at
 * most at a token bucket's rate (IoT Core: 500 connects per second per account and region by
 * default, DESIGN.md §7) and forwards admitted ones to the broker. A throttled connect is refused
 * as IoT Core refuses an MQTT 3.1.1 connect: the CONNECT is read and the connection closed without
 * a CONNACK, so the client sees "connection closed before CONNACK" and backs off. Without it the
 * local broker accepts a reconnect storm faster than IoT Core would, and the drill's RTO comes out
 * below the model's floor. Used by the local drill, never by deployed code.
 *
 *   const gate = await startConnectGate({ host: "127.0.0.2", port, target: { host: "127.0.0.2", port: brokerPort },
 *     bucket: tokenBucket({ ratePerSecond: 500 }) });
 *   gate.counts; // { admitted, refused }
 *   await gate.kill(); // every connection reset, new connects refused (as a dead broker)
 */
import * as net from "node:net";

export interface TokenBucket {
  /** Takes one token if there is one; returns whether it did. */
  take(now?: number): boolean;
  readonly ratePerSecond: number;
  readonly burst: number;
}

/**
 * Tokens refill continuously at `ratePerSecond` up to `burst`. The default burst is a tenth of a
 * second's worth: AWS publishes no burst for the connect quota, and the drill's RTO model paces a
 * reconnecting fleet at the plain rate, so the stand-in allows no more than that.
 */
export function tokenBucket(options: {
  ratePerSecond: number;
  burst?: number;
  now?: () => number;
}): TokenBucket {
  const { ratePerSecond } = options;
  if (!(ratePerSecond > 0)) throw new RangeError(`ratePerSecond must be > 0, got ${ratePerSecond}`);
  const burst = options.burst ?? Math.max(1, Math.round(ratePerSecond / 10));
  if (!(burst >= 1)) throw new RangeError(`burst must be >= 1, got ${burst}`);
  const clock = options.now ?? Date.now;
  let tokens = burst;
  let last = clock();
  return {
    ratePerSecond,
    burst,
    take(now = clock()) {
      tokens = Math.min(burst, tokens + ((now - last) / 1000) * ratePerSecond);
      last = now;
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    },
  };
}

export interface ConnectGateOptions {
  host: string;
  port: number;
  /** The broker behind the gate. */
  target: { host: string; port: number };
  /** Shared by every gate of one account and region (it outlives a broker restart). */
  bucket: TokenBucket;
}

export interface ConnectGate {
  readonly host: string;
  readonly port: number;
  /** Connections admitted to the broker and refused by the quota, since the gate started. */
  readonly counts: { admitted: number; refused: number };
  /** A crash: every connection is reset and the listener closes, so new connects are refused. */
  kill(): Promise<void>;
  /** Stops listening and closes every connection; safe after kill(). */
  stop(): Promise<void>;
}

export async function startConnectGate(options: ConnectGateOptions): Promise<ConnectGate> {
  const sockets = new Set<net.Socket>();
  const counts = { admitted: 0, refused: 0 };
  const server = net.createServer({ noDelay: true }, (client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => undefined);
    // The quota counts CONNECT requests: decide on the client's first bytes.
    client.once("data", (first) => {
      if (!options.bucket.take()) {
        counts.refused++;
        client.destroy();
        return;
      }
      counts.admitted++;
      client.pause();
      const broker = net.connect({ ...options.target, noDelay: true }, () => {
        broker.write(first);
        client.pipe(broker);
        broker.pipe(client);
        client.resume();
      });
      sockets.add(broker);
      broker.on("close", () => {
        sockets.delete(broker);
        client.destroy();
      });
      broker.on("error", () => undefined);
      client.on("close", () => broker.destroy());
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: options.host, port: options.port }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.resetAndDestroy();
    }));
  return { host: options.host, port: options.port, counts, kill: close, stop: close };
}
