/**
 * The real control plane for tests: starts etcd and kube-apiserver binaries (built from Go
 * modules by `npm run envtest:build`) on free loopback ports, the way controller-runtime's
 * `envtest` does for Go, so tests about Kubernetes behaviour run against the real thing.
 *
 * Layout of one running environment (all inside a fresh temporary directory, removed on
 * `stop()`): `etcd/` (data dir), `certs/` (kube-apiserver writes its self-signed serving
 * CA + cert there), `sa.key`/`sa.pub` (service-account key pair), `tokens.csv` (static
 * bearer tokens), `etcd.log`, `kube-apiserver.log`; with `controllerManager: true` also
 * `kube-controller-manager.kubeconfig`, `kcm-certs/` and `kube-controller-manager.log`.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { generateKeyPair, randomBytes } from 'node:crypto'
import { closeSync, existsSync, openSync, readFileSync, rmSync, statSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:https'
import { createServer } from 'node:net'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { KubeConfig } from '@kubernetes/client-node'
import { KubevisorError } from '../errors.ts'
import { defaultLogger, type Logger } from '../log.ts'
import { type Clock, sleep, systemClock } from '../time/clock.ts'

/**
 * The Kubernetes release `npm run envtest:build` builds (pinned in
 * `testing/envtest/go.mod`); the cache directory is named after it.
 */
export const ENVTEST_KUBERNETES_VERSION = 'v1.34.4'

/** One static bearer token of `--token-auth-file`: a user and its groups. */
export interface EnvtestUser {
  /** The bearer token (any string without commas or quotes). */
  token: string
  /** The user name the API server sees. */
  name: string
  /** Group memberships; `system:masters` bypasses RBAC. */
  groups?: string[]
}

/** Options for {@link startKubeApiServer}; every field has a working default. */
export interface StartKubeApiServerOptions {
  /**
   * Directory holding the `kube-apiserver` and `etcd` binaries. Default: the first of
   * `$KUBEVISOR_ENVTEST_ASSETS`, `$KUBEBUILDER_ASSETS`, then
   * `${KUBEVISOR_CACHE:-~/.cache/kubevisor}/envtest/<ENVTEST_KUBERNETES_VERSION>/`.
   */
  assetsDir?: string
  /** The admin's bearer token (user `envtest-admin`, group `system:masters`). Default: random. */
  token?: string
  /** More static-token users, e.g. an unprivileged one to get 403 Forbidden. */
  users?: EnvtestUser[]
  /** `--authorization-mode`. Default `RBAC` (the admin token is in `system:masters`). */
  authorizationMode?: 'RBAC' | 'AlwaysAllow'
  /**
   * `false` passes `--watch-cache=false`: lists and watches are served from etcd
   * directly, so a watch from a compacted resourceVersion gets 410 Expired as soon as
   * etcd has compacted. Default: the watch cache is on, as in a real cluster.
   */
  watchCache?: boolean
  /**
   * `--etcd-compaction-interval` (a Go duration, e.g. `'2s'`; `'0'` disables). The API
   * server compacts etcd to the revision it saw one interval earlier. Default: the API
   * server's own (5m).
   */
  etcdCompactionInterval?: string
  /** `--feature-gates`, e.g. `{ WatchList: true }`. */
  featureGates?: Record<string, boolean>
  /** `--service-cluster-ip-range`. Default `10.0.0.0/24`. */
  serviceClusterIpRange?: string
  /**
   * `--disable-admission-plugins`. Default `['ServiceAccount']`: it rejects pods until a
   * controller manager has created the namespace's `default` service account, and no
   * controller manager runs here.
   */
  disableAdmissionPlugins?: string[]
  /** Extra kube-apiserver flags, appended last (`--flag=value`). */
  apiServerArgs?: string[]
  /** Extra etcd flags, appended last. */
  etcdArgs?: string[]
  /**
   * Also start kube-controller-manager (built by `npm run envtest:build` from the same
   * k8s.io/kubernetes module), with the garbage collector and namespace controller only
   * (`--controllers`): owner references are honoured and deleted namespaces drain and go, as
   * in a cluster. It authenticates with the admin token (`system:masters`), signs nothing
   * (`--use-service-account-credentials=false`), elects no leader, serves on a free loopback
   * port, and `startKubeApiServer` resolves only once its garbage collector has collected a
   * probe object. controller-runtime's envtest has no such option. Default false.
   */
  controllerManager?: boolean
  /** `--controllers` of kube-controller-manager. Default `['garbage-collector-controller', 'namespace-controller']`. */
  controllers?: string[]
  /** Extra kube-controller-manager flags, appended last. */
  controllerManagerArgs?: string[]
  /** How long to wait for `/readyz` and the `default` namespace. Default 60 s. */
  startTimeoutMs?: number
  /** How long `stop()` waits after SIGTERM before SIGKILL, per process. Default 5 s. */
  stopGraceMs?: number
  /** Keep the temporary directory (logs, data) after `stop()`, for debugging. */
  keepTempDir?: boolean
  /** Time source for the startup deadline and polling. Default: the system clock. */
  clock?: Clock
  /** Default: kubevisor's default logger (`createLogger()` at `$KUBEVISOR_LOG_LEVEL`). The token is never logged. */
  logger?: Logger
}

/** A running etcd + kube-apiserver pair, returned by {@link startKubeApiServer}. */
export interface KubeApiServer {
  /** A client-node `KubeConfig` for the admin user (bearer token, serving CA trusted). */
  kubeConfig: KubeConfig
  /** `https://127.0.0.1:<port>`. */
  url: string
  /** The admin's bearer token (group `system:masters`). */
  token: string
  /** PEM of the serving certificate bundle (leaf + self-signed CA) kube-apiserver made. */
  caPem: string
  /** `http://127.0.0.1:<port>` of etcd, for tests that compact or inspect storage. */
  etcdUrl: string
  /** The process ids, so tests can check they are gone after `stop()`. */
  pids: {
    /** The etcd process. */
    etcd: number
    /** The kube-apiserver process. */
    apiServer: number
    /** The kube-controller-manager process, when it runs. */
    controllerManager?: number
  }
  /** Whether kube-controller-manager runs (option `controllerManager`). */
  controllerManager: boolean
  /** The temporary directory with data, certificates and the two log files. */
  dir: string
  /**
   * Stops kube-apiserver, then etcd (SIGTERM, SIGKILL after the grace period) and removes
   * the temporary directory. Idempotent.
   */
  stop(): Promise<void>
  /** `stop()`, for `await using env = await startKubeApiServer()`. */
  [Symbol.asyncDispose](): Promise<void>
}

/**
 * Neither an explicit directory nor the cache holds the binaries. The message says how to
 * build them (`npm run envtest:build`); `searched` lists where we looked.
 */
export class EnvtestAssetsNotFoundError extends KubevisorError {
  /** The directories looked in, in order. */
  readonly searched: string[]
  constructor(searched: string[], detail: string) {
    super(
      'ERR_ENVTEST_ASSETS_NOT_FOUND',
      `kube-apiserver/etcd binaries not found: ${detail}. Build them once with ` +
        '`npm run envtest:build` (needs Go >= 1.24 and the Go module proxy; ~5 min cold on 2 cores), ' +
        'or point KUBEVISOR_ENVTEST_ASSETS (or KUBEBUILDER_ASSETS) at a directory holding ' +
        `kube-apiserver and etcd. Searched: ${searched.join(', ')}`,
    )
    this.searched = searched
  }
}

/** etcd or kube-apiserver failed to start or become ready; the message ends with their last log lines. */
export class EnvtestStartError extends KubevisorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_ENVTEST_START', message, options)
  }
}

/** Where the binaries are and which source named the directory. */
export interface EnvtestAssets {
  /** The directory holding both binaries. */
  dir: string
  /** Path of `kube-apiserver`. */
  kubeApiServer: string
  /** Path of `etcd`. */
  etcd: string
  /** `kube-controller-manager` in `dir`, when it is there (built by newer `npm run envtest:build` runs). */
  kubeControllerManager?: string
  /** Which setting named the directory: the `assetsDir` option, an environment variable, or the build cache. */
  source: 'option' | 'KUBEVISOR_ENVTEST_ASSETS' | 'KUBEBUILDER_ASSETS' | 'cache'
}

/**
 * Finds the `kube-apiserver` and `etcd` binaries: `assetsDir`, else
 * `$KUBEVISOR_ENVTEST_ASSETS`, else `$KUBEBUILDER_ASSETS`, else the build cache. A directory
 * named explicitly must hold both binaries (no silent fallback to another one).
 *
 * @throws {EnvtestAssetsNotFoundError} with instructions to run `npm run envtest:build`.
 */
export function findEnvtestAssets(assetsDir?: string, env: NodeJS.ProcessEnv = process.env): EnvtestAssets {
  const named: [EnvtestAssets['source'], string | undefined][] = [
    ['option', assetsDir],
    ['KUBEVISOR_ENVTEST_ASSETS', env.KUBEVISOR_ENVTEST_ASSETS],
    ['KUBEBUILDER_ASSETS', env.KUBEBUILDER_ASSETS],
  ]
  const cacheRoot = env.KUBEVISOR_CACHE || join(homedir(), '.cache', 'kubevisor')
  const cacheDir = join(cacheRoot, 'envtest', ENVTEST_KUBERNETES_VERSION)
  const explicit = named.find((entry): entry is [EnvtestAssets['source'], string] => !!entry[1])
  const [source, dir] = explicit ?? ['cache' as const, cacheDir]
  const where = source === 'cache' ? dir : `${dir} (from ${source === 'option' ? 'the assetsDir option' : `$${source}`})`
  const kubeApiServer = join(dir, 'kube-apiserver')
  const etcd = join(dir, 'etcd')
  const missing = [kubeApiServer, etcd].filter((file) => !isExecutable(file))
  if (missing.length > 0) {
    throw new EnvtestAssetsNotFoundError([where], `${missing.join(' and ')} missing or not executable`)
  }
  const kubeControllerManager = join(dir, 'kube-controller-manager')
  return { dir, kubeApiServer, etcd, source, ...(isExecutable(kubeControllerManager) ? { kubeControllerManager } : {}) }
}

function isExecutable(file: string): boolean {
  try {
    const stat = statSync(file)
    return stat.isFile() && (stat.mode & 0o111) !== 0
  } catch {
    return false
  }
}

/**
 * Starts a real etcd and kube-apiserver for a test and waits until the API server is
 * ready (`/readyz`) and has created the `default` namespace.
 *
 * When to use: tests about Kubernetes behaviour itself (resourceVersion semantics, 410
 * Expired, selectors, finalizers...) that must hold against the real server, not only
 * the embedded one. Start one per test file (startup takes seconds) and share it.
 *
 * Gotchas:
 * - No controller manager runs unless `controllerManager: true` (garbage collector and
 *   namespace controller only): without it namespaces never finish deleting and nothing is
 *   garbage collected. No service-account tokens are minted either way; pods are accepted
 *   because the `ServiceAccount` admission plugin is disabled by default.
 * - Both processes are killed by pid on `stop()` and, as a last resort, on this
 *   process's `exit`, SIGINT and SIGTERM; a SIGKILL of the test process cannot be caught.
 * - The binaries come from `npm run envtest:build` (cached under
 *   `~/.cache/kubevisor/envtest/`); without them this throws
 *   {@link EnvtestAssetsNotFoundError}.
 *
 * @example
 * ```ts
 * await using server = await startKubeApiServer({ watchCache: false })
 * const core = server.kubeConfig.makeApiClient(CoreV1Api)
 * await core.listNamespacedConfigMap({ namespace: 'default' })
 * ```
 */
export async function startKubeApiServer(opts: StartKubeApiServerOptions = {}): Promise<KubeApiServer> {
  const assets = findEnvtestAssets(opts.assetsDir)
  if (opts.controllerManager && !assets.kubeControllerManager) {
    throw new EnvtestAssetsNotFoundError(
      [assets.dir],
      `${join(assets.dir, 'kube-controller-manager')} missing or not executable (controllerManager: true needs it; \`npm run envtest:build\` builds it next to kube-apiserver)`,
    )
  }
  // The free ports are found by binding and releasing them, so another process can take one
  // before etcd or kube-apiserver binds it; such a start is retried on fresh ports.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(assets, opts)
    } catch (err) {
      const portTaken = err instanceof EnvtestStartError && err.message.includes('address already in use')
      if (!portTaken || attempt >= 3) throw err
    }
  }
}

async function startOnce(assets: EnvtestAssets, opts: StartKubeApiServerOptions): Promise<KubeApiServer> {
  const clock = opts.clock ?? systemClock
  const logger = (opts.logger ?? defaultLogger()).child({ component: 'envtest' })
  const startTimeoutMs = opts.startTimeoutMs ?? 60_000
  const stopGraceMs = opts.stopGraceMs ?? 5_000
  const token = opts.token ?? randomBytes(24).toString('hex')

  const dir = await mkdtemp(join(tmpdir(), 'kubevisor-envtest-'))
  const env = new Environment(dir, stopGraceMs, opts.keepTempDir ?? false)
  try {
    const [etcdClientPort, etcdPeerPort, securePort, kcmPort] = await freePorts(4)
    const etcdUrl = `http://127.0.0.1:${etcdClientPort}`
    const peerUrl = `http://127.0.0.1:${etcdPeerPort}`
    const url = `https://127.0.0.1:${securePort}`

    const users: EnvtestUser[] = [{ token, name: 'envtest-admin', groups: ['system:masters'] }, ...(opts.users ?? [])]
    await writeFile(join(dir, 'tokens.csv'), users.map(tokenLine).join('\n') + '\n', { mode: 0o600 })
    const { publicKey, privateKey } = await promisify(generateKeyPair)('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    })
    await writeFile(join(dir, 'sa.pub'), publicKey)
    await writeFile(join(dir, 'sa.key'), privateKey, { mode: 0o600 })
    await mkdir(join(dir, 'certs'))

    env.etcd = env.spawn('etcd', assets.etcd, [
      '--name=envtest',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=envtest=${peerUrl}`,
      // Test data need not survive a power cut; skipping fsync makes writes fast on slow disks.
      ...(supportsNoFsync(assets.etcd) ? ['--unsafe-no-fsync=true'] : []),
      ...(opts.etcdArgs ?? []),
    ])

    const apiServerArgs = [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${securePort}`,
      `--cert-dir=${join(dir, 'certs')}`,
      `--token-auth-file=${join(dir, 'tokens.csv')}`,
      `--authorization-mode=${opts.authorizationMode ?? 'RBAC'}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      `--service-cluster-ip-range=${opts.serviceClusterIpRange ?? '10.0.0.0/24'}`,
      `--disable-admission-plugins=${(opts.disableAdmissionPlugins ?? ['ServiceAccount']).join(',')}`,
      '--allow-privileged=true',
      '--profiling=false',
    ]
    if (opts.watchCache === false) apiServerArgs.push('--watch-cache=false')
    if (opts.etcdCompactionInterval !== undefined) {
      apiServerArgs.push(`--etcd-compaction-interval=${opts.etcdCompactionInterval}`)
    }
    const gates = Object.entries(opts.featureGates ?? {})
    if (gates.length > 0) apiServerArgs.push(`--feature-gates=${gates.map(([k, v]) => `${k}=${v}`).join(',')}`)
    apiServerArgs.push(...(opts.apiServerArgs ?? []))
    env.apiServer = env.spawn('kube-apiserver', assets.kubeApiServer, apiServerArgs)
    logger.info(
      { dir, assets: assets.dir, etcdUrl, url, etcdPid: env.etcd.pid, apiServerPid: env.apiServer.pid },
      'envtest: started etcd and kube-apiserver',
    )

    const deadline = clock.now() + startTimeoutMs
    await env.waitFor('/readyz', url, token, deadline, clock)
    await env.waitFor('/api/v1/namespaces/default', url, token, deadline, clock)
    const caPem = await readFile(join(dir, 'certs', 'apiserver.crt'), 'utf8')

    const kubeConfig = new KubeConfig()
    kubeConfig.loadFromOptions({
      clusters: [{ name: 'envtest', server: url, caData: Buffer.from(caPem).toString('base64'), skipTLSVerify: false }],
      users: [{ name: 'envtest-admin', token }],
      contexts: [{ name: 'envtest', cluster: 'envtest', user: 'envtest-admin' }],
      currentContext: 'envtest',
    })
    logger.info({ url }, 'envtest: kube-apiserver ready')
    if (opts.controllerManager) {
      // Its own deadline: the garbage collector's first sync reads discovery and lists every resource.
      const kcmDeadline = clock.now() + startTimeoutMs
      await startControllerManager(env, assets.kubeControllerManager!, { dir, url, caPem, token, port: kcmPort!, opts, deadline: kcmDeadline, clock })
      logger.info({ pid: env.controllerManager?.pid }, 'envtest: kube-controller-manager ready (garbage collector collecting)')
    }

    const stop = async () => {
      await env.stop()
      logger.info({ url }, 'envtest: stopped')
    }
    return {
      kubeConfig,
      url,
      token,
      caPem,
      etcdUrl,
      pids: { etcd: env.etcd.pid!, apiServer: env.apiServer.pid!, ...(env.controllerManager ? { controllerManager: env.controllerManager.pid! } : {}) },
      controllerManager: env.controllerManager !== undefined,
      dir,
      stop,
      [Symbol.asyncDispose]: stop,
    }
  } catch (err) {
    const tails = env.logTails()
    await env.stop(0)
    if (err instanceof EnvtestStartError) {
      throw new EnvtestStartError(`${err.message}\n${tails}`, { cause: err.cause })
    }
    throw new EnvtestStartError(`envtest: startup failed: ${(err as Error).message}\n${tails}`, { cause: err })
  }
}

/**
 * Starts kube-controller-manager against a ready kube-apiserver and waits until its
 * `/healthz` answers and its garbage collector has deleted a probe ConfigMap whose owner
 * does not exist (the collector only acts once its informers have synced).
 */
async function startControllerManager(
  env: Environment,
  binary: string,
  a: { dir: string; url: string; caPem: string; token: string; port: number; opts: StartKubeApiServerOptions; deadline: number; clock: Clock },
): Promise<void> {
  const kubeconfig = join(a.dir, 'kube-controller-manager.kubeconfig')
  const yaml = [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: envtest',
    '  cluster:',
    `    server: ${a.url}`,
    `    certificate-authority-data: ${Buffer.from(a.caPem).toString('base64')}`,
    'users:',
    '- name: envtest-admin',
    '  user:',
    `    token: ${a.token}`,
    'contexts:',
    '- name: envtest',
    '  context:',
    '    cluster: envtest',
    '    user: envtest-admin',
    'current-context: envtest',
    '',
  ].join('\n')
  await writeFile(kubeconfig, yaml, { mode: 0o600 })
  await mkdir(join(a.dir, 'kcm-certs'))
  env.controllerManager = env.spawn('kube-controller-manager', binary, [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    `--controllers=${(a.opts.controllers ?? ['garbage-collector-controller', 'namespace-controller']).join(',')}`,
    `--service-account-private-key-file=${join(a.dir, 'sa.key')}`,
    '--use-service-account-credentials=false',
    '--leader-elect=false',
    '--bind-address=127.0.0.1',
    `--secure-port=${a.port}`,
    `--cert-dir=${join(a.dir, 'kcm-certs')}`,
    '--profiling=false',
    ...(a.opts.controllerManagerArgs ?? []),
  ])
  // /healthz is always allowed (--authorization-always-allow-paths); the token is harmless.
  await env.waitFor('/healthz', `https://127.0.0.1:${a.port}`, a.token, a.deadline, a.clock)
  // The probe: a ConfigMap owned by an object that does not exist, collected once the
  // garbage collector's graph has synced.
  const probeName = `envtest-gc-probe-${randomBytes(4).toString('hex')}`
  const path = `/api/v1/namespaces/default/configmaps`
  const created = await apiRequest(a.url, a.caPem, a.token, 'POST', path, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: probeName,
      ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: `${probeName}-owner`, uid: '00000000-0000-4000-8000-00000000e2e7' }],
    },
  })
  if (created.status !== 201) throw new EnvtestStartError(`envtest: creating the garbage-collector probe failed: HTTP ${created.status}: ${created.body.slice(0, 300)}`)
  for (;;) {
    if (env.exited !== undefined) throw new EnvtestStartError(`envtest: ${env.exited} while waiting for the garbage collector`)
    const got = await apiRequest(a.url, a.caPem, a.token, 'GET', `${path}/${probeName}`)
    if (got.status === 404) return
    if (a.clock.now() >= a.deadline) throw new EnvtestStartError('envtest: timed out waiting for the garbage collector to collect its probe')
    await sleep(a.clock, 200)
  }
}

/** One JSON request to kube-apiserver with the serving CA trusted. */
function apiRequest(url: string, caPem: string, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const req = request(
      `${url}${path}`,
      {
        method,
        ca: caPem,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
        },
        timeout: 5_000,
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (text += chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
        res.on('error', (err) => resolve({ status: 0, body: err.message }))
      },
    )
    req.on('timeout', () => req.destroy(new Error('request timed out')))
    req.on('error', (err) => resolve({ status: 0, body: err.message }))
    if (payload) req.write(payload)
    req.end()
  })
}

const noFsyncSupport = new Map<string, boolean>()

/** etcd >= 3.5 has `--unsafe-no-fsync`; Debian's 3.4 (the documented fallback) does not. */
function supportsNoFsync(etcd: string): boolean {
  let supported = noFsyncSupport.get(etcd)
  if (supported === undefined) {
    const help = spawnSync(etcd, ['--help'], { encoding: 'utf8', timeout: 10_000 })
    supported = `${help.stdout}${help.stderr}`.includes('--unsafe-no-fsync')
    noFsyncSupport.set(etcd, supported)
  }
  return supported
}

/** A `--token-auth-file` line: `token,user,uid,"group1,group2"`. */
function tokenLine(user: EnvtestUser): string {
  for (const field of [user.token, user.name, ...(user.groups ?? [])]) {
    if (/[,"\n]/.test(field)) throw new EnvtestStartError(`envtest: token-file fields may not contain , or ": ${user.name}`)
  }
  const groups = user.groups?.length ? `,"${user.groups.join(',')}"` : ''
  return `${user.token},${user.name},${user.name}${groups}`
}

/** Reserves `n` distinct free loopback ports (listen on :0, read, close). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer()
          server.once('error', reject)
          server.listen(0, '127.0.0.1', () => resolve(server))
        }),
    ),
  )
  const ports = servers.map((s) => {
    const address = s.address()
    if (address === null || typeof address === 'string') throw new Error('unexpected server address')
    return address.port
  })
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
  return ports
}

/** The child processes of one environment and their cleanup. */
class Environment {
  readonly dir: string
  readonly stopGraceMs: number
  readonly keepTempDir: boolean
  etcd: ChildProcess | undefined
  apiServer: ChildProcess | undefined
  controllerManager: ChildProcess | undefined
  /** Set when a child exits before `stop()`: startup fails fast instead of timing out. */
  exited: string | undefined
  private stopping: Promise<void> | undefined
  private readonly logFiles: Record<string, string> = {}

  constructor(dir: string, stopGraceMs: number, keepTempDir: boolean) {
    this.dir = dir
    this.stopGraceMs = stopGraceMs
    this.keepTempDir = keepTempDir
    live.add(this)
    updateExitHooks()
  }

  spawn(name: string, binary: string, args: string[]): ChildProcess {
    const logFile = join(this.dir, `${name}.log`)
    this.logFiles[name] = logFile
    const fd = openSync(logFile, 'a')
    try {
      const child = spawn(binary, args, { stdio: ['ignore', fd, fd] })
      // A forgotten stop() must not keep the test process alive: the exit hook kills it.
      child.unref()
      child.once('exit', (code, signal) => {
        if (this.stopping === undefined) this.exited ??= `${name} exited early (code ${code}, signal ${signal})`
      })
      child.once('error', (err) => {
        this.exited ??= `${name} could not be started: ${err.message}`
      })
      return child
    } finally {
      closeSync(fd)
    }
  }

  /** Polls `path` until it answers 200 with the bearer token, a child exits, or the deadline. */
  async waitFor(path: string, url: string, token: string, deadline: number, clock: Clock): Promise<void> {
    let last = 'no answer yet'
    for (;;) {
      if (this.exited !== undefined) throw new EnvtestStartError(`envtest: ${this.exited} while waiting for ${path}`)
      const answer = await probe(`${url}${path}`, token)
      if (answer.status === 200) return
      last = answer.status === 0 ? answer.body : `HTTP ${answer.status}: ${answer.body.slice(0, 500)}`
      if (clock.now() >= deadline) throw new EnvtestStartError(`envtest: timed out waiting for ${path}; last: ${last}`)
      await sleep(clock, 200)
    }
  }

  /** The last lines of both logs, for error messages. */
  logTails(lines = 25): string {
    // kube-apiserver first: its last lines usually name the failure (a bad flag, etcd unreachable).
    return Object.entries(this.logFiles)
      .reverse()
      .map(([name, file]) => {
        let text = ''
        try {
          text = readFileSync(file, 'utf8')
        } catch {
          text = '(no log)'
        }
        const tail = text.trimEnd().split('\n').slice(-lines).join('\n')
        const where = this.keepTempDir ? file : `${name}.log, removed with the temporary directory unless keepTempDir`
        return `--- last ${lines} lines of ${name} (${where}) ---\n${tail}`
      })
      .join('\n')
  }

  /** Stops both (graceMs 0: SIGKILL at once, for a failed start) and removes the directory. */
  stop(graceMs = this.stopGraceMs): Promise<void> {
    this.stopping ??= (async () => {
      // The controller manager first (it would retry a dead API server), then the API
      // server, so it does not spend its grace period retrying a dead etcd.
      await terminate(this.controllerManager, graceMs)
      await terminate(this.apiServer, graceMs)
      await terminate(this.etcd, graceMs)
      live.delete(this)
      updateExitHooks()
      if (!this.keepTempDir) await rm(this.dir, { recursive: true, force: true })
    })()
    return this.stopping
  }

  /** Synchronous last resort for process exit: SIGKILL both, remove the directory. */
  killNow(): void {
    for (const child of [this.controllerManager, this.apiServer, this.etcd]) {
      if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(child.pid, 'SIGKILL')
        } catch {
          // already gone
        }
      }
    }
    if (!this.keepTempDir && existsSync(this.dir)) {
      try {
        rmSync(this.dir, { recursive: true, force: true })
      } catch {
        // a still-exiting child may hold files; nothing more can be done at exit
      }
    }
  }
}

/** SIGTERM by pid, then SIGKILL after `graceMs` if it has not exited (0: SIGKILL at once). */
async function terminate(child: ChildProcess | undefined, graceMs: number): Promise<void> {
  if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
  child.ref()
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  if (graceMs <= 0) {
    process.kill(child.pid, 'SIGKILL')
    await exited
    return
  }
  process.kill(child.pid, 'SIGTERM')
  let timer: NodeJS.Timeout | undefined
  const timedOut = await Promise.race([
    exited.then(() => false),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs))),
  ])
  clearTimeout(timer)
  if (timedOut) {
    try {
      process.kill(child.pid, 'SIGKILL')
    } catch {
      // exited in between
    }
    await exited
  }
}

/** Environments not yet stopped, killed on process exit. */
const live = new Set<Environment>()

function killAll(): void {
  for (const env of live) env.killNow()
}

/**
 * Signals end Node without an 'exit' event: kill the children, then re-raise the signal
 * with its default behaviour (unless someone else handles it) so the exit status still
 * names it.
 */
const signalHandlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((signal) => {
  const handler = () => {
    killAll()
    removeExitHooks()
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
  }
  return [signal, handler] as const
})
let hooksInstalled = false

/** Installs the exit and signal hooks while any environment is live, removes them after. */
function updateExitHooks(): void {
  if (live.size > 0 && !hooksInstalled) {
    hooksInstalled = true
    process.on('exit', killAll)
    for (const [signal, handler] of signalHandlers) process.on(signal, handler)
  } else if (live.size === 0) {
    removeExitHooks()
  }
}

function removeExitHooks(): void {
  if (!hooksInstalled) return
  hooksInstalled = false
  process.removeListener('exit', killAll)
  for (const [signal, handler] of signalHandlers) process.removeListener(signal, handler)
}

/**
 * One HTTPS GET with the bearer token. Certificate checks are off for this readiness
 * probe only: the serving certificate does not exist until kube-apiserver has written it.
 */
function probe(target: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = request(
      target,
      { method: 'GET', headers: { authorization: `Bearer ${token}` }, rejectUnauthorized: false, timeout: 5_000 },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (body += chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
        res.on('error', (err) => resolve({ status: 0, body: err.message }))
      },
    )
    req.on('timeout', () => req.destroy(new Error('probe timed out')))
    req.on('error', (err) => resolve({ status: 0, body: err.message }))
    req.end()
  })
}
