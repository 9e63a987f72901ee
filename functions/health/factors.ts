/** The health factors, one per account's health API; stacks/config.ts validates criticalFactors against them. */
export const HEALTH_FACTORS = ["iotBroker", "applicationServices", "commandControl", "analytics"] as const;
export type HealthFactor = (typeof HEALTH_FACTORS)[number];
