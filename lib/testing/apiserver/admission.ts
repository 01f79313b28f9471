/**
 * Mutating admission webhooks in the embedded server, as kube-apiserver's
 * `MutatingAdmissionWebhook` plugin calls them (k8s.io/apiserver
 * `pkg/admission/plugin/webhook/{predicates,mutating,errors}`), for CREATE and UPDATE:
 *
 * - `admissionregistration.k8s.io/v1` `MutatingWebhookConfiguration`s are served (stored
 *   as any cluster-scoped kind); every write of another group is matched against their
 *   webhooks, configurations by name, webhooks in order; each sees the previous one's
 *   mutation.
 * - A webhook matches when one of its `rules` names the operation, group, version,
 *   resource (`plural`, `plural/sub`, `*`, `*\/*`, `plural/*`) and scope; its
 *   `namespaceSelector` matches the namespace's labels (for a cluster-scoped object it
 *   always matches, except a Namespace, matched on its own labels); its `objectSelector`
 *   matches the object's labels or, on UPDATE, the old object's.
 * - The call: `POST clientConfig.url?timeout=<timeoutSeconds>s` (default 10 s) with an
 *   `admission.k8s.io/v1` AdmissionReview, trusting `caBundle`. A `service` clientConfig
 *   cannot be reached (there is no Service network here) and counts as a failed call.
 * - The answer: `allowed: false` rejects the write with the webhook's status code (400
 *   when below 400) and `admission webhook "<name>" denied the request: <message>`; a
 *   `JSONPatch` is applied to the object, and one that does not apply is a 500 whatever the
 *   failure policy. A failed call (refused, timeout, non-200, a review with another uid,
 *   another patch type) is ignored under `failurePolicy: Ignore`, and is a 500
 *   `failed calling webhook "<name>": ...` under `Fail` (the default).
 *
 * Not done: validating webhooks, reinvocation, `matchConditions`, `matchPolicy`
 * conversions (one version per kind here), server-side apply (not admitted), and
 * admission inside the write's conflict retry: a PATCH is admitted on its result against
 * the object read then, and written pinned to that object's resourceVersion (retried when
 * another write came first and the patch named no resourceVersion).
 */
import { randomUUID } from 'node:crypto'
import { request as httpsRequest } from 'node:https'
import { LabelSelector, type LabelSelectorSpec } from '../../selector/labels.ts'
import { jsonPatch } from './patch.ts'
import type { ResourceDef } from './resources.ts'
import { ApiServerStatusError, internalError } from './status.ts'

/** A webhook of a MutatingWebhookConfiguration, as stored. */
interface MutatingWebhook {
  name: string
  clientConfig?: { url?: string; service?: { namespace?: string; name?: string; path?: string; port?: number }; caBundle?: string }
  rules?: { apiGroups?: string[]; apiVersions?: string[]; operations?: string[]; resources?: string[]; scope?: string }[]
  failurePolicy?: 'Ignore' | 'Fail'
  namespaceSelector?: LabelSelectorSpec
  objectSelector?: LabelSelectorSpec
  timeoutSeconds?: number
}

/** What the server knows of one write. */
export interface AdmissionAttributes {
  def: ResourceDef
  operation: 'CREATE' | 'UPDATE'
  namespace: string | undefined
  name: string
  subresource: string | undefined
  object: Record<string, any>
  oldObject: Record<string, any> | undefined
  dryRun: boolean
  user: { username: string; uid?: string; groups: string[] }
}

/** Reads what admission needs from the server's storage. */
export interface AdmissionSource {
  /** Every stored MutatingWebhookConfiguration. */
  configurations(): Record<string, any>[]
  /** A namespace's labels (`undefined` when it does not exist). */
  namespaceLabels(name: string): Record<string, string> | undefined
}

/** `admissionregistration.k8s.io`: webhooks are never called for their own configurations (kube-apiserver). */
export const ADMISSION_GROUP = 'admissionregistration.k8s.io'

function ruleMatches(rule: NonNullable<MutatingWebhook['rules']>[number], a: Pick<AdmissionAttributes, 'def' | 'operation' | 'subresource'>): boolean {
  const has = (list: string[] | undefined, value: string) => (list ?? []).some((v) => v === '*' || v === value)
  if (!has(rule.operations, a.operation) || !has(rule.apiGroups, a.def.group) || !has(rule.apiVersions, a.def.version)) return false
  const scope = rule.scope ?? '*'
  if ((scope === 'Namespaced' && !a.def.namespaced) || (scope === 'Cluster' && a.def.namespaced)) return false
  const wanted = a.subresource ? `${a.def.plural}/${a.subresource}` : a.def.plural
  return (rule.resources ?? []).some((r) => {
    if (r === '*/*' || r === wanted) return true
    if (r === '*') return !a.subresource
    const [res, sub] = r.split('/')
    if (sub === '*') return res === a.def.plural && Boolean(a.subresource)
    if (res === '*') return Boolean(a.subresource) && sub === a.subresource
    return false
  })
}

function selects(spec: LabelSelectorSpec | undefined, labels: Record<string, string> | undefined): boolean {
  if (!spec || (!spec.matchLabels && !spec.matchExpressions)) return true
  return LabelSelector.fromSpec(spec).matches(labels ?? {})
}

/** The webhooks whose rules match the write (selectors are checked later, on the object). */
export function matchingWebhooks(source: AdmissionSource, a: Pick<AdmissionAttributes, 'def' | 'operation' | 'subresource'>): { configuration: string; webhook: MutatingWebhook }[] {
  if (a.def.group === ADMISSION_GROUP) return []
  const configurations = source.configurations()
  if (configurations.length === 0) return []
  const out: { configuration: string; webhook: MutatingWebhook }[] = []
  for (const c of [...configurations].sort((x, y) => (x.metadata?.name < y.metadata?.name ? -1 : 1))) {
    for (const w of (c.webhooks ?? []) as MutatingWebhook[]) if ((w.rules ?? []).some((r) => ruleMatches(r, a))) out.push({ configuration: c.metadata?.name, webhook: w })
  }
  return out
}

/**
 * Calls the matching webhooks in turn; resolves to the object as they mutated it, or
 * rejects with the Status the client gets (a denial, or a failed call under `Fail`).
 */
export async function admit(source: AdmissionSource, hooks: { webhook: MutatingWebhook }[], a: AdmissionAttributes): Promise<Record<string, any>> {
  let object = a.object
  for (const { webhook } of hooks) {
    if (!namespaceMatches(source, webhook, a, object)) continue
    if (!selects(webhook.objectSelector, object.metadata?.labels) && !(a.oldObject && selects(webhook.objectSelector, a.oldObject.metadata?.labels))) continue
    let response: Record<string, any>
    try {
      response = await call(webhook, { ...a, object })
    } catch (err) {
      if ((webhook.failurePolicy ?? 'Fail') === 'Ignore') continue
      throw internalError(`failed calling webhook "${webhook.name}": ${(err as Error).message}`)
    }
    if (response.allowed !== true) throw denied(webhook.name, response.status)
    if (response.patch) {
      if (response.patchType !== 'JSONPatch') {
        // A failed call (ErrCallingWebhook): the failure policy decides.
        if ((webhook.failurePolicy ?? 'Fail') === 'Ignore') continue
        throw internalError(`failed calling webhook "${webhook.name}": unsupported patch type ${JSON.stringify(response.patchType)}`)
      }
      try {
        const ops = JSON.parse(Buffer.from(String(response.patch), 'base64').toString('utf8'))
        object = jsonPatch(object, ops) as Record<string, any>
      } catch (err) {
        // kube-apiserver: a patch that does not decode or apply is an internal error whatever the failure policy.
        throw internalError((err as Error).message)
      }
    }
  }
  return object
}

function namespaceMatches(source: AdmissionSource, webhook: MutatingWebhook, a: AdmissionAttributes, object: Record<string, any>): boolean {
  if (!a.def.namespaced) {
    if (a.def.group === '' && a.def.plural === 'namespaces') return selects(webhook.namespaceSelector, object.metadata?.labels)
    return true
  }
  return selects(webhook.namespaceSelector, a.namespace ? source.namespaceLabels(a.namespace) : undefined)
}

/** k8s.io/apiserver webhook/errors `ToStatusErr`. */
function denied(name: string, status: Record<string, any> | undefined): ApiServerStatusError {
  const code = typeof status?.code === 'number' && status.code >= 400 ? status.code : 400
  const by = `admission webhook "${name}" denied the request`
  const message = status?.message ? `${by}: ${status.message}` : status?.reason ? `${by}: ${status.reason}` : `${by} without explanation`
  return new ApiServerStatusError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: status?.reason ?? '', code } as never)
}

function call(webhook: MutatingWebhook, a: AdmissionAttributes): Promise<Record<string, any>> {
  const cc = webhook.clientConfig ?? {}
  if (!cc.url) {
    const s = cc.service ?? {}
    return Promise.reject(new Error(`failed to call webhook: service ${s.namespace}/${s.name} cannot be reached from the embedded API server (use clientConfig.url)`))
  }
  const uid = randomUUID()
  const kind = { group: a.def.group, version: a.def.version, kind: a.def.kind }
  const resource = { group: a.def.group, version: a.def.version, resource: a.def.plural }
  const review = {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind,
      resource,
      ...(a.subresource ? { subResource: a.subresource } : {}),
      requestKind: kind,
      requestResource: resource,
      name: a.name,
      ...(a.namespace ? { namespace: a.namespace } : {}),
      operation: a.operation,
      userInfo: a.user,
      object: a.object,
      oldObject: a.oldObject ?? null,
      dryRun: a.dryRun,
      options: { kind: a.operation === 'CREATE' ? 'CreateOptions' : 'UpdateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  }
  const timeoutSeconds = webhook.timeoutSeconds ?? 10
  const url = new URL(cc.url)
  url.searchParams.set('timeout', `${timeoutSeconds}s`)
  const body = JSON.stringify(review)
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        method: 'POST',
        ca: cc.caBundle ? Buffer.from(cc.caBundle, 'base64').toString('utf8') : undefined,
        headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'Content-Length': Buffer.byteLength(body) },
        signal: AbortSignal.timeout(timeoutSeconds * 1000),
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('error', reject)
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          if (res.statusCode !== 200) return reject(new Error(`failed to call webhook: the server responded with HTTP ${res.statusCode}: ${text.slice(0, 200)}`))
          let answer: any
          try {
            answer = JSON.parse(text)
          } catch (err) {
            return reject(new Error(`failed to call webhook: the response is not JSON: ${(err as Error).message}`))
          }
          if (answer?.kind !== 'AdmissionReview' || answer?.apiVersion !== 'admission.k8s.io/v1' || !answer.response) return reject(new Error('failed to call webhook: the response is not an admission.k8s.io/v1 AdmissionReview'))
          if (answer.response.uid !== uid) return reject(new Error(`expected response.uid=${JSON.stringify(uid)}, got ${JSON.stringify(answer.response.uid)}`))
          resolve(answer.response)
        })
      },
    )
    req.on('error', (err) => reject(new Error(`failed to call webhook: Post "${url}": ${err.message}`)))
    req.end(body)
  })
}
