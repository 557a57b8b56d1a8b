/** Entry point on Deno: `deno run -A src/main/deno.ts COMMAND …` (also `deno compile`). */
import process from "node:process";
import { platform } from "../adapters/deno/mod.ts";
import { main } from "../cli/main.ts";

process.exit(await main(process.argv.slice(2), platform));
