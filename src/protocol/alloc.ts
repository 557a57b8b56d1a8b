/** Frames are small byte arrays: see src/alloc.ts. */
export { allocBytes as allocFrame, setSlabAllocation } from "../alloc.ts";
