#!/usr/bin/env node
// The executable: everything else lives in main.ts, which tests import.
import process from "node:process";
import { main } from "./main.js";

// exitCode, not exit(): let piped stdout drain first.
process.exitCode = await main(process.argv.slice(2));
