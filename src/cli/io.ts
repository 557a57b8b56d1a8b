/**
 * Terminal I/O for the CLI, through node:process and node:readline (both
 * runtimes implement them), injectable so commands can be tested without a TTY.
 */
import process from "node:process";
import { createInterface } from "node:readline";

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  /** Lines of standard input, read lazily. */
  lines(): AsyncIterableIterator<string>;
  /** Asks for a secret without echo; null when there is no terminal to ask on. */
  askSecret(prompt: string): Promise<string | null>;
  readonly env: Record<string, string | undefined>;
}

let stdinLines: AsyncIterableIterator<string> | null = null;

export const processIo: CliIo = {
  out: (line) => void process.stdout.write(line + "\n"),
  err: (line) => void process.stderr.write(line + "\n"),
  lines() {
    // One reader for the whole process: a second readline on stdin would
    // steal buffered input from the first.
    stdinLines ??= createInterface({ input: process.stdin, crlfDelay: Infinity })[
      Symbol.asyncIterator
    ]();
    return stdinLines;
  },
  askSecret: askSecretOnTty,
  env: process.env,
};

async function askSecretOnTty(prompt: string): Promise<string | null> {
  const stdin = process.stdin;
  if (!stdin.isTTY || typeof stdin.setRawMode !== "function") return null;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  try {
    return await new Promise<string>((resolve, reject) => {
      let secret = "";
      const onData = (chunk: Uint8Array | string) => {
        const text = typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
        for (const ch of text) {
          if (ch === "\r" || ch === "\n") {
            stdin.off("data", onData);
            resolve(secret);
            return;
          }
          if (ch === "\u0003") {
            stdin.off("data", onData);
            reject(new Error("interrupted"));
            return;
          }
          if (ch === "\u007f" || ch === "\b") secret = secret.slice(0, -1);
          else secret += ch;
        }
      };
      stdin.on("data", onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write("\n");
  }
}

/** A usage or input problem: printed as is, exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}
