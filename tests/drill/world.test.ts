/**
 * The drill world's capture path under failure: a registry event whose capture fails is tried
 * again as Lambda retries an asynchronous invocation, dead-lettered after the third try, and
 * captured by the redrive; never dropped.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CAPTURE_ATTEMPTS, DrillWorld, DEVICE_TYPE } from "../../drill/world.js";
import { getRecord } from "../../functions/registry/table.js";
import { startMoto, type MotoServer } from "../../peers/moto.js";

const PRIMARY = "us-east-1";
const SECONDARY = "us-west-2";

describe("the drill world's capture retries", () => {
  let moto: MotoServer;
  beforeAll(async () => {
    moto = await startMoto();
  });
  afterAll(async () => {
    await moto?.stop();
  });

  async function worldWithFailingTable(failures: number) {
    await moto.reset();
    const errors: string[] = [];
    const world = await DrillWorld.create(moto, {
      regions: [PRIMARY, SECONDARY],
      apiRate: 50,
      onError: (where) => errors.push(where),
    });
    const table = world.regions[PRIMARY]!.table;
    const get = table.get.bind(table);
    let left = failures;
    table.get = async (pk) => {
      if (left > 0) {
        left--;
        throw new Error("ops table unavailable");
      }
      return get(pk);
    };
    const thingType = () => getRecord(world.regions[PRIMARY]!.table, `thingType#${DEVICE_TYPE}`);
    return { world, errors, thingType, heal: () => (left = 0) };
  }

  it("captures an event on a later round after failed tries, without dead-lettering it", async () => {
    const { world, errors, thingType } = await worldWithFailingTable(CAPTURE_ATTEMPTS - 1);
    await world.regions[PRIMARY]!.iot.createThingType({
      name: DEVICE_TYPE,
      searchableAttributes: [],
      deprecated: false,
    });
    for (let i = 0; i < CAPTURE_ATTEMPTS; i++) await world.round();
    expect(await thingType()).not.toBeNull();
    expect(world.captureRetriesPending).toBe(0);
    expect(world.captureDeadLetters.get(PRIMARY) ?? []).toEqual([]);
    expect(errors).toEqual([]);
  });

  it("dead-letters an event after the third failed try and captures it on redrive", async () => {
    const { world, errors, thingType, heal } = await worldWithFailingTable(1_000);
    await world.regions[PRIMARY]!.iot.createThingType({
      name: DEVICE_TYPE,
      searchableAttributes: [],
      deprecated: false,
    });
    for (let i = 0; i < CAPTURE_ATTEMPTS + 1; i++) await world.round();
    const dead = world.captureDeadLetters.get(PRIMARY)!;
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ attempts: CAPTURE_ATTEMPTS, error: "ops table unavailable" });
    expect(errors).toEqual([`capture in ${PRIMARY} (dead-lettered after ${CAPTURE_ATTEMPTS} tries)`]);
    heal();
    expect(await world.redriveCapture()).toBe(1);
    expect(world.captureDeadLetters.get(PRIMARY)).toEqual([]);
    expect(await thingType()).not.toBeNull();
  });

  it("keeps the events of a region that is down until it is back", async () => {
    const { world, thingType } = await worldWithFailingTable(0);
    await world.regions[PRIMARY]!.iot.createThingType({
      name: DEVICE_TYPE,
      searchableAttributes: [],
      deprecated: false,
    });
    world.regions[PRIMARY]!.down = true;
    await world.round();
    world.regions[PRIMARY]!.down = false;
    expect(await thingType()).toBeNull();
    await world.round();
    expect(await thingType()).not.toBeNull();
  });
});
