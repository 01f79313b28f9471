/**
 * The pure controller helpers: client-go `util/retry` (RetryOnConflict with DefaultRetry
 * on a fake clock), controller-runtime `controllerutil` owner references and finalizers,
 * apimachinery `meta` conditions (SetStatusCondition: lastTransitionTime moves only when
 * the status changes), and the JSON equality createOrUpdate compares with.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ApiStatusError, ConflictError } from '../../lib/api/errors.ts'
import { type Condition, findStatusCondition, isStatusConditionFalse, isStatusConditionTrue, removeStatusCondition, setStatusCondition } from '../../lib/client/conditions.ts'
import { addFinalizer, containsFinalizer, removeFinalizer } from '../../lib/client/finalizers.ts'
import { jsonEqual } from '../../lib/client/mutate.ts'
import { AlreadyOwnedError, getControllerOf, InvalidOwnerError, type Ownable, removeOwnerReference, setControllerReference, setOwnerReference } from '../../lib/client/owners.ts'
import { DEFAULT_BACKOFF, DEFAULT_RETRY, onError, retryOnConflict } from '../../lib/client/retry.ts'
import { FakeClock } from '../../lib/testing/index.ts'

const conflict = () => new ConflictError(409, 'the object has been modified', { reason: 'Conflict' })

describe('retryOnConflict (client-go util/retry)', () => {
  test('DefaultRetry and DefaultBackoff have client-go numbers', () => {
    assert.deepEqual({ ...DEFAULT_RETRY }, { steps: 5, durationMs: 10, factor: 1.0, jitter: 0.1 })
    assert.deepEqual({ ...DEFAULT_BACKOFF }, { steps: 4, durationMs: 10, factor: 5.0, jitter: 0.1 })
  })

  test('retries a conflict after 10 ms (+ up to 10% jitter) and returns the first success', async () => {
    const clock = new FakeClock()
    let calls = 0
    const result = retryOnConflict(
      DEFAULT_RETRY,
      () => {
        calls++
        if (calls < 3) throw conflict()
        return 'ok'
      },
      { clock, random: () => 0.5 },
    )
    await clock.advance(0)
    assert.equal(calls, 1)
    await clock.advance(10.4)
    assert.equal(calls, 1, 'the wait is 10 ms + 0.5 × 0.1 × 10 ms')
    await clock.advance(0.1)
    assert.equal(calls, 2)
    await clock.advance(10.5)
    assert.equal(await result, 'ok')
    assert.equal(calls, 3)
  })

  test('gives up after `steps` tries with the last conflict; other errors return at once', async () => {
    const clock = new FakeClock()
    let calls = 0
    const failing = retryOnConflict(
      DEFAULT_RETRY,
      () => {
        calls++
        throw conflict()
      },
      { clock, random: () => 0 },
    )
    failing.catch(() => {})
    await clock.advance(1000)
    await assert.rejects(failing, ConflictError)
    assert.equal(calls, 5)
    calls = 0
    const other = new ApiStatusError(500, 'boom')
    await assert.rejects(
      retryOnConflict(DEFAULT_RETRY, () => {
        calls++
        throw other
      }),
      (err: unknown) => err === other,
    )
    assert.equal(calls, 1)
  })

  test('DefaultBackoff waits 10, 50, 250 ms between its 4 tries (factor 5)', async () => {
    const clock = new FakeClock()
    const at: number[] = []
    const run = onError(
      DEFAULT_BACKOFF,
      () => true,
      () => {
        at.push(clock.now())
        throw new Error('again')
      },
      { clock, random: () => 0 },
    )
    run.catch(() => {})
    await clock.advance(1000)
    await assert.rejects(run, /again/)
    assert.deepEqual(at, [0, 10, 60, 310])
  })
})

describe('owner references (controller-runtime controllerutil)', () => {
  const site = { apiVersion: 'example.com/v1', kind: 'Site', metadata: { name: 'blog', namespace: 'default', uid: 'u-1' } }
  const cm = (): Ownable => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'site-blog', namespace: 'default' } })

  test('setControllerReference adds controller + blockOwnerDeletion, and is idempotent', () => {
    const obj = cm()
    setControllerReference(site, obj)
    setControllerReference(site, obj)
    assert.deepEqual(obj.metadata?.ownerReferences, [{ apiVersion: 'example.com/v1', kind: 'Site', name: 'blog', uid: 'u-1', controller: true, blockOwnerDeletion: true }])
    assert.equal(getControllerOf(obj)?.name, 'blog')
  })

  test('a second controller owner is refused with AlreadyOwnedError; the same owner at another version is not', () => {
    const obj = cm()
    setControllerReference(site, obj)
    const other = { apiVersion: 'example.com/v1', kind: 'Site', metadata: { name: 'other', namespace: 'default', uid: 'u-2' } }
    assert.throws(
      () => setControllerReference(other, obj),
      (err: unknown) => err instanceof AlreadyOwnedError && err.code === 'ERR_ALREADY_OWNED' && err.owner.name === 'blog',
    )
    setControllerReference({ ...site, apiVersion: 'example.com/v2' }, obj)
    assert.equal(obj.metadata?.ownerReferences?.length, 1)
    assert.equal(obj.metadata?.ownerReferences?.[0]?.apiVersion, 'example.com/v2')
  })

  test('setOwnerReference adds a non-controller owner beside the controller; removeOwnerReference drops it', () => {
    const obj = cm()
    setControllerReference(site, obj)
    const extra = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'default', uid: 'u-3' } }
    setOwnerReference(extra, obj)
    assert.deepEqual(obj.metadata?.ownerReferences?.[1], { apiVersion: 'v1', kind: 'Secret', name: 's', uid: 'u-3' })
    assert.equal(removeOwnerReference(extra, obj), true)
    assert.equal(removeOwnerReference(extra, obj), false)
    assert.equal(obj.metadata?.ownerReferences?.length, 1)
  })

  test('cross-namespace and namespaced-owns-cluster-scoped are refused; an owner needs a uid', () => {
    assert.throws(() => setControllerReference(site, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'other' } }), /cross-namespace owner references are disallowed/)
    assert.throws(() => setControllerReference(site, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x' } }), /cluster-scoped resource must not have a namespace-scoped owner/)
    const clusterOwner = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team', uid: 'u-ns' } }
    setControllerReference(clusterOwner, cm())
    assert.throws(() => setControllerReference({ ...site, metadata: { name: 'blog', namespace: 'default' } }, cm()), InvalidOwnerError)
  })
})

describe('finalizers (controllerutil AddFinalizer / RemoveFinalizer)', () => {
  test('add and remove report whether the object changed; a second add is a no-op', () => {
    const obj: { apiVersion: string; kind: string; metadata: { name: string; finalizers?: string[] } } = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' } }
    assert.equal(addFinalizer(obj, 'example.com/cleanup'), true)
    assert.equal(addFinalizer(obj, 'example.com/cleanup'), false)
    assert.equal(containsFinalizer(obj, 'example.com/cleanup'), true)
    assert.equal(addFinalizer(obj, 'other'), true)
    assert.equal(removeFinalizer(obj, 'example.com/cleanup'), true)
    assert.equal(removeFinalizer(obj, 'example.com/cleanup'), false)
    assert.deepEqual(obj.metadata.finalizers, ['other'])
  })
})

describe('status conditions (apimachinery meta.SetStatusCondition)', () => {
  const t0 = new Date('2026-01-01T00:00:00.250Z')
  const t1 = new Date('2026-01-01T00:05:00Z')

  test('a new condition gets lastTransitionTime now, in metav1.Time form (whole seconds)', () => {
    const conditions: Condition[] = []
    assert.equal(setStatusCondition(conditions, { type: 'Ready', status: 'False', reason: 'Pending', observedGeneration: 1 }, () => t0), true)
    assert.deepEqual(conditions, [{ type: 'Ready', status: 'False', reason: 'Pending', message: '', observedGeneration: 1, lastTransitionTime: '2026-01-01T00:00:00Z' }])
  })

  test('lastTransitionTime changes only when the status changes; reason, message and observedGeneration always follow', () => {
    const conditions: Condition[] = []
    setStatusCondition(conditions, { type: 'Ready', status: 'False', reason: 'Pending', observedGeneration: 1 }, () => t0)
    assert.equal(setStatusCondition(conditions, { type: 'Ready', status: 'False', reason: 'Pending', observedGeneration: 1 }, () => t1), false, 'nothing changed: nothing to write')
    assert.equal(setStatusCondition(conditions, { type: 'Ready', status: 'False', reason: 'Waiting', message: 'for the ConfigMap', observedGeneration: 2 }, () => t1), true)
    assert.equal(findStatusCondition(conditions, 'Ready')?.lastTransitionTime, '2026-01-01T00:00:00Z')
    assert.equal(findStatusCondition(conditions, 'Ready')?.observedGeneration, 2)
    assert.equal(setStatusCondition(conditions, { type: 'Ready', status: 'True', reason: 'InSync', observedGeneration: 2 }, () => t1), true)
    assert.deepEqual(conditions, [{ type: 'Ready', status: 'True', reason: 'InSync', message: '', observedGeneration: 2, lastTransitionTime: '2026-01-01T00:05:00Z' }])
    assert.ok(isStatusConditionTrue(conditions, 'Ready'))
    assert.ok(!isStatusConditionFalse(conditions, 'Ready'))
  })

  test('a given lastTransitionTime is kept; an unset observedGeneration clears it (Go zero value)', () => {
    const conditions: Condition[] = []
    setStatusCondition(conditions, { type: 'Ready', status: 'True', reason: 'A', lastTransitionTime: '2020-01-01T00:00:00Z', observedGeneration: 3 })
    assert.equal(conditions[0]?.lastTransitionTime, '2020-01-01T00:00:00Z')
    assert.equal(setStatusCondition(conditions, { type: 'Ready', status: 'True', reason: 'A' }), true)
    assert.equal('observedGeneration' in (conditions[0] as object), false)
  })

  test('remove reports whether there was one; find on undefined is undefined', () => {
    const conditions: Condition[] = [{ type: 'Ready', status: 'True', reason: 'A', message: '' }]
    assert.equal(removeStatusCondition(conditions, 'Other'), false)
    assert.equal(removeStatusCondition(conditions, 'Ready'), true)
    assert.deepEqual(conditions, [])
    assert.equal(findStatusCondition(undefined, 'Ready'), undefined)
  })
})

describe('jsonEqual (what createOrUpdate compares)', () => {
  test('key order does not matter, undefined keys are absent, arrays keep order', () => {
    assert.ok(jsonEqual({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 }))
    assert.ok(jsonEqual({ a: 1, managedFields: undefined }, { a: 1 }))
    assert.ok(!jsonEqual({ a: [1, 2] }, { a: [2, 1] }))
    assert.ok(!jsonEqual({ a: 1 }, { a: 1, b: null }))
    assert.ok(!jsonEqual({ a: '1' }, { a: 1 }))
    assert.ok(!jsonEqual([], {}))
  })
})
