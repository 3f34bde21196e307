#!/usr/bin/env node
// The executable: everything else lives in main.ts, which tests import.
import process from "node:process";
import { main } from "./main.js";

const code = await main(process.argv.slice(2));
// exitCode, not exit(): let piped stdout drain first. And never turn a failure
// that something already reported (a non-zero exitCode) into a 0.
if (code !== 0 || !process.exitCode) process.exitCode = code;
