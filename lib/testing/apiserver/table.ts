/**
 * Server-side printing (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`), which
 * `kubectl get` asks for. The embedded server prints the default columns the real server
 * uses for kinds without custom printers: Name and Created At.
 */
import type { KubeObject } from './types.ts'

const COLUMNS = [
  {
    name: 'Name',
    type: 'string',
    format: 'name',
    description:
      'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names',
    priority: 0,
  },
  {
    name: 'Created At',
    type: 'date',
    format: '',
    description:
      'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata',
    priority: 0,
  },
]

/** How much of each object a Table row carries (`includeObject`). */
export type IncludeObject = 'None' | 'Metadata' | 'Object'

/** Whether an Accept header asks for a Table. */
export function wantsTable(accept: string | undefined): boolean {
  if (!accept) return false
  const first = accept.split(',')[0] ?? ''
  return /as=Table/.test(first) && /g=meta\.k8s\.io/.test(first)
}

function row(obj: KubeObject, include: IncludeObject): unknown {
  const r: Record<string, unknown> = { cells: [obj.metadata.name, obj.metadata.creationTimestamp] }
  if (include === 'Object') r.object = obj
  else if (include === 'Metadata')
    r.object = { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata }
  return r
}

/** A Table of `objects`. */
export function toTable(objects: KubeObject[], meta: Record<string, unknown>, include: IncludeObject): unknown {
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: meta,
    columnDefinitions: COLUMNS,
    rows: objects.map((o) => row(o, include)),
  }
}
