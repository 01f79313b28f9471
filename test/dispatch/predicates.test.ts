// Predicates and label selectors of the reconcile loop, pure.
// Anchors: controller-runtime pkg/predicate (predicate.go: the "changed" predicates judge
// updates only, Funcs defaults every event to true, LabelSelectorPredicate on the new
// object); k8s.io/apimachinery pkg/labels (selector syntax and matching) and
// metav1.LabelSelectorAsSelector; the Kubernetes "Labels and Selectors" documentation.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { InvalidLabelSelectorError, LabelSelector } from '../../lib/selector/labels.ts'
import { and, annotationsChanged, filter, funcs, generationChanged, labelSelector, labelsChanged, not, or, resourceVersionChanged } from '../../lib/dispatch/predicates.ts'
import type { ControllerEvent } from '../../lib/dispatch/request.ts'
import type { KubeObject } from '../../lib/watch/object.ts'

const obj = (meta: Record<string, unknown> = {}): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'ns', ...meta } })
const created = (o: KubeObject): ControllerEvent => ({ type: 'created', object: o })
const deleted = (o: KubeObject): ControllerEvent => ({ type: 'deleted', object: o })
const generic = (o: KubeObject): ControllerEvent => ({ type: 'generic', object: o })
const modified = (previous: KubeObject, object: KubeObject): ControllerEvent => ({ type: 'modified', object, previous })

describe('changed predicates', () => {
  const base = obj({ generation: 1, resourceVersion: '10', labels: { app: 'web' }, annotations: { note: 'x' } })
  const cases: [string, (e: ControllerEvent) => boolean, KubeObject, boolean][] = [
    ['generationChanged passes a spec change', generationChanged, obj({ ...base.metadata, generation: 2, resourceVersion: '11' }), true],
    ['generationChanged drops a status-only write', generationChanged, obj({ ...base.metadata, resourceVersion: '11' }), false],
    ['resourceVersionChanged passes any write', resourceVersionChanged, obj({ ...base.metadata, resourceVersion: '11' }), true],
    ['resourceVersionChanged drops a resync of the same version', resourceVersionChanged, base, false],
    ['labelsChanged passes a new label value', labelsChanged, obj({ ...base.metadata, labels: { app: 'api' } }), true],
    ['labelsChanged passes a removed label', labelsChanged, obj({ ...base.metadata, labels: undefined }), true],
    ['labelsChanged drops a write that keeps the labels', labelsChanged, obj({ ...base.metadata, labels: { app: 'web' }, resourceVersion: '11' }), false],
    ['annotationsChanged passes a new annotation', annotationsChanged, obj({ ...base.metadata, annotations: { note: 'x', more: 'y' } }), true],
    ['annotationsChanged drops a label-only change', annotationsChanged, obj({ ...base.metadata, labels: { app: 'api' } }), false],
  ]
  for (const [name, predicate, next, expected] of cases) {
    test(`${name}`, () => assert.equal(predicate(modified(base, next)), expected))
  }

  test('every changed predicate lets created, deleted and generic events through', () => {
    for (const p of [generationChanged, resourceVersionChanged, labelsChanged, annotationsChanged]) {
      for (const e of [created(base), deleted(base), generic(base)]) assert.equal(p(e), true, `${p.name} ${e.type}`)
    }
  })

  test('absent and empty label maps are the same labels', () => {
    assert.equal(labelsChanged(modified(obj({ labels: {} }), obj())), false)
  })
})

describe('composing predicates', () => {
  const yes = () => true
  const no = () => false
  const e = created(obj())
  test('and passes when all pass; an empty and passes', () => {
    assert.equal(and(yes, yes)(e), true)
    assert.equal(and(yes, no)(e), false)
    assert.equal(and()(e), true)
  })
  test('or passes when one passes; an empty or passes nothing', () => {
    assert.equal(or(no, yes)(e), true)
    assert.equal(or(no, no)(e), false)
    assert.equal(or()(e), false)
  })
  test('not negates every event type, so not(generationChanged) also drops creates', () => {
    assert.equal(not(no)(e), true)
    assert.equal(not(generationChanged)(e), false)
    assert.equal(not(generationChanged)(modified(obj({ generation: 1 }), obj({ generation: 1 }))), true)
  })
  test('funcs judges each event type with its own function and passes the ones left out', () => {
    const p = funcs({ deleted: () => false, modified: (o, prev) => o.metadata?.name !== prev.metadata?.name })
    assert.deepEqual([p(created(obj())), p(deleted(obj())), p(generic(obj())), p(modified(obj(), obj()))], [true, false, true, false])
  })
  test('filter tests the new object of a modified event', () => {
    const p = filter((o) => o.metadata?.name === 'b')
    assert.equal(p(modified(obj(), obj({ name: 'b' }))), true)
    assert.equal(p(modified(obj({ name: 'b' }), obj())), false)
  })
})

describe('the labelSelector predicate', () => {
  test('takes a string, a spec or a parsed selector, and judges the new object of a modified event', () => {
    for (const p of [labelSelector('app=web'), labelSelector({ matchLabels: { app: 'web' } }), labelSelector(LabelSelector.parse('app=web'))]) {
      assert.equal(p(created(obj({ labels: { app: 'web' } }))), true)
      assert.equal(p(deleted(obj({ labels: { app: 'api' } }))), false)
      assert.equal(p(modified(obj({ labels: { app: 'api' } }), obj({ labels: { app: 'web' } }))), true)
      assert.equal(p(modified(obj({ labels: { app: 'web' } }), obj({ labels: { app: 'api' } }))), false)
    }
  })
  test('throws at once for an invalid selector', () => {
    assert.throws(() => labelSelector('a in ('), InvalidLabelSelectorError)
  })
})
