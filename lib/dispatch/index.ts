/**
 * Dispatch: the ways controllers receive work, on shared informers and work queues.
 * `WorkerPool` is what each style runs its handlers on.
 */
export { type HandleResult, TerminalError, WorkerPool, type WorkerPoolOptions } from './workers.ts'
