/**
 * Object helpers: the watch key (client-go's `MetaNamespaceKeyFunc`) and the
 * `dropManagedFields` transform.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { describe, test } from 'node:test'
import { dropManagedFields, type KubeObject, objectKey } from '../../lib/watch/object.ts'

describe('objectKey', () => {
  test('namespace/name, or name alone for cluster-scoped objects', () => {
    assert.equal(objectKey({ metadata: { namespace: 'team-a', name: 'web-0' } }), 'team-a/web-0')
    assert.equal(objectKey({ metadata: { name: 'node-1' } }), 'node-1')
  })
})

describe('dropManagedFields', () => {
  const pod = (): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-0', namespace: 'team-a', resourceVersion: '7', managedFields: [{ manager: 'kubelet', operation: 'Update', fieldsV1: { 'f:status': {} } }] },
    spec: { nodeName: 'n1' },
  })

  test('returns the same object without managedFields, everything else untouched', () => {
    const object = pod()
    const out = dropManagedFields(object)
    assert.equal(out, object)
    assert.equal(out.metadata?.managedFields, undefined)
    assert.deepEqual(JSON.parse(JSON.stringify(out)), {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web-0', namespace: 'team-a', resourceVersion: '7' },
      spec: { nodeName: 'n1' },
    })
  })

  test('leaves objects without metadata or without managedFields as they are', () => {
    assert.deepEqual(dropManagedFields({ kind: 'Status' }), { kind: 'Status' })
    const bare = { metadata: { name: 'x' } }
    dropManagedFields(bare)
    assert.deepEqual(Object.keys(bare.metadata), ['name'])
  })

  test('keeps metadata a fast-properties object (no delete), which is what saves the memory', () => {
    // V8's %HasFastProperties needs --allow-natives-syntax, so ask a child process.
    const module = new URL('../../lib/watch/object.ts', import.meta.url).href
    const script = `
      const { dropManagedFields } = await import(${JSON.stringify(module)})
      const pod = JSON.parse('{"metadata":{"name":"a","namespace":"b","uid":"u","resourceVersion":"1","labels":{"x":"y"},"managedFields":[{"manager":"m"}]},"spec":{}}')
      const deleted = JSON.parse(JSON.stringify(pod))
      delete deleted.metadata.managedFields
      console.log(JSON.stringify([%HasFastProperties(dropManagedFields(pod).metadata), %HasFastProperties(deleted.metadata)]))`
    const out = execFileSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', script], { encoding: 'utf8' })
    assert.deepEqual(JSON.parse(out), [true, false], 'dropManagedFields keeps fast properties; delete would not')
  })
})
