/** Entry point on Bun: `bun src/main/bun.ts COMMAND …` (also `bun build --compile`). */
import process from "node:process";
import { platform } from "../adapters/bun/mod.ts";
import { main } from "../cli/main.ts";

process.exit(await main(process.argv.slice(2), platform));
