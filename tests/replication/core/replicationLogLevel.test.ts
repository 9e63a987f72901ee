import { describe, expect, it } from "vitest";
import {
  atReplicationLogLevel,
  replicationLogLevelFromEnv,
} from "../../../functions/replication/observability.js";
import { jsonLogger } from "../../../functions/shared/observability.js";

const levelsLogged = (level: "INFO" | "WARN") => {
  const lines: string[] = [];
  const logger = atReplicationLogLevel(
    jsonLogger((l) => lines.push(l)),
    level,
  );
  logger.info("capture written", { key: "thing#a", version: "1" });
  logger.warn("replay failed", { key: "thing#a" });
  logger.error("malformed ops-table image", { key: "thing#b" });
  return lines.map((l) => (JSON.parse(l) as { level: string }).level);
};

describe("the replication functions' log level", () => {
  it("keeps warnings and errors and drops the per-record INFO lines at WARN", () => {
    expect(levelsLogged("WARN")).toEqual(["WARN", "ERROR"]);
  });

  it("brings the per-record trail back at INFO", () => {
    expect(levelsLogged("INFO")).toEqual(["INFO", "WARN", "ERROR"]);
  });

  it("defaults to WARN and names a wrong REPLICATION_LOG_LEVEL", () => {
    expect(replicationLogLevelFromEnv({})).toBe("WARN");
    expect(replicationLogLevelFromEnv({ REPLICATION_LOG_LEVEL: "INFO" })).toBe("INFO");
    expect(() => replicationLogLevelFromEnv({ REPLICATION_LOG_LEVEL: "debug" })).toThrow(
      /REPLICATION_LOG_LEVEL must be one of INFO, WARN, got 'debug'/,
    );
  });
});
