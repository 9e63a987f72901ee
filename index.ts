// Entry point: reads and validates the stack's config, runs stacks/<role>.ts, exports its outputs.
import { loadConfig } from "./stacks/config.js";
import { buildStack } from "./stacks/index.js";

export = buildStack(loadConfig());
