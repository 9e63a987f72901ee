#!/usr/bin/env node
// `npx iot-dr ...`: bring Node >= 22 and the locked packages, then run the CLI (cli/main.ts).
"use strict";
require("../scripts/bootstrap.cjs").main(["cli", ...process.argv.slice(2)]);
