export {
  AlreadyStartedError,
  BadResultError,
  CallingSelfError,
  CallTimeoutError,
  describeReason,
  InitIgnoredError,
  MissingCallbackError,
  NoProcessError,
  ProcessExitedError,
  StartError,
  StartTimeoutError,
  StopTimeoutError,
} from './errors.ts'
export { DEFAULT_CALL_TIMEOUT, GenServer, type ProcessInfo } from './genserver.ts'
export { type ProcessStatus, processLifecycle } from './lifecycle.ts'
export { defaultRegistry, Registry } from './registry.ts'
export { ignore, noreply, ok, reply, stop } from './results.ts'
export {
  type After,
  type Behaviour,
  type CallResult,
  Down,
  Exit,
  type ExitReason,
  type From,
  type InitResult,
  isCleanExit,
  type MonitorRef,
  type NoReplyResult,
  type Pid,
  type ProcessContext,
  type ServerRef,
  type StartOptions,
  TIMEOUT,
  type TimerRef,
  type ViaName,
} from './types.ts'
export { attachProbe, formatProcessStatus, inspectProcess, linkedChildren, parentOf, type Probe, type ProcessFigures, type ProcessSnapshot, processFigures, probeOf, probesOf } from './introspect.ts'
