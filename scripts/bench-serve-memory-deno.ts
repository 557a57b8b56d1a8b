/** Deno entry of scripts/bench-serve-memory.ts (adapter imported statically, like src/main/deno.ts). */
import process from "node:process";
import { platform } from "../src/adapters/deno/mod.ts";
import { serveMemory } from "./bench-serve-memory.ts";

process.exit(await serveMemory(process.argv.slice(2), platform));
