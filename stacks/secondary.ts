import type { DrConfig } from "./config.js";
import { regionalStack } from "./regional.js";

/** The secondary role: the regional program in the secondary region; reads the primary stack. */
export const secondaryStack = (config: DrConfig) => regionalStack(config);
