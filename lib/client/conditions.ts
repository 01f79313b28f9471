/**
 * Status conditions with k8s.io/apimachinery `pkg/api/meta/conditions.go` semantics
 * (`SetStatusCondition`, `RemoveStatusCondition`, `FindStatusCondition`,
 * `IsStatusConditionTrue` / `False`, `IsStatusConditionPresentAndEqual`): pure functions on
 * a `status.conditions` array of `metav1.Condition`s.
 */

/** `metav1.Condition`. */
export interface Condition {
  /** CamelCase, e.g. `Ready`, `Available`. One condition per type. */
  type: string
  /** Whether the condition holds: `True`, `False`, or `Unknown` (not yet determined). */
  status: 'True' | 'False' | 'Unknown'
  /** When `status` last changed, RFC 3339 (`2026-01-02T15:04:05Z`). */
  lastTransitionTime?: string
  /** CamelCase reason for the last transition, e.g. `ConfigMapReady`. */
  reason: string
  /** Human-readable details; may be empty. */
  message?: string
  /** The `.metadata.generation` the condition was computed from. */
  observedGeneration?: number
}

/** `metav1.Time` as the API server writes it: RFC 3339, whole seconds, UTC. */
export function formatTime(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`
}

/**
 * `meta.SetStatusCondition`: adds the condition, or updates the one of the same type.
 * `lastTransitionTime` is set (to `condition.lastTransitionTime`, else `now`) only when the
 * condition is new or its `status` changed, so a condition re-set with the same status keeps
 * its time; `reason`, `message` and `observedGeneration` are always taken. Returns whether
 * anything changed — nothing to write when false.
 *
 * @example
 * ```ts
 * const conditions = site.status?.conditions ?? []
 * const changed = setStatusCondition(conditions, { type: 'Ready', status: 'True', reason: 'ConfigMapInSync', observedGeneration: site.metadata.generation })
 * ```
 */
export function setStatusCondition(conditions: Condition[], condition: Condition, now: () => Date = () => new Date()): boolean {
  const existing = findStatusCondition(conditions, condition.type)
  if (existing === undefined) {
    const added: Condition = { ...condition, message: condition.message ?? '' }
    if (!added.lastTransitionTime) added.lastTransitionTime = formatTime(now())
    if (added.observedGeneration === undefined) delete added.observedGeneration
    conditions.push(added)
    return true
  }
  let changed = false
  if (existing.status !== condition.status) {
    existing.status = condition.status
    existing.lastTransitionTime = condition.lastTransitionTime || formatTime(now())
    changed = true
  }
  if (existing.reason !== condition.reason) {
    existing.reason = condition.reason
    changed = true
  }
  const message = condition.message ?? ''
  if ((existing.message ?? '') !== message) {
    existing.message = message
    changed = true
  }
  // Go's zero value: an unset observedGeneration is 0, written as absent.
  if ((existing.observedGeneration ?? 0) !== (condition.observedGeneration ?? 0)) {
    if (condition.observedGeneration) existing.observedGeneration = condition.observedGeneration
    else delete existing.observedGeneration
    changed = true
  }
  return changed
}

/** `meta.RemoveStatusCondition`: removes the condition of `type`; returns whether there was one. */
export function removeStatusCondition(conditions: Condition[], type: string): boolean {
  const index = conditions.findIndex((c) => c.type === type)
  if (index < 0) return false
  conditions.splice(index, 1)
  return true
}

/** `meta.FindStatusCondition`: the condition of `type`, if any (the array's own object, not a copy). */
export function findStatusCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type)
}

/** `meta.IsStatusConditionTrue`. */
export function isStatusConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return isStatusConditionPresentAndEqual(conditions, type, 'True')
}

/** `meta.IsStatusConditionFalse`. */
export function isStatusConditionFalse(conditions: readonly Condition[] | undefined, type: string): boolean {
  return isStatusConditionPresentAndEqual(conditions, type, 'False')
}

/** `meta.IsStatusConditionPresentAndEqual`. */
export function isStatusConditionPresentAndEqual(conditions: readonly Condition[] | undefined, type: string, status: Condition['status']): boolean {
  return findStatusCondition(conditions, type)?.status === status
}
