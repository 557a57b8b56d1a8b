/**
 * The platform for whichever runtime runs the tests.
 *
 * The specifier is built at run time on purpose: Deno's type checker follows
 * literal imports and would try to load the Bun adapter (`bun:sqlite`, the
 * `Bun` global), which only Bun can.
 */
import type { Platform } from "../../src/platform.ts";
import { detectRuntime } from "../../src/adapters/runtime.ts";

const runtime = detectRuntime();
const specifier = "../../src/adapters/" + runtime + "/mod.ts";
const mod: { platform?: Platform } = await import(specifier);
if (mod.platform?.runtime !== runtime) {
  throw new Error(`${specifier} does not export a ${runtime} platform`);
}

export const platform: Platform = mod.platform;
