import { KubevisorError } from '../errors.ts'

/** A child spec or supervisor flag is malformed (`ERR_INVALID_CHILD_SPEC`); the message names the field. */
export class InvalidChildSpecError extends KubevisorError {
  constructor(message: string) {
    super('ERR_INVALID_CHILD_SPEC', message)
  }
}

/**
 * A child failed to start (`ERR_CHILD_START`): while the supervisor started its children
 * (the supervisor's start then rejects with this error, after stopping the children it
 * had started, in reverse order), or on `startChild` / `restartChild`. `cause` is the
 * child's own failure.
 */
export class ChildStartError extends KubevisorError {
  /** The id of the child that failed to start, when known. */
  readonly childId: string | undefined
  constructor(childId: string | undefined, cause: unknown) {
    const what = childId === undefined ? 'a child' : `child ${JSON.stringify(childId)}`
    const why = cause instanceof Error ? cause.message : String(cause)
    super('ERR_CHILD_START', `${what} failed to start: ${why}`, { cause })
    this.childId = childId
  }
}

/**
 * A child operation was refused. `code` says why:
 * `ERR_CHILD_NOT_FOUND` (no child with that id or pid), `ERR_CHILD_RUNNING` (restart or
 * delete of a running child), `ERR_CHILD_RESTARTING` (a restart is pending),
 * `ERR_CHILD_ALREADY_PRESENT` (startChild with an id that has a stopped child), or
 * `ERR_MAX_CHILDREN` (a DynamicSupervisor is full).
 */
export class ChildOperationError extends KubevisorError {
  /** The id of the child the operation named. */
  readonly childId: string | undefined
  constructor(code: string, message: string, childId?: string) {
    super(code, message)
    this.childId = childId
  }
}
