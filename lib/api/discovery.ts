/**
 * Resource resolution through discovery: `apiVersion` + `kind` → the REST path of the
 * collection (`/api/v1` + `pods`, `/apis/example.com/v1` + `widgets`), whether it is
 * namespaced, and which subresources it serves. Answers are cached per server for the
 * whole process, shared by the watch client and the write client; a kind missing from a
 * cached answer is looked up once more (a CRD installed since), and a failed discovery is
 * never cached.
 */
import { ApiStatusError, NotFoundError } from './errors.ts'
import type { ApiTransport } from './transport.ts'

/** A resource as discovery describes it. */
export interface ResolvedResource {
  /** `/api/v1` or `/apis/{group}/{version}`. */
  groupVersionPath: string
  /** The plural resource name, e.g. `pods`. */
  plural: string
  namespaced: boolean
  apiVersion: string | undefined
  kind: string | undefined
}

/** One group/version's discovery answer: its resources by kind, and the subresources of each plural. */
export interface GroupVersionResources {
  /** Top-level resources by kind. */
  byKind: Map<string, ResolvedResource>
  /** `plural → subresource names` (e.g. `deployments → [status, scale]`). */
  subresources: Map<string, Set<string>>
}

/** Discovery results per server, shared by all clients of a process: `server → apiVersion → resources`. */
const discoveryCache = new Map<string, Map<string, Promise<GroupVersionResources>>>()

/**
 * The discovery answer for `apiVersion` (`v1`, `apps/v1`, `example.com/v1`) from the
 * transport's server, cached. Rejects with {@link NotFoundError} when the group/version is
 * not served.
 */
export function discoverGroupVersion(transport: ApiTransport, apiVersion: string): Promise<GroupVersionResources> {
  const server = transport.server.href
  let perServer = discoveryCache.get(server)
  if (!perServer) discoveryCache.set(server, (perServer = new Map()))
  let pending = perServer.get(apiVersion)
  if (!pending) {
    pending = fetchDiscovery(transport, apiVersion)
    perServer.set(apiVersion, pending)
    const cache = perServer
    pending.catch(() => cache.delete(apiVersion))
  }
  return pending
}

/** Drops the cached discovery answer for `apiVersion` (or for the whole server) so the next lookup asks again. */
export function invalidateDiscovery(transport: ApiTransport, apiVersion?: string): void {
  if (apiVersion === undefined) discoveryCache.delete(transport.server.href)
  else discoveryCache.get(transport.server.href)?.delete(apiVersion)
}

/**
 * Resolves `apiVersion` + `kind` to its collection. A kind missing from the cached answer
 * is asked for once more; still missing, it rejects with a {@link NotFoundError}
 * (`is the CRD installed?`).
 */
export async function resolveResource(transport: ApiTransport, apiVersion: string, kind: string): Promise<ResolvedResource> {
  let found = (await discoverOrEmpty(transport, apiVersion)).byKind.get(kind)
  if (!found) {
    // The cached answer may predate a CRD installed since: ask once more.
    invalidateDiscovery(transport, apiVersion)
    found = (await discoverOrEmpty(transport, apiVersion)).byKind.get(kind)
  }
  if (!found) {
    throw new NotFoundError(404, `the server has no resource of kind ${kind} in ${apiVersion} (is the CRD installed?)`, { reason: 'NotFound' })
  }
  return found
}

/** Whether the server serves `apiVersion` (e.g. `events.k8s.io/v1`): false on any 404 answer, other failures propagate. */
export async function servesGroupVersion(transport: ApiTransport, apiVersion: string): Promise<boolean> {
  try {
    await discoverGroupVersion(transport, apiVersion)
    return true
  } catch (err) {
    if (err instanceof ApiStatusError && err.status === 404) return false
    throw err
  }
}

/** Whether the resource serves `subresource` (`status`, `scale`) according to discovery. */
export async function hasSubresource(transport: ApiTransport, resource: ResolvedResource, subresource: string): Promise<boolean> {
  if (resource.apiVersion === undefined) return true
  const answer = await discoverGroupVersion(transport, resource.apiVersion)
  return answer.subresources.get(resource.plural)?.has(subresource) ?? false
}

/** A group/version that is not served answers 404; resolution reports the missing kind the same way. */
async function discoverOrEmpty(transport: ApiTransport, apiVersion: string): Promise<GroupVersionResources> {
  try {
    return await discoverGroupVersion(transport, apiVersion)
  } catch (err) {
    if (err instanceof ApiStatusError && err.status === 404) return { byKind: new Map(), subresources: new Map() }
    throw err
  }
}

async function fetchDiscovery(transport: ApiTransport, apiVersion: string): Promise<GroupVersionResources> {
  const groupVersionPath = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`
  const body = await transport.json<{ resources?: { name: string; kind: string; namespaced: boolean }[] }>(
    { method: 'GET', path: groupVersionPath, signal: AbortSignal.timeout(30_000) },
    16 * 1024 * 1024,
  )
  const byKind = new Map<string, ResolvedResource>()
  const subresources = new Map<string, Set<string>>()
  for (const r of body.resources ?? []) {
    const slash = r.name.indexOf('/')
    if (slash >= 0) {
      // Subresources such as pods/status, deployments/scale.
      const plural = r.name.slice(0, slash)
      let set = subresources.get(plural)
      if (!set) subresources.set(plural, (set = new Set()))
      set.add(r.name.slice(slash + 1))
      continue
    }
    byKind.set(r.kind, { groupVersionPath, plural: r.name, namespaced: r.namespaced, apiVersion, kind: r.kind })
  }
  return { byKind, subresources }
}
