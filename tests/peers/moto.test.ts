import { describe, expect, it } from "vitest";
import { IoTClient, CreateThingCommand, ListThingsCommand } from "@aws-sdk/client-iot";
import { inAccount, startMoto } from "../../peers/moto.js";
import { useMoto } from "../support/useMoto.js";

describe("moto fixture", () => {
  const moto = useMoto({ resetBeforeEach: false });

  it("serves IoT in separate regions and accounts, and forgets everything on reset", async () => {
    const east = new IoTClient(moto.clientConfig("us-east-1"));
    const west = new IoTClient(moto.clientConfig("us-west-2"));
    const otherAccount = inAccount(new IoTClient(moto.clientConfig("us-east-1")), "210987654321");
    await east.send(new CreateThingCommand({ thingName: "sensor-1" }));
    const names = async (c: IoTClient) =>
      ((await c.send(new ListThingsCommand({}))).things ?? []).map((t) => t.thingName);
    expect(await names(east)).toEqual(["sensor-1"]);
    expect(await names(west)).toEqual([]);
    expect(await names(otherAccount)).toEqual([]);
    await moto.reset();
    expect(await names(east)).toEqual([]);
  });

  it("is stopped by PID and leaves the port closed", async () => {
    const extra = await startMoto();
    await extra.stop();
    expect(() => process.kill(extra.pid, 0)).toThrow();
    await expect(fetch(`${extra.endpoint}/moto-api/data.json`)).rejects.toThrow();
  });

  it("fails with the install hint when moto_server is missing", async () => {
    const saved = process.env.PATH;
    process.env.PATH = "/nonexistent";
    try {
      await expect(startMoto()).rejects.toThrow("python3 -m pip install 'moto[server]'");
    } finally {
      process.env.PATH = saved;
    }
  });
});
