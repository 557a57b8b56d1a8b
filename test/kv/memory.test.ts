import { MemoryKv } from "../../src/kv/memory.ts";
import { kvConformance } from "./conformance.ts";

kvConformance("MemoryKv", () => {
  const kv = new MemoryKv();
  return Promise.resolve({ kv, cleanup: () => kv.close() });
});
