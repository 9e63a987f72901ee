/**
 * The iot-dr CrossGuard policy pack: `pulumi preview --policy-pack policy` (from the project root).
 * Every policy is mandatory; settings go in `--policy-pack-config` (see docs/security.md).
 * The checks themselves live in rules.ts, shared with `iot-dr plan --policy`.
 */
import { PolicyPack } from "@pulumi/policy";
import { policies } from "./pack";

new PolicyPack("iot-dr", {
  description:
    "iot-dr guarantees: durable ops table, dead letters everywhere, least privilege, private health APIs, encryption, bounded fail-over TTLs.",
  enforcementLevel: "mandatory",
  policies,
});
