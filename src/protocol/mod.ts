export * from "./constants.ts";
export * from "./errors.ts";
export * from "./payloads.ts";
export * from "./codec.ts";
export * from "./frame-decoder.ts";
export * from "./address.ts";
export * from "./alloc.ts";
