/**
 * Users, groups and authorization for the embedded API server, and the reviews that
 * report on them: SelfSubjectAccessReview (`kubectl auth can-i`), SelfSubjectRulesReview
 * (`kubectl auth can-i --list`) and SelfSubjectReview (`kubectl auth whoami`).
 *
 * Anchors: k8s.io/apiserver pkg/authorization/authorizer (Attributes), pkg/endpoints/request
 * (RequestInfoFactory: the verb of a request), pkg/endpoints/handlers/responsewriters
 * (forbiddenMessage), and the authorizer mode of kube-apiserver that lets
 * `system:masters` do everything. There is no RBAC here: a test gives an `authorizer`
 * function; without one, every authenticated user may do everything (as before).
 */
import { timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { Route } from './routes.ts'
import { ApiServerStatusError, badRequest, type Status } from './status.ts'

/** One user of the embedded server, authenticated by its bearer token. */
export interface ApiServerUser {
  /** User name, as in `kubectl auth whoami` and Forbidden messages. */
  name: string
  /** Bearer token (never logged). */
  token: string
  /** Groups; `system:authenticated` is added, as kube-apiserver does. */
  groups?: string[]
  /** Optional uid. */
  uid?: string
}

/** The authenticated user of a request. */
export interface UserInfo {
  /** e.g. `kubevisor`, `system:serviceaccount:ns:name`. */
  username: string
  /** The user's uid, when the authenticator knows one. */
  uid?: string
  /** e.g. `system:masters`, `system:authenticated`. */
  groups: string[]
}

/** What a request (or an access review) asks to do: Go's `authorizer.Attributes`. */
export interface AuthorizationAttributes {
  /** Who asks. */
  user: UserInfo
  /** The verb, e.g. `get`, `list`, `watch`, `create`. */
  verb: string
  /** Resource requests. */
  resourceRequest: boolean
  /** API group (`''` for core). */
  group?: string
  /** API version, e.g. `v1`. */
  version?: string
  /** Resource plural, e.g. `pods`. */
  resource?: string
  /** Subresource, e.g. `status`, `scale`. */
  subresource?: string
  /** Namespace of the request, absent for cluster-scoped ones. */
  namespace?: string
  /** Object name, absent for collections. */
  name?: string
  /** Non-resource requests (`/version`, `/openapi/v3`, ...). */
  path?: string
}

/** The decision of an {@link Authorizer}: a boolean, or allowed with a reason. */
export type AuthorizationDecision =
  | boolean
  | {
      /** Whether the request may proceed. */
      allowed: boolean
      /** Why: the authorizer's explanation. */
      reason?: string
    }

/** Decides one request (also asked by SelfSubjectAccessReview). */
export type Authorizer = (attributes: AuthorizationAttributes) => AuthorizationDecision

const MASTERS = 'system:masters'
const PUBLIC_PATHS = new Set(['/version', '/healthz', '/livez', '/readyz'])

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/**
 * The user of a request, or undefined (401). With neither `token` nor `users` configured,
 * every request is the `kubevisor` user in `system:masters` (no authentication, full
 * access); with them, the bearer token picks the user, and health/version paths stay open.
 */
export function authenticate(
  req: IncomingMessage,
  path: string,
  opts: { token?: string | undefined; users?: readonly ApiServerUser[] | undefined },
): UserInfo | undefined {
  const admin: UserInfo = { username: 'kubevisor', groups: [MASTERS, 'system:authenticated'] }
  if (!opts.token && !opts.users?.length) return admin
  const header = req.headers.authorization
  if (!header) return PUBLIC_PATHS.has(path) ? { username: 'system:anonymous', groups: ['system:unauthenticated'] } : undefined
  const m = /^Bearer\s+(.+)$/i.exec(header)
  if (!m) return undefined
  const given = m[1]!.trim()
  if (opts.token && sameSecret(given, opts.token)) return admin
  for (const u of opts.users ?? []) {
    if (sameSecret(given, u.token)) {
      const groups = [...(u.groups ?? [])]
      if (!groups.includes('system:authenticated')) groups.push('system:authenticated')
      return { username: u.name, ...(u.uid ? { uid: u.uid } : {}), groups }
    }
  }
  return undefined
}

/** The verb of a request, as RequestInfoFactory names it. */
export function requestVerb(method: string, r: Route, query: URLSearchParams): string {
  const named = r.type === 'resource' && r.name !== undefined
  const watch = query.get('watch') === 'true' || query.get('watch') === '1'
  switch (method) {
    case 'GET':
    case 'HEAD':
      return watch ? 'watch' : named || r.type !== 'resource' ? 'get' : 'list'
    case 'POST':
      return 'create'
    case 'PUT':
      return 'update'
    case 'PATCH':
      return 'patch'
    case 'DELETE':
      return named ? 'delete' : 'deletecollection'
    default:
      return method.toLowerCase()
  }
}

/** The attributes of a routed request. */
export function requestAttributes(user: UserInfo, method: string, r: Route, path: string, query: URLSearchParams): AuthorizationAttributes {
  const verb = requestVerb(method, r, query)
  if (r.type !== 'resource') return { user, verb, resourceRequest: false, path }
  return {
    user,
    verb,
    resourceRequest: true,
    group: r.group,
    version: r.version,
    resource: r.plural,
    ...(r.subresource ? { subresource: r.subresource } : {}),
    ...(r.namespace !== undefined ? { namespace: r.namespace } : {}),
    ...(r.name !== undefined ? { name: r.name } : {}),
  }
}

/**
 * What kube-apiserver's bootstrap roles grant every authenticated user before any
 * authorizer is asked: system:discovery and system:public-info-viewer (discovery,
 * OpenAPI, version, health) and system:basic-user (the self reviews).
 */
function bootstrapAllowed(a: AuthorizationAttributes): boolean {
  if (!a.resourceRequest) {
    const p = a.path ?? ''
    return a.verb === 'get' && (/^\/(api|apis|openapi)(\/|$)/.test(p) || PUBLIC_PATHS.has(p))
  }
  return (
    a.verb === 'create' &&
    ((a.group === 'authorization.k8s.io' && (a.resource === 'selfsubjectaccessreviews' || a.resource === 'selfsubjectrulesreviews')) ||
      (a.group === 'authentication.k8s.io' && a.resource === 'selfsubjectreviews'))
  )
}

/**
 * Asks the authorizer; `system:masters` is always allowed, and every authenticated user
 * may read discovery and create the self reviews (kube-apiserver's bootstrap roles).
 */
export function decide(authorizer: Authorizer | undefined, a: AuthorizationAttributes): { allowed: boolean; reason: string } {
  if (a.user.groups.includes(MASTERS)) return { allowed: true, reason: '' }
  if (a.user.groups.includes('system:authenticated') && bootstrapAllowed(a)) return { allowed: true, reason: '' }
  // system:public-info-viewer is bound to unauthenticated users too.
  if (!a.resourceRequest && a.verb === 'get' && PUBLIC_PATHS.has(a.path ?? '')) return { allowed: true, reason: '' }
  if (!authorizer) return { allowed: true, reason: 'the embedded API server has no authorizer: every authenticated user may do everything' }
  const d = authorizer(a)
  return typeof d === 'boolean' ? { allowed: d, reason: '' } : { allowed: d.allowed, reason: d.reason ?? '' }
}

/** 403 Forbidden worded as kube-apiserver's forbiddenMessage. */
export function forbiddenFor(a: AuthorizationAttributes, reason: string): ApiServerStatusError {
  let message: string
  const details: NonNullable<Status['details']> = {}
  if (!a.resourceRequest) {
    message = `forbidden: User "${a.user.username}" cannot ${a.verb} path "${a.path}"`
  } else {
    const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource!
    const where = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope'
    const what = `User "${a.user.username}" cannot ${a.verb} resource "${resource}" in API group "${a.group}" ${where}`
    const gr = a.group ? `${a.resource}.${a.group}` : a.resource!
    message = a.name ? `${gr} "${a.name}" is forbidden: ${what}` : `${gr} is forbidden: ${what}`
    if (a.name) details.name = a.name
    if (a.group) details.group = a.group
    details.kind = a.resource!
  }
  if (reason) message += `: ${reason}`
  return new ApiServerStatusError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'Forbidden', details, code: 403 })
}

/** Whether a route is one of the review endpoints answered by {@link review}. */
export function isReview(r: Route): boolean {
  return (
    r.type === 'resource' &&
    r.name === undefined &&
    ((r.group === 'authorization.k8s.io' && r.version === 'v1' && (r.plural === 'selfsubjectaccessreviews' || r.plural === 'selfsubjectrulesreviews')) ||
      (r.group === 'authentication.k8s.io' && r.version === 'v1' && r.plural === 'selfsubjectreviews'))
  )
}

/**
 * Answers a create of SelfSubjectAccessReview, SelfSubjectRulesReview or SelfSubjectReview
 * (the body already decoded from JSON or protobuf): the review with its `status` filled.
 */
export function review(authorizer: Authorizer | undefined, user: UserInfo, plural: string, body: any): Record<string, unknown> {
  if (!body || typeof body !== 'object') throw badRequest('the review body must be an object')
  const meta = { ...(body.metadata ?? {}) }
  meta.creationTimestamp ??= null
  if (plural === 'selfsubjectreviews') {
    return { kind: 'SelfSubjectReview', apiVersion: 'authentication.k8s.io/v1', metadata: meta, status: { userInfo: userInfoJson(user) } }
  }
  const spec = body.spec ?? {}
  if (plural === 'selfsubjectrulesreviews') {
    const all = decide(authorizer, { user, verb: '*', resourceRequest: true, group: '*', resource: '*', namespace: spec.namespace })
    const status = user.groups.includes(MASTERS) || !authorizer
      ? {
          resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }],
          nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }],
          incomplete: false,
        }
      : {
          resourceRules: all.allowed ? [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }] : [],
          nonResourceRules: [],
          incomplete: true,
          evaluationError: 'the embedded API server authorizes with a function: its rules cannot be listed',
        }
    return { kind: 'SelfSubjectRulesReview', apiVersion: 'authorization.k8s.io/v1', metadata: meta, spec, status }
  }
  const ra = spec.resourceAttributes
  const na = spec.nonResourceAttributes
  if (!ra && !na) throw badRequest('exactly one of nonResourceAttributes or resourceAttributes must be specified')
  const a: AuthorizationAttributes = ra
    ? {
        user,
        verb: String(ra.verb ?? ''),
        resourceRequest: true,
        group: String(ra.group ?? ''),
        version: String(ra.version ?? ''),
        resource: String(ra.resource ?? ''),
        ...(ra.subresource ? { subresource: String(ra.subresource) } : {}),
        ...(ra.namespace ? { namespace: String(ra.namespace) } : {}),
        ...(ra.name ? { name: String(ra.name) } : {}),
      }
    : { user, verb: String(na.verb ?? ''), resourceRequest: false, path: String(na.path ?? '') }
  const d = decide(authorizer, a)
  const status: Record<string, unknown> = { allowed: d.allowed }
  if (d.reason) status.reason = d.reason
  return { kind: 'SelfSubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', metadata: meta, spec, status }
}

function userInfoJson(u: UserInfo): Record<string, unknown> {
  return { username: u.username, ...(u.uid ? { uid: u.uid } : {}), groups: u.groups }
}
