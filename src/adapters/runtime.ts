/**
 * The one place that decides which runtime we are on. Entry points do not need
 * it (each runtime has its own entry file that imports its adapter statically,
 * so `bun build --compile` and `deno compile` see a static graph); it is used by
 * code that must pick an adapter at run time, such as the test support module.
 */
export type RuntimeName = "bun" | "deno";

export function detectRuntime(): RuntimeName {
  const g = globalThis as Record<string, unknown>;
  if (typeof g.Bun !== "undefined") return "bun";
  if (typeof g.Deno !== "undefined") return "deno";
  throw new Error("solec runs on Bun or Deno; this runtime is neither");
}
