import type { RegisterCommand } from "./register.js";
import { registerPlan } from "./plan.js";
import { registerDeploy } from "./deploy.js";
import { registerDrift } from "./drift.js";
import { registerDevices } from "./devices.js";
import { registerBenchDevices } from "./bench-devices.js";
import { registerReplay } from "./replay.js";
import { registerRedrive } from "./redrive.js";
import { registerBench } from "./bench.js";
import { registerRto } from "./rto.js";
import { registerBenchHealth } from "./bench-health.js";
import { registerDrill } from "./drill.js";
import { registerBackfill } from "./backfill.js";
import { registerReconcile } from "./reconcile.js";
import { registerPackage } from "./package.js";
import { registerPreflight } from "./preflight.js";
import { registerSimulate } from "./simulate.js";

/** Every subcommand of iot-dr. Add one line per command module. */
export const commands: RegisterCommand[] = [
  registerPlan,
  registerDeploy,
  registerDrift,
  registerDevices,
  registerBenchDevices,
  registerReplay,
  registerRedrive,
  registerBench,
  registerRto,
  registerBenchHealth,
  registerDrill,
  registerBackfill,
  registerReconcile,
  registerPackage,
  registerPreflight,
  registerSimulate,
];
