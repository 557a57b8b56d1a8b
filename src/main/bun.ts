/** Entry point on Bun: `bun src/main/bun.ts COMMAND …` (also `bun build --compile`). */
import process from "node:process";
import { platform } from "../adapters/bun/mod.ts";
import { main } from "../cli/main.ts";

const code = await main(process.argv.slice(2), platform);
// Exit explicitly (a chat session leaves stdin open), but only once stdout and
// stderr have taken everything written: piped output is written asynchronously.
await Promise.all(
  [process.stdout, process.stderr].map((stream) =>
    new Promise<void>((resolve) => stream.write("", () => resolve()))
  ),
);
process.exit(code);
