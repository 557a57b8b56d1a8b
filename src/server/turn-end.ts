import { setImmediate } from "node:timers";

/**
 * Work that runs once at the end of this turn of the event loop, after its
 * I/O callbacks: the group commit, then the socket writes. One setImmediate
 * serves both, and what a task queues for later tasks (a commit's deliveries
 * for the writers) runs in the same callback rather than one loop turn later.
 */
let tasks: (() => void)[] = [];
let scheduled = false;
/** Rounds of newly queued tasks one callback runs before leaving the rest to the next turn. */
const MAX_ROUNDS = 4;

function runTasks(): void {
  scheduled = false;
  for (let round = 0; round < MAX_ROUNDS && tasks.length > 0; round++) {
    const batch = tasks;
    tasks = [];
    for (const task of batch) {
      try {
        task();
      } catch (e) {
        // A task's own errors are its own business; one must not stop the others.
        console.error(e);
      }
    }
  }
  if (tasks.length > 0 && !scheduled) {
    scheduled = true;
    setImmediate(runTasks);
  }
}

/** Runs `task` at the end of this turn (tasks run in the order queued). */
export function atTurnEnd(task: () => void): void {
  tasks.push(task);
  if (!scheduled) {
    scheduled = true;
    setImmediate(runTasks);
  }
}
