/**
 * Password hashing with scrypt (node:crypto, identical on Bun and Deno).
 *
 * Stored form (PHC string format, so the parameters travel with the hash and
 * can be raised later; {@link needsRehash} tells when to re-hash on login):
 *
 *     $scrypt$ln=15,r=8,p=1$<salt>$<hash>
 *
 * `ln` is log2 of scrypt's N, `r` the block size, `p` the parallelism; salt
 * (16 random bytes) and hash (32 bytes) are standard base64 without padding.
 * Passwords are Unicode-normalised (NFC) before hashing, so the same password
 * typed on clients that compose characters differently verifies.
 *
 * Default cost: {@link DEFAULT_PASSWORD_COST} = ln 15 (N = 32768, r = 8: 32 MiB
 * of memory per hash). Measured with this module on a 2-vCPU AMD EPYC VM,
 * median ms per hash (Bun 1.4.5 / Deno 2.9.6; Deno's scrypt is ~1.8x slower):
 *
 *     ln 12 (4 MiB)    11 /  17      ln 15 (32 MiB)   95 / 170
 *     ln 13 (8 MiB)    22 /  35      ln 16 (64 MiB)  180 / 330
 *     ln 14 (16 MiB)   47 /  75      ln 17 (128 MiB) 340 / 700
 *
 * Why 15: a small edge host (Raspberry-Pi-class, 1 GB) is 3-5x slower than
 * that VM, so ln 15 costs it roughly 0.3-0.8 s and 32 MiB per login, which is
 * bearable because a client logs in once per connection. ln 16-17 (OWASP
 * suggests 17) would cost such a host 1-3.5 s and 64-128 MiB per concurrent
 * login; ln 14 and below make offline guessing of a leaked database 2x+
 * cheaper for a saving nobody notices. Operators with headroom raise it with
 * `--password-cost`; existing hashes are upgraded on the next successful
 * login via {@link needsRehash}.
 *
 * Hashing runs on the runtime's worker threads (the event loop stays free) and
 * at most {@link MAX_CONCURRENT_HASHES} hashes run at once; further requests
 * queue, so a burst of logins cannot allocate N x 32 MiB at the same time.
 */
import { Buffer } from "node:buffer";
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { availableParallelism } from "node:os";

/** Lowest cost accepted for new hashes (tests use it: about 5 ms per hash). */
export const PASSWORD_COST_MIN = 10;
/** Highest cost accepted (ln 17 = 128 MiB per hash; `maxmem` is sized for it). */
export const PASSWORD_COST_MAX = 17;
/** Default log2(N) for new hashes; see the module comment for the reasoning. */
export const DEFAULT_PASSWORD_COST = 15;

const BLOCK_SIZE = 8; // r
const PARALLELISM = 1; // p
const SALT_BYTES = 16;
const HASH_BYTES = 32;

/** Limits for parameters read back from a stored string (anything else is malformed). */
const VERIFY_LN_MIN = 1;
const VERIFY_R_MAX = 16;
const VERIFY_P_MAX = 4;
const VERIFY_BYTES_MIN = 8;
const VERIFY_BYTES_MAX = 64;

/** Number of scrypt computations allowed to run at the same time. */
export const MAX_CONCURRENT_HASHES: number = Math.max(1, Math.min(4, availableParallelism()));

/** The parameters and bytes encoded in a PHC string. */
export interface ScryptHash {
  /** log2(N) */
  readonly ln: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Uint8Array;
  readonly hash: Uint8Array;
}

export interface HashOptions {
  /** log2(N), {@link PASSWORD_COST_MIN}..{@link PASSWORD_COST_MAX}; default {@link DEFAULT_PASSWORD_COST}. */
  readonly cost?: number;
}

// ---------------------------------------------------------------------------
// Concurrency limit

let running = 0;
const waiting: Array<() => void> = [];

async function withHashSlot<T>(work: () => Promise<T>): Promise<T> {
  if (running >= MAX_CONCURRENT_HASHES) {
    await new Promise<void>((resolve) => waiting.push(resolve));
  } else {
    running++;
  }
  try {
    return await work();
  } finally {
    const next = waiting.shift();
    if (next) next(); // hand our slot over directly
    else running--;
  }
}

function deriveKey(
  password: string,
  salt: Uint8Array,
  keyLength: number,
  ln: number,
  r: number,
  p: number,
): Promise<Buffer> {
  const N = 2 ** ln;
  // OpenSSL/BoringSSL need 128*r*(N+p+2) bytes; twice 128*N*r covers that with room.
  const maxmem = 2 * 128 * N * r + 128 * r * p + 1024 * 1024;
  return withHashSlot(() =>
    new Promise<Buffer>((resolve, reject) => {
      scrypt(password.normalize("NFC"), salt, keyLength, { N, r, p, maxmem }, (err, key) => {
        if (err) reject(err);
        else resolve(key);
      });
    })
  );
}

// ---------------------------------------------------------------------------
// PHC encoding

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64").replace(/=+$/, "");
}

function fromB64(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9+/]+$/.test(text)) return null;
  const bytes = Buffer.from(text, "base64");
  // Reject non-canonical encodings (stray bits in the last character).
  if (b64(bytes) !== text) return null;
  return new Uint8Array(bytes);
}

function formatPhc(h: ScryptHash): string {
  return `$scrypt$ln=${h.ln},r=${h.r},p=${h.p}$${b64(h.salt)}$${b64(h.hash)}`;
}

const PHC_RE =
  /^\$scrypt\$ln=([1-9][0-9]?),r=([1-9][0-9]?),p=([1-9][0-9]?)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

/**
 * Parse a stored `$scrypt$…` string. Returns null for anything malformed or with
 * parameters outside what this module will compute (ln 1-17, r <= 16, p <= 4,
 * salt and hash 8-64 bytes), so a corrupted row cannot make us allocate gigabytes.
 */
export function parsePasswordHash(phc: string): ScryptHash | null {
  if (typeof phc !== "string") return null;
  const m = PHC_RE.exec(phc);
  if (!m) return null;
  const ln = Number(m[1]);
  const r = Number(m[2]);
  const p = Number(m[3]);
  if (ln < VERIFY_LN_MIN || ln > PASSWORD_COST_MAX || r > VERIFY_R_MAX || p > VERIFY_P_MAX) {
    return null;
  }
  const salt = fromB64(m[4]!);
  const hash = fromB64(m[5]!);
  if (!salt || !hash) return null;
  for (const bytes of [salt, hash]) {
    if (bytes.length < VERIFY_BYTES_MIN || bytes.length > VERIFY_BYTES_MAX) return null;
  }
  return { ln, r, p, salt, hash };
}

function checkCost(cost: number): number {
  if (!Number.isInteger(cost) || cost < PASSWORD_COST_MIN || cost > PASSWORD_COST_MAX) {
    throw new RangeError(
      `password cost must be an integer ${PASSWORD_COST_MIN}-${PASSWORD_COST_MAX}, got ${cost}`,
    );
  }
  return cost;
}

// ---------------------------------------------------------------------------
// Public API

/** Hash a password with a fresh random salt; returns the PHC string to store. */
export async function hashPassword(password: string, options: HashOptions = {}): Promise<string> {
  const ln = checkCost(options.cost ?? DEFAULT_PASSWORD_COST);
  const salt = new Uint8Array(randomBytes(SALT_BYTES));
  const hash = await deriveKey(password, salt, HASH_BYTES, ln, BLOCK_SIZE, PARALLELISM);
  return formatPhc({ ln, r: BLOCK_SIZE, p: PARALLELISM, salt, hash: new Uint8Array(hash) });
}

/**
 * Check a password against a stored PHC string, using the parameters stored in
 * it. Constant-time comparison. Never throws: a malformed string (or a scrypt
 * failure) yields false. Note a malformed string returns at once; use
 * {@link verifyAgainstDummy} when there is no stored hash at all.
 */
export async function verifyPassword(password: string, phc: string): Promise<boolean> {
  const parsed = parsePasswordHash(phc);
  if (!parsed || typeof password !== "string") return false;
  try {
    const candidate = await deriveKey(
      password,
      parsed.salt,
      parsed.hash.length,
      parsed.ln,
      parsed.r,
      parsed.p,
    );
    return timingSafeEqual(candidate, parsed.hash);
  } catch {
    return false;
  }
}

/**
 * True when `phc` is weaker than the current policy (cost below `cost`; r = 8,
 * p = 1, 16-byte salt, 32-byte hash), or cannot be parsed: after a successful
 * verify, hash the password again and store the new string.
 */
export function needsRehash(phc: string, cost: number = DEFAULT_PASSWORD_COST): boolean {
  const parsed = parsePasswordHash(phc);
  if (!parsed) return true;
  // Only upwards: a hash an operator made stronger than the server's setting
  // (e.g. with `user add --password-cost 17`) is never weakened at login.
  return parsed.ln < cost || parsed.r !== BLOCK_SIZE || parsed.p !== PARALLELISM ||
    parsed.salt.length !== SALT_BYTES || parsed.hash.length !== HASH_BYTES;
}

const dummies = new Map<number, string>();

/**
 * Do the work of a real {@link verifyPassword} at `cost` against a random hash
 * and return false. Call it when the account does not exist, so that "unknown
 * user" and "wrong password" take the same time (the attacker cannot probe for
 * user names by timing). Use the configured `passwordCost`.
 */
export async function verifyAgainstDummy(
  password: string,
  options: HashOptions = {},
): Promise<false> {
  const ln = checkCost(options.cost ?? DEFAULT_PASSWORD_COST);
  let phc = dummies.get(ln);
  if (phc === undefined) {
    // Random salt and "hash": no password matches it (2^-256), and building it
    // costs nothing, unlike hashing a dummy password once.
    phc = formatPhc({
      ln,
      r: BLOCK_SIZE,
      p: PARALLELISM,
      salt: new Uint8Array(randomBytes(SALT_BYTES)),
      hash: new Uint8Array(randomBytes(HASH_BYTES)),
    });
    dummies.set(ln, phc);
  }
  await verifyPassword(password, phc);
  return false;
}
