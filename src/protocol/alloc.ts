/** Frames are small byte arrays: see src/alloc.ts. */
export { allocBytes as allocFrame, byteRange, setSlabAllocation } from "../alloc.ts";
