import type { NetAddr } from "../platform.ts";

/**
 * Address objects and host strings shared between connections: every
 * connection accepted by one listener has the same local address, and many
 * come from the same few hosts. A server holding thousands of connections
 * then keeps one string per host and one local-address object, not two
 * strings and two objects per connection (NetAddr is read-only).
 */
const MAX_HOSTS = 1024;
const hosts = new Map<string, string>();
let lastLocal: NetAddr = { hostname: "", port: -1 };

/** `host`, or an equal string already held (bounded: forgets all past MAX_HOSTS). */
export function sharedHost(host: string): string {
  const known = hosts.get(host);
  if (known !== undefined) return known;
  if (hosts.size >= MAX_HOSTS) hosts.clear();
  hosts.set(host, host);
  return host;
}

/** A remote address whose host string is shared. */
export function remoteAddr(hostname: string, port: number): NetAddr {
  return { hostname: sharedHost(hostname), port };
}

/** A local address: the same object as the previous connection's when equal. */
export function localAddr(hostname: string, port: number): NetAddr {
  if (hostname !== lastLocal.hostname || port !== lastLocal.port) {
    lastLocal = { hostname: sharedHost(hostname), port };
  }
  return lastLocal;
}
