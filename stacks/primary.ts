import type { DrConfig } from "./config.js";
import { regionalStack } from "./regional.js";

/** The primary role: the regional program in the primary region, plus the ops table it owns. */
export const primaryStack = (config: DrConfig) => regionalStack(config);
