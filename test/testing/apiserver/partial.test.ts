// Accept negotiation of metadata-only reads on the embedded server (lib/testing/apiserver/partial.ts).
// The HTTP answers themselves are pinned on both servers by test/conformance/metadata.ts;
// these are the parsing corners, checked against kube-apiserver v1.34's negotiation
// (apiserver endpoints/handlers/negotiation: entries in order, `as=` only for meta.k8s.io v1/v1beta1).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { partialConversion } from '../../../lib/testing/apiserver/partial.ts'
import { ApiServerStatusError } from '../../../lib/testing/apiserver/status.ts'
import { targetId } from '../../../lib/informer/informer.ts'

const G = 'g=meta.k8s.io;v=v1'

describe('partialConversion (Accept negotiation of PartialObjectMetadata)', () => {
  test('no header, plain types and protobuf without as= ask for no conversion', () => {
    for (const accept of [undefined, '', 'application/json', '*/*', 'application/vnd.kubernetes.protobuf', 'application/json, */*']) assert.equal(partialConversion(accept), undefined, String(accept))
  })

  test('as=PartialObjectMetadata and …List in JSON or YAML, v1 and v1beta1, parameters in any order and spacing', () => {
    assert.deepEqual(partialConversion(`application/json;as=PartialObjectMetadataList;${G}`), { as: 'PartialObjectMetadataList', apiVersion: 'meta.k8s.io/v1' })
    assert.deepEqual(partialConversion('application/json; v=v1beta1; g=meta.k8s.io; as=PartialObjectMetadata'), { as: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1beta1' })
    assert.deepEqual(partialConversion(`application/yaml;as=PartialObjectMetadata;${G}`), { as: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1' })
  })

  test("client-go's metadata Accept: the protobuf entry is skipped, the JSON entry after it chosen", () => {
    const accept = `application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;${G},application/json;as=PartialObjectMetadataList;${G},application/json`
    assert.deepEqual(partialConversion(accept), { as: 'PartialObjectMetadataList', apiVersion: 'meta.k8s.io/v1' })
  })

  test('as=Table is left to the Table printer; an unknown as= falls through to the next entry', () => {
    assert.equal(partialConversion(`application/json;as=Table;${G}`), undefined)
    assert.equal(partialConversion(`application/json;as=Foo;${G}, application/json`), undefined)
    assert.deepEqual(partialConversion(`application/json;as=Foo;${G}, application/json;as=PartialObjectMetadata;${G}`), { as: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1' })
  })

  test('only unusable as= entries: 406 NotAcceptable listing the served media types', () => {
    for (const accept of [`application/json;as=Foo;${G}`, 'application/json;as=PartialObjectMetadata;g=apps;v=v1', 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v2', 'application/json;as=PartialObjectMetadata', `text/plain;as=PartialObjectMetadata;${G}`]) {
      assert.throws(
        () => partialConversion(accept),
        (e: unknown) =>
          e instanceof ApiServerStatusError &&
          e.status.code === 406 &&
          e.status.reason === 'NotAcceptable' &&
          e.status.message === 'only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf',
        accept,
      )
    }
  })
})

describe('informer targets with metadataOnly', () => {
  test('a metadataOnly target has its own id (its own shared informer), apart from the full one', () => {
    const full = { apiVersion: 'v1', kind: 'Pod', namespace: 'web' }
    assert.equal(targetId(full), 'v1/Pod@web')
    assert.equal(targetId({ ...full, metadataOnly: false }), 'v1/Pod@web')
    assert.equal(targetId({ ...full, metadataOnly: true }), 'v1/Pod@web?metadata')
    assert.equal(targetId({ ...full, labelSelector: 'app=x', metadataOnly: true }), 'v1/Pod@web?l=app=x&metadata')
  })
})
