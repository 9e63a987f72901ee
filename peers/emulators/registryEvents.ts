/**
 * Emulates what AWS IoT does inside the service when registry events are enabled: every successful
 * registry operation sent through an observed IoTClient yields the event messages IoT Core would
 * publish on `$aws/events/...` (topic + payload in the documented AWS format). moto publishes no
 * events, so tests and the local drill use this; deployed code never does.
 *
 * Timestamps are strictly increasing per emulator (IoT's are milliseconds; two changes to one
 * resource in the same millisecond are not modelled). Event ids are random hex.
 */
import {
  DescribeThingCommand,
  DescribeThingGroupCommand,
  DescribeThingTypeCommand,
  type IoTClient,
} from "@aws-sdk/client-iot";
import type { RegistryEventMessage } from "../../functions/replication/capture.js";
import { newEventId } from "../../functions/shared/ids.js";
import { observed, type Observed } from "./observed.js";

export interface RegistryEventEmulator extends Observed<RegistryEventMessage> {
  /** Every message published so far, in publication order. */
  readonly messages: RegistryEventMessage[];
}

export interface EmulatorOptions {
  /** A client of the same region and account that is not observed, for the reads IoT does internally. */
  reader: IoTClient;
  accountId?: string;
  /** Milliseconds since the epoch; default Date.now. */
  clock?: () => number;
  random?: () => number;
}

type Json = Record<string, unknown>;
type Operation = "CREATED" | "UPDATED" | "DELETED";
/** The `eventType` of each resource kind's own events. */
const OWN_EVENT_TYPES = {
  thing: "THING_EVENT",
  thingType: "THING_TYPE_EVENT",
  thingGroup: "THING_GROUP_EVENT",
} as const;

let emulatorSeq = 0;

/** Observes `client`: each successful registry operation sent through it publishes its events. */
export function emitRegistryEvents(client: IoTClient, options: EmulatorOptions): RegistryEventEmulator {
  const accountId = options.accountId ?? "123456789012";
  const clock = options.clock ?? Date.now;
  const random = options.random ?? Math.random;
  const reader = options.reader;
  const messages: RegistryEventMessage[] = [];
  let last = 0;
  const name = `registryEvents${++emulatorSeq}`;

  const eventId = () => newEventId(random);
  const stamp = () => {
    last = Math.max(clock(), last + 1);
    return last;
  };
  const publish = (topic: string, eventType: string, operation: string, body: Json) => {
    messages.push({
      topic,
      payload: { eventType, eventId: eventId(), timestamp: stamp(), operation, accountId, ...body },
    });
  };
  /** A resource's own event: `$aws/events/<kind>/<name>/created|updated|deleted`. */
  const ownEvent = (kind: keyof typeof OWN_EVENT_TYPES, name: string, operation: Operation, body: Json) =>
    publish(`$aws/events/${kind}/${name}/${operation.toLowerCase()}`, OWN_EVENT_TYPES[kind], operation, body);
  const quiet = async <T>(p: Promise<T>): Promise<T | undefined> => {
    try {
      return await p;
    } catch {
      return undefined;
    }
  };
  const thing = (thingName: string) => quiet(reader.send(new DescribeThingCommand({ thingName })));
  const group = (thingGroupName: string) =>
    quiet(reader.send(new DescribeThingGroupCommand({ thingGroupName })));
  const type = (thingTypeName: string) => quiet(reader.send(new DescribeThingTypeCommand({ thingTypeName })));

  const thingBody = (t: NonNullable<Awaited<ReturnType<typeof thing>>>) => ({
    thingId: t.thingId,
    thingName: t.thingName,
    versionNumber: t.version ?? 1,
    thingTypeName: t.thingTypeName ?? null,
    attributes: t.attributes ?? {},
  });
  const typeBody = (t: NonNullable<Awaited<ReturnType<typeof type>>>) => ({
    thingTypeId: t.thingTypeId,
    thingTypeName: t.thingTypeName,
    isDeprecated: t.thingTypeMetadata?.deprecated === true,
    deprecationDate: t.thingTypeMetadata?.deprecationDate?.getTime() ?? null,
    searchableAttributes: t.thingTypeProperties?.searchableAttributes ?? [],
    description: t.thingTypeProperties?.thingTypeDescription ?? null,
  });
  const groupBody = (g: NonNullable<Awaited<ReturnType<typeof group>>>) => ({
    thingGroupId: g.thingGroupId,
    thingGroupName: g.thingGroupName,
    versionNumber: g.version ?? 1,
    parentGroupName: g.thingGroupMetadata?.parentGroupName ?? null,
    parentGroupId: null,
    description: g.thingGroupProperties?.thingGroupDescription ?? null,
    rootToParentThingGroups: (g.thingGroupMetadata?.rootToParentThingGroups ?? []).map((r) => ({
      groupArn: r.groupArn,
      groupId: null,
    })),
    attributes: g.thingGroupProperties?.attributePayload?.attributes ?? {},
    dynamicGroupMappingId: null,
  });
  const association = (
    thingName: string,
    thingId: unknown,
    typeName: string,
    operation: "CREATED" | "DELETED",
  ) =>
    publish(
      `$aws/events/thingTypeAssociation/thing/${thingName}/${typeName}`,
      "THING_TYPE_ASSOCIATION_EVENT",
      operation,
      {
        thingId,
        thingName,
        thingTypeName: typeName,
      },
    );
  const membership = async (groupName: string, thingName: string, op: "ADDED" | "REMOVED") => {
    const g = await group(groupName);
    const t = await thing(thingName);
    publish(
      `$aws/events/thingGroupMembership/thingGroup/${groupName}/thing/${thingName}/${op.toLowerCase()}`,
      "THING_GROUP_MEMBERSHIP_EVENT",
      op,
      {
        groupArn: g?.thingGroupArn,
        groupId: g?.thingGroupId,
        thingArn: t?.thingArn,
        thingId: t?.thingId,
        membershipId: eventId(),
      },
    );
  };
  const hierarchy = (parent: string, child: Json, op: "ADDED" | "REMOVED") =>
    publish(
      `$aws/events/thingGroupHierarchy/thingGroup/${parent}/childThingGroup/${String(child.thingGroupName)}/${op.toLowerCase()}`,
      "THING_GROUP_HIERARCHY_EVENT",
      op,
      {
        thingGroupId: null,
        thingGroupName: parent,
        childGroupId: child.thingGroupId,
        childGroupName: child.thingGroupName,
      },
    );

  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = (context as { commandName?: string }).commandName ?? "";
      const input = args.input as Json;
      const before: Json = {};
      // What the deleted or changed resource looked like, as IoT knows it before the operation.
      if (command === "DeleteThingCommand" || command === "UpdateThingCommand")
        before.thing = await thing(String(input.thingName));
      if (command === "DeleteThingTypeCommand") before.type = await type(String(input.thingTypeName));
      if (command === "DeleteThingGroupCommand") before.group = await group(String(input.thingGroupName));
      if (command === "AddThingToThingGroupCommand" || command === "RemoveThingFromThingGroupCommand") {
        const t = await thing(String(input.thingName));
        before.member = t ? undefined : false;
      }
      const result = await next(args);
      switch (command) {
        case "CreateThingCommand": {
          const t = await thing(String(input.thingName));
          if (!t) break;
          ownEvent("thing", t.thingName!, "CREATED", thingBody(t));
          if (t.thingTypeName) association(t.thingName!, t.thingId, t.thingTypeName, "CREATED");
          break;
        }
        case "UpdateThingCommand": {
          const t = await thing(String(input.thingName));
          if (!t) break;
          const old = before.thing as Awaited<ReturnType<typeof thing>>;
          ownEvent("thing", t.thingName!, "UPDATED", thingBody(t));
          if (old?.thingTypeName !== t.thingTypeName) {
            if (old?.thingTypeName) association(t.thingName!, t.thingId, old.thingTypeName, "DELETED");
            if (t.thingTypeName) association(t.thingName!, t.thingId, t.thingTypeName, "CREATED");
          }
          break;
        }
        case "DeleteThingCommand": {
          const old = before.thing as Awaited<ReturnType<typeof thing>>;
          if (old) ownEvent("thing", old.thingName!, "DELETED", thingBody(old));
          break;
        }
        case "CreateThingTypeCommand":
        case "DeprecateThingTypeCommand": {
          const t = await type(String(input.thingTypeName));
          if (!t) break;
          const op = command === "CreateThingTypeCommand" ? "CREATED" : "UPDATED";
          ownEvent("thingType", t.thingTypeName!, op, typeBody(t));
          break;
        }
        case "DeleteThingTypeCommand": {
          const old = before.type as Awaited<ReturnType<typeof type>>;
          if (old) ownEvent("thingType", old.thingTypeName!, "DELETED", typeBody(old));
          break;
        }
        case "CreateThingGroupCommand":
        case "UpdateThingGroupCommand": {
          const g = await group(String(input.thingGroupName));
          if (!g) break;
          const op = command === "CreateThingGroupCommand" ? "CREATED" : "UPDATED";
          const body = groupBody(g);
          ownEvent("thingGroup", g.thingGroupName!, op, body);
          if (op === "CREATED" && body.parentGroupName) hierarchy(body.parentGroupName, body, "ADDED");
          break;
        }
        case "DeleteThingGroupCommand": {
          const old = before.group as Awaited<ReturnType<typeof group>>;
          if (!old) break;
          const body = groupBody(old);
          if (body.parentGroupName) hierarchy(body.parentGroupName, body, "REMOVED");
          ownEvent("thingGroup", old.thingGroupName!, "DELETED", body);
          break;
        }
        case "AddThingToThingGroupCommand":
          if (before.member !== false)
            await membership(String(input.thingGroupName), String(input.thingName), "ADDED");
          break;
        case "RemoveThingFromThingGroupCommand":
          if (before.member !== false)
            await membership(String(input.thingGroupName), String(input.thingName), "REMOVED");
          break;
      }
      return result;
    },
    { step: "initialize", name },
  );

  return { messages, ...observed(client, name, messages) };
}
