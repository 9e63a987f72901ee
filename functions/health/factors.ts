/** The health factors a region is judged on: one health API per account (DESIGN.md section 4). */
export const HEALTH_FACTORS = ["iotBroker", "applicationServices", "commandControl", "analytics"] as const;
export type HealthFactor = (typeof HEALTH_FACTORS)[number];
