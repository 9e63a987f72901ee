import type * as http from "node:http";
import * as net from "node:net";

/** A free TCP port on loopback, chosen by the kernel. */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

/** Closes an HTTP server now: open keep-alive connections are dropped rather than waited for. */
export function closeHttpServer(server: Pick<http.Server, "close" | "closeAllConnections">): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}
