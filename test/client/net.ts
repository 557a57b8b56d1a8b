/** The running runtime's real TCP adapter: the client tests go over sockets. */
import { platform } from "../support/platform.ts";

export const net = platform.net;
