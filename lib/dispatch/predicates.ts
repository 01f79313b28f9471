/**
 * Predicates: which events reach a controller's handlers (controller-runtime
 * `pkg/predicate`). A predicate is a function of a {@link ControllerEvent}; compose them
 * with {@link and}, {@link or} and {@link not}.
 *
 * The "changed" predicates judge `modified` events only and let every `created`,
 * `deleted` and `generic` event through — as controller-runtime's, whose `Funcs` default
 * every event kind they do not define to true.
 */
import type { KubeObject } from '../watch/object.ts'
import { LabelSelector, type LabelSelectorSpec } from '../selector/labels.ts'
import type { ControllerEvent } from './request.ts'

/** Decides whether an event is handled (true) or dropped (false). */
export type Predicate<T = KubeObject> = (event: ControllerEvent<T>) => boolean

/** Per-event-type decisions for {@link funcs}; a missing one lets its events through. */
export interface PredicateFuncs<T = KubeObject> {
  /** Whether a `created` event passes. */
  created?: (object: T) => boolean
  /** Whether a `modified` event passes, given the new object and the one seen before. */
  modified?: (object: T, previous: T) => boolean
  /** Whether a `deleted` event passes (with the last known object). */
  deleted?: (object: T) => boolean
  /** Whether a `generic` event (from a channel source) passes. */
  generic?: (object: T) => boolean
}

/**
 * A predicate from one function per event type (controller-runtime `predicate.Funcs`);
 * the types you leave out pass.
 *
 * @example
 * ```ts
 * const ignoreDeletes = funcs({ deleted: () => false })
 * ```
 */
export function funcs<T = KubeObject>(f: PredicateFuncs<T>): Predicate<T> {
  return (e) => {
    switch (e.type) {
      case 'created':
        return f.created?.(e.object) ?? true
      case 'modified':
        return f.modified?.(e.object, e.previous) ?? true
      case 'deleted':
        return f.deleted?.(e.object) ?? true
      case 'generic':
        return f.generic?.(e.object) ?? true
    }
  }
}

/**
 * A predicate from a test of one object, applied to the event's object — for `modified`,
 * the new version (controller-runtime `NewPredicateFuncs`).
 */
export function filter<T = KubeObject>(test: (object: T) => boolean): Predicate<T> {
  return (e) => test(e.object)
}

/**
 * Passes `modified` events whose `metadata.generation` changed: spec changes, not status
 * or metadata-only writes. Gotchas (controller-runtime's): some kinds bump the generation
 * on other writes too (Deployments on annotations); a controller that uses it does not
 * react to someone wiping its status.
 */
export const generationChanged: Predicate<KubeObject> = (e) => (e.type === 'modified' ? meta(e.object).generation !== meta(e.previous).generation : true)

/** Passes `modified` events whose `metadata.resourceVersion` changed (drops resyncs of an unchanged object). */
export const resourceVersionChanged: Predicate<KubeObject> = (e) => (e.type === 'modified' ? meta(e.object).resourceVersion !== meta(e.previous).resourceVersion : true)

/** Passes `modified` events whose `metadata.labels` changed. */
export const labelsChanged: Predicate<KubeObject> = (e) => (e.type === 'modified' ? !sameMap(meta(e.object).labels, meta(e.previous).labels) : true)

/** Passes `modified` events whose `metadata.annotations` changed. */
export const annotationsChanged: Predicate<KubeObject> = (e) => (e.type === 'modified' ? !sameMap(meta(e.object).annotations, meta(e.previous).annotations) : true)

/**
 * Passes events whose object's labels match the selector — for `modified`, the new
 * version (controller-runtime `LabelSelectorPredicate`). Takes the string syntax
 * (`'app=web,tier!=cache,env in (prod,staging),!legacy'`), a `{ matchLabels,
 * matchExpressions }` object or a parsed {@link LabelSelector}; throws
 * `InvalidLabelSelectorError` at once for an invalid one.
 *
 * Gotcha: an object whose labels stop matching produces a `modified` event that this
 * predicate drops; select on the server (an informer's `labelSelector`) to see it as a
 * delete, or write your own predicate over `previous` too.
 */
export function labelSelector(selector: string | LabelSelectorSpec | LabelSelector): Predicate<KubeObject> {
  const parsed = selector instanceof LabelSelector ? selector : typeof selector === 'string' ? LabelSelector.parse(selector) : LabelSelector.fromSpec(selector)
  return (e) => parsed.matches(meta(e.object).labels)
}

/** Passes an event when every predicate does (`and()` passes everything). */
export function and<T = KubeObject>(...predicates: Predicate<T>[]): Predicate<T> {
  return (e) => predicates.every((p) => p(e))
}

/** Passes an event when at least one predicate does (`or()` passes nothing). */
export function or<T = KubeObject>(...predicates: Predicate<T>[]): Predicate<T> {
  return (e) => predicates.some((p) => p(e))
}

/**
 * Passes an event when the predicate does not. Gotcha: it negates every event type, so
 * `not(generationChanged)` drops creates and deletes as well.
 */
export function not<T = KubeObject>(predicate: Predicate<T>): Predicate<T> {
  return (e) => !predicate(e)
}

interface Meta {
  generation?: number
  resourceVersion?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
}

function meta(object: KubeObject): Meta {
  return (object.metadata ?? {}) as Meta
}

/** Equal string maps; absent and empty count as equal (JSON omits an empty map). */
function sameMap(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  const ka = a ? Object.keys(a) : []
  const kb = b ? Object.keys(b) : []
  if (ka.length !== kb.length) return false
  for (const k of ka) if (!b || !Object.hasOwn(b, k) || b[k] !== a?.[k]) return false
  return true
}
