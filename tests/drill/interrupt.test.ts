/**
 * Ctrl-C in the middle of a drill: a child `iot-dr drill` (through bin/iot-dr.cjs, as an operator
 * runs it) gets SIGINT once its peers run; it must exit 130 and leave no process and no port
 * behind, checked against the inventory it printed on stderr.
 */
import { spawn } from "node:child_process";
import * as dgram from "node:dgram";
import * as net from "node:net";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import type { PeerInventory } from "../../drill/peers.js";
import { alive } from "../support/process.js";

const ROOT = path.resolve(__dirname, "..", "..");

const tcpRefused = (target: string) =>
  new Promise<boolean>((resolve) => {
    const [host, port] = target.split(":");
    const socket = net.connect({ host, port: Number(port) });
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(true));
  });

const udpFree = (target: string) =>
  new Promise<boolean>((resolve) => {
    const [host, port] = target.split(":");
    const socket = dgram.createSocket("udp4");
    socket.once("error", () => resolve(false));
    socket.bind(Number(port), host, () => socket.close(() => resolve(true)));
  });

describe("interrupting a drill", () => {
  it("SIGINT mid-run stops every peer it started: exit 130, no process, no port left", async () => {
    const child = spawn(
      process.execPath,
      [path.join(ROOT, "bin", "iot-dr.cjs"), "drill", "--devices", "4", "--registry-devices", "2"],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    let inventory: PeerInventory | undefined;
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    const interrupted = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the drill never reached its registry workload:\n${stderr}`)),
        150_000,
      );
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
        const line = /^drill peers (.*)$/m.exec(stderr);
        if (line && !inventory) inventory = JSON.parse(line[1]!) as PeerInventory;
        // Mid-run: peers, moto tables, brokers, health servers and the replication loop all running.
        if (inventory && stderr.includes("registry workload")) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    try {
      await interrupted;
      expect(inventory!.pids.every(alive)).toBe(true);
      child.kill("SIGINT");
      const code = await exited;
      expect(code).toBe(130);
      expect(stderr).toContain("SIGINT: stopping everything the drill started");
      expect(stderr).toContain("interrupted; nothing it started is left running");
      expect(inventory!.pids.filter(alive)).toEqual([]);
      for (const target of inventory!.tcp) expect(await tcpRefused(target)).toBe(true);
      for (const target of inventory!.udp) expect(await udpFree(target)).toBe(true);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      for (const pid of inventory?.pids ?? []) if (alive(pid)) process.kill(pid, "SIGKILL");
    }
  }, 240_000);
});
