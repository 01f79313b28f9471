export { type ChildEnv, type ChildSpec, type RestartType, type ShutdownPolicy, type WorkerOptions, worker } from './child-spec.ts'
export { DynamicSupervisor, type DynamicSupervisorOptions } from './dynamic-supervisor.ts'
export { ChildOperationError, ChildStartError, InvalidChildSpecError } from './errors.ts'
export {
  type ChildCounts,
  type ChildInfo,
  type NestedSupervisorOptions,
  type Strategy,
  Supervisor,
  type SupervisorOptions,
  supervisor,
} from './supervisor.ts'
export { type ChildSnapshot, inspectSupervisor, type SupervisorSnapshot } from './introspect.ts'
