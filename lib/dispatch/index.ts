/**
 * Dispatch: the ways controllers receive work, on shared informers and work queues.
 * `WorkerPool` is what each style runs its handlers on.
 */
export { type HandleResult, TerminalError, WorkerPool, type WorkerPoolOptions } from './workers.ts'
export { DispatchFailedError } from './dispatch-process.ts'
export { DefaultHandler, type EventKind, EventLoop, type EventLoopOptions, type EventLoopStats, eventKey, type Handler, InvalidHandlerError, parseEventKey } from './event-loop.ts'
