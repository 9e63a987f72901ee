/** The least stack config parseConfig accepts: a primary stack with its two regions and four accounts. */
export const VALID_CONFIG = {
  role: "primary",
  primaryRegion: "us-east-1",
  secondaryRegion: "us-west-2",
  iotAccountId: "111111111111",
  commandControlAccountId: "222222222222",
  analyticsAccountId: "333333333333",
  sharedServicesAccountId: "444444444444",
};
