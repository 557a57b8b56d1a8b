import { type CliIo, UsageError } from "./io.ts";

/**
 * The password for `user add|passwd` and `chat`: one line of stdin with
 * `--password-stdin` (for scripts), otherwise asked twice (once for chat)
 * on the terminal without echo.
 */
export async function readPassword(
  io: CliIo,
  fromStdin: boolean,
  options: { confirm: boolean; prompt?: string },
): Promise<string> {
  let password: string;
  if (fromStdin) {
    const next = await io.lines().next();
    if (next.done) throw new UsageError("--password-stdin: standard input is empty");
    password = next.value;
  } else {
    const first = await io.askSecret(options.prompt ?? "Password: ");
    if (first === null) {
      throw new UsageError(
        "no terminal to ask for a password: pass --password-stdin and pipe it in",
      );
    }
    if (options.confirm) {
      const again = await io.askSecret("Repeat password: ");
      if (again !== first) throw new UsageError("passwords do not match");
    }
    password = first;
  }
  if (password.length === 0) throw new UsageError("the password is empty");
  return password;
}
