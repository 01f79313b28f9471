/**
 * URL routing of the Kubernetes REST paths: discovery endpoints and
 * `/api/v1[/namespaces/{ns}]/{resource}[/{name}[/{subresource}]]`,
 * `/apis/{group}/{version}[/namespaces/{ns}]/{resource}[/{name}[/{subresource}]]`.
 */

/** What a path addresses. */
export type Route =
  | { type: 'version' }
  | { type: 'health' }
  | { type: 'apiVersions' }
  | { type: 'groupList' }
  | { type: 'group'; group: string }
  | { type: 'resourceList'; group: string; version: string }
  | {
      type: 'resource'
      group: string
      version: string
      namespace: string | undefined
      plural: string
      name: string | undefined
      subresource: string | undefined
    }
  | { type: 'openapiV2' }
  | { type: 'openapiIndex' }
  | { type: 'openapiDocument'; gv: string }
  | { type: 'notFound' }

function resourcePath(group: string, version: string, rest: string[]): Route {
  let namespace: string | undefined
  let tail = rest
  if (rest[0] === 'namespaces' && rest.length >= 3 && !(rest.length === 3 && (rest[2] === 'status' || rest[2] === 'finalize'))) {
    namespace = rest[1]
    tail = rest.slice(2)
  }
  if (tail.length === 0 || tail.length > 3) return { type: 'notFound' }
  return { type: 'resource', group, version, namespace, plural: tail[0]!, name: tail[1], subresource: tail[2] }
}

/** Parses a request path (without query). */
export function route(path: string): Route {
  let segs: string[]
  try {
    segs = path.split('/').filter((s) => s !== '').map(decodeURIComponent)
  } catch {
    return { type: 'notFound' }
  }
  if (segs.length === 1 && segs[0] === 'version') return { type: 'version' }
  if (segs.length === 1 && (segs[0] === 'healthz' || segs[0] === 'livez' || segs[0] === 'readyz')) return { type: 'health' }
  if (segs.length === 2 && segs[0] === 'openapi' && segs[1] === 'v2') return { type: 'openapiV2' }
  if (segs[0] === 'openapi' && segs[1] === 'v3') {
    return segs.length === 2 ? { type: 'openapiIndex' } : { type: 'openapiDocument', gv: segs.slice(2).join('/') }
  }
  if (segs[0] === 'api') {
    if (segs.length === 1) return { type: 'apiVersions' }
    if (segs[1] !== 'v1') return { type: 'notFound' }
    if (segs.length === 2) return { type: 'resourceList', group: '', version: 'v1' }
    return resourcePath('', 'v1', segs.slice(2))
  }
  if (segs[0] === 'apis') {
    if (segs.length === 1) return { type: 'groupList' }
    if (segs.length === 2) return { type: 'group', group: segs[1]! }
    if (segs.length === 3) return { type: 'resourceList', group: segs[1]!, version: segs[2]! }
    return resourcePath(segs[1]!, segs[2]!, segs.slice(3))
  }
  return { type: 'notFound' }
}
