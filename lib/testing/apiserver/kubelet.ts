/**
 * The pod subresources kube-apiserver forwards to a kubelet (`log`, `exec`, `attach`,
 * `portforward`). The embedded server runs no nodes and no kubelet, so it answers what
 * kube-apiserver answers before it would dial one (k8s.io/kubernetes
 * pkg/registry/core/pod/strategy.go, v1.34: LogLocation, streamLocation, validateContainer):
 *
 * - the pod must exist (404 NotFound) and the container must be valid (400 BadRequest:
 *   `a container name must be specified for pod x, choose one of: [a b]`,
 *   `container c is not valid for pod x`);
 * - `log` of a pod without `spec.nodeName` is an empty 200 (as kube-apiserver's null
 *   stream), with a `Warning` header saying why (kubectl prints it);
 * - `exec`, `attach`, `portforward` of such a pod: 400 `pod x does not have a host assigned`;
 * - a pod with `spec.nodeName` set (by a test): 503 ServiceUnavailable naming the missing
 *   kubelet, where kube-apiserver would answer the dial error of the node's kubelet.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Rest } from './rest.ts'
import type { ResourceDef } from './resources.ts'
import { ApiServerStatusError, badRequest, methodNotAllowed, statusFor } from './status.ts'

/** The pod subresources served by a kubelet. */
export const KUBELET_SUBRESOURCES: ReadonlySet<string> = new Set(['log', 'exec', 'attach', 'portforward'])

function containerNames(pod: any): string[] {
  const names: string[] = []
  for (const key of ['initContainers', 'containers', 'ephemeralContainers']) {
    for (const c of pod?.spec?.[key] ?? []) if (typeof c?.name === 'string') names.push(c.name)
  }
  return names
}

/** validateContainer of pkg/registry/core/pod/strategy.go. */
function validateContainer(container: string, pod: any): string {
  const name = pod.metadata.name
  if (!container) {
    const regular = pod?.spec?.containers ?? []
    if (regular.length === 1) return regular[0].name
    if (regular.length === 0) throw badRequest(`a container name must be specified for pod ${name}`)
    throw badRequest(`a container name must be specified for pod ${name}, choose one of: [${containerNames(pod).join(' ')}]`)
  }
  if (!containerNames(pod).includes(container)) throw badRequest(`container ${container} is not valid for pod ${name}`)
  return container
}

/**
 * Answers `pods/{log,exec,attach,portforward}` for one pod. Throws the `ApiServerStatusError`
 * to send, or writes the (empty) log response itself.
 */
export function handleKubeletSubresource(
  rest: Rest,
  def: ResourceDef,
  namespace: string | undefined,
  name: string,
  subresource: string,
  method: string,
  query: URLSearchParams,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  req.resume()
  const streaming = subresource !== 'log'
  if (streaming ? method !== 'GET' && method !== 'POST' : method !== 'GET') throw methodNotAllowed()
  const pod = rest.get(def, namespace, name) as any
  const container = validateContainer(query.get('container') ?? '', pod)
  const node: string | undefined = pod.spec?.nodeName || undefined
  if (!node) {
    if (streaming) throw badRequest(`pod ${name} does not have a host assigned`)
    res.writeHead(200, {
      'Content-Type': 'text/plain',
      'Content-Length': 0,
      'Cache-Control': 'no-cache, private',
      Warning: `299 - "pod ${name} has no node (spec.nodeName): the embedded API server runs no kubelet, so container ${container} has no logs"`,
    })
    res.end()
    return
  }
  throw new ApiServerStatusError(
    statusFor(
      503,
      'ServiceUnavailable',
      `no kubelet for node "${node}": the embedded API server (kubevisor) runs no nodes, so pods/${subresource} of pod ${name} (container ${container}) cannot be served`,
    ),
  )
}
