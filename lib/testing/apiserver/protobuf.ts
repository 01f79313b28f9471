/**
 * Kubernetes protobuf bodies for the embedded API server: the envelope (`k8s\0` +
 * `runtime.Unknown`) and the built-in kinds it serves, decoded to and encoded from the
 * JSON shape kube-apiserver's encoding/json would produce for the same Go object.
 *
 * Wire work is protobufjs's (reflection `Type`s built at first use); the field numbers,
 * types and JSON facts are data generated from the pinned Kubernetes Go types by
 * testing/protogen (data/protobuf-schema.json), so no Go runs here. What is written here
 * is only the mapping Go's own types do by hand: metav1.Time/MicroTime (Timestamp ↔
 * RFC 3339), Duration, resource.Quantity, intstr.IntOrString, RawExtension, the
 * apiextensions JSONSchemaProps unions, and encoding/json's omitempty/null rules.
 *
 * Anchors: k8s.io/apimachinery/pkg/runtime/serializer/protobuf (the envelope),
 * k8s.io/apimachinery/pkg/apis/meta/v1/time_proto.go, micro_time_proto.go,
 * k8s.io/apimachinery/pkg/util/intstr, k8s.io/apimachinery/pkg/api/resource.
 */
import { existsSync, readFileSync } from 'node:fs'
import protobuf from 'protobufjs'
import { badRequest } from './status.ts'

/**
 * Reads a generated data file: beside this module in lib/, or from lib/ when running the
 * compiled dist/ build (the package ships both).
 */
export function readDataFile(name: string): unknown {
  const here = new URL(`./data/${name}`, import.meta.url)
  const fromDist = new URL(`../../../lib/testing/apiserver/data/${name}`, import.meta.url)
  return JSON.parse(readFileSync(existsSync(here) ? here : fromDist, 'utf8'))
}

/** The content type of Kubernetes protobuf bodies. */
export const PROTOBUF_CONTENT_TYPE = 'application/vnd.kubernetes.protobuf'

/** The 4-byte magic before every protobuf-encoded object (runtime/serializer/protobuf). */
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00])

interface FieldDef {
  name: string
  number: number
  json?: string
  omitempty?: boolean
  omitzero?: boolean
  inline?: boolean
  pointer?: boolean
  repeated?: boolean
  type: string
  key?: string
}

interface MessageDef {
  special?: string
  fields: FieldDef[]
}

interface SchemaFile {
  kubernetes: string
  kinds: Record<string, string>
  messages: Record<string, MessageDef>
}

const SCALARS = new Set(['string', 'bytes', 'bool', 'int32', 'int64', 'uint32', 'uint64', 'double'])

type Json = unknown
type Obj = Record<string, any>

/** The loaded schema and its protobufjs types; built once, at first use. */
class Codec {
  readonly schema: SchemaFile
  readonly #types = new Map<string, protobuf.Type>()

  constructor(schema: SchemaFile) {
    this.schema = schema
    const root = new protobuf.Root()
    // protobufjs resolves type references by full name: register every message under a
    // name without dots (the Go path's dots would read as nested namespaces).
    const local = (n: string) => n.replace(/[^A-Za-z0-9_]/g, '_')
    for (const [name, m] of Object.entries(schema.messages)) {
      const t = new protobuf.Type(local(name))
      for (const f of m.fields) {
        const type = SCALARS.has(f.type) ? f.type : local(f.type)
        if (f.key) t.add(new protobuf.MapField(f.name, f.number, f.key, type))
        else t.add(new protobuf.Field(f.name, f.number, type, f.repeated ? 'repeated' : 'optional'))
      }
      root.add(t)
      this.#types.set(name, t)
    }
    root.resolveAll()
  }

  type(name: string): protobuf.Type {
    return this.#types.get(name)!
  }

  message(name: string): MessageDef {
    return this.schema.messages[name]!
  }
}

let codec: Codec | undefined

function getCodec(): Codec {
  codec ??= new Codec(readDataFile('protobuf-schema.json') as SchemaFile)
  return codec
}

/** Whether a built-in kind (by `apiVersion` and `kind`) has a protobuf encoding here. */
export function hasProtobuf(apiVersion: string, kind: string): boolean {
  return messageOf(getCodec(), apiVersion, kind) !== undefined
}

/**
 * The message of a kind: DeleteOptions, Status, WatchEvent and the other meta/v1 kinds
 * are registered in every group version (metav1.AddToGroupVersion), so a typed client
 * sends `v1, Kind=DeleteOptions` or `apps/v1, Kind=DeleteOptions`.
 */
function messageOf(c: Codec, apiVersion: string, kind: string): string | undefined {
  return c.schema.kinds[`${apiVersion}/${kind}`] ?? c.schema.kinds[`meta.k8s.io/v1/${kind}`]
}

// --- decoding: protobuf -> JSON ------------------------------------------------------

function num(v: any): number {
  return typeof v === 'number' ? v : v && typeof v === 'object' && 'low' in v ? protobuf.util.LongBits.from(v).toNumber(!!v.unsigned) : Number(v ?? 0)
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0')
}

/** Go's time.Format(time.RFC3339) in UTC, or with 6 fractional digits (RFC3339Micro). */
function formatTime(seconds: number, nanos: number, micro: boolean): string {
  const d = new Date(seconds * 1000)
  const base = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
  return micro ? `${base}.${pad(Math.floor(nanos / 1000), 6)}Z` : `${base}Z`
}

/** Go's time.Duration.String(). */
export function formatDuration(ns: number): string {
  if (ns === 0) return '0s'
  const neg = ns < 0
  let u = Math.abs(ns)
  let out: string
  if (u < 1e9) {
    const [unit, div] = u < 1e3 ? ['ns', 1] : u < 1e6 ? ['µs', 1e3] : ['ms', 1e6]
    out = `${trimFloat(u / (div as number))}${unit}`
  } else {
    const h = Math.floor(u / 3.6e12)
    u -= h * 3.6e12
    const m = Math.floor(u / 6e10)
    u -= m * 6e10
    const s = `${trimFloat(u / 1e9)}s`
    out = h > 0 ? `${h}h${m}m${s}` : m > 0 ? `${m}m${s}` : s
  }
  return neg ? `-${out}` : out
}

function trimFloat(x: number): string {
  return String(Number(x.toFixed(9)))
}

/** Go's time.ParseDuration, for the JSON form of metav1.Duration. */
export function parseDuration(s: string): number {
  const m = /^([-+]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h))+$/.exec(s)
  if (!m && s !== '0') throw badRequest(`time: invalid duration "${s}"`)
  if (s === '0') return 0
  const unit: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 6e10, h: 3.6e12 }
  let total = 0
  for (const p of s.matchAll(/((?:\d+(?:\.\d*)?|\.\d+))(ns|us|µs|ms|s|m|h)/g)) total += Number(p[1]) * unit[p[2]!]!
  return Math.round(m![1] === '-' ? -total : total)
}

function present(f: FieldDef, msg: Obj): boolean {
  const v = msg[f.name]
  if (f.key) return v !== undefined && v !== null && Object.keys(v).length > 0
  if (f.repeated) return Array.isArray(v) && v.length > 0
  return Object.hasOwn(msg, f.name)
}

/** Go's encoding/json omitempty test on the converted value. */
function isEmpty(f: FieldDef, v: Json, wasPresent: boolean): boolean {
  if (f.pointer) return !wasPresent
  if (f.key || f.repeated) return v === null || (Array.isArray(v) ? v.length === 0 : Object.keys(v as Obj).length === 0)
  if (!SCALARS.has(f.type)) return false // a struct is never empty to encoding/json
  return v === null || v === '' || v === 0 || v === false
}

/** Go's omitzero test (the zero value, or IsZero) on a decoded field value. */
function isZero(c: Codec, f: FieldDef, v: any): boolean {
  if (v === undefined || v === null) return true
  if (f.key) return Object.keys(v).length === 0
  if (f.repeated) return v.length === 0
  if (SCALARS.has(f.type)) return f.type === 'bytes' ? v.length === 0 : f.type.endsWith('64') ? num(v) === 0 : !v
  const m = c.message(f.type)
  return m.fields.every((g) => !Object.hasOwn(v, g.name) || isZero(c, g, v[g.name]))
}

function scalarToJson(type: string, v: any): Json {
  switch (type) {
    case 'int64':
    case 'uint64':
      return num(v)
    case 'bytes':
      return Buffer.from(v as Uint8Array).toString('base64')
    default:
      return v
  }
}

function scalarZero(type: string): Json {
  return type === 'string' || type === 'bytes' ? (type === 'bytes' ? null : '') : type === 'bool' ? false : 0
}

function rawToJson(raw: Uint8Array | undefined): Json {
  if (!raw || raw.length === 0) return null
  const b = Buffer.from(raw)
  if (b.subarray(0, 4).equals(MAGIC)) return decodeProtobuf(b)
  try {
    return JSON.parse(b.toString('utf8'))
  } catch {
    throw badRequest('the embedded object is neither JSON nor a Kubernetes protobuf object')
  }
}

function byNumber(m: MessageDef, n: number): FieldDef {
  return m.fields.find((f) => f.number === n)!
}

function messageToJson(c: Codec, name: string, msg: Obj | undefined): Json {
  const m = c.message(name)
  const get = (n: number) => (msg ? msg[byNumber(m, n).name] : undefined)
  const has = (n: number) => msg !== undefined && present(byNumber(m, n), msg)
  switch (m.special) {
    case 'time':
    case 'microtime': {
      const s = num(get(1))
      const ns = num(get(2))
      return s === 0 && ns === 0 ? null : formatTime(s, ns, m.special === 'microtime')
    }
    case 'duration':
      return formatDuration(num(get(1)))
    case 'quantity':
      return (get(1) as string | undefined) || '0'
    case 'intorstring':
      return num(get(1)) === 1 ? (get(3) ?? '') : num(get(2))
    case 'rawextension':
    case 'json':
      return rawToJson(get(1))
    case 'list':
      return ((get(1) as any[]) ?? []).map((v) => valueToJson(c, byNumber(m, 1), v))
    case 'propsorarray':
      if (has(2)) return (get(2) as Obj[]).map((v) => messageToJson(c, byNumber(m, 2).type, v))
      return has(1) ? messageToJson(c, byNumber(m, 1).type, get(1)) : null
    case 'propsorbool':
      if (has(2)) return messageToJson(c, byNumber(m, 2).type, get(2))
      return !!get(1)
    case 'propsorstringarray':
      if (has(2)) return get(2)
      return has(1) ? messageToJson(c, byNumber(m, 1).type, get(1)) : null
  }
  const out: Obj = {}
  for (const f of m.fields) {
    const p = msg !== undefined && present(f, msg)
    let v: Json
    if (p) v = valueToJson(c, f, msg![f.name])
    else if (f.pointer || f.repeated || f.key) v = null
    else v = SCALARS.has(f.type) ? scalarZero(f.type) : messageToJson(c, f.type, undefined)
    if (f.inline) {
      if (v && typeof v === 'object') Object.assign(out, v)
      continue
    }
    if (!f.json) continue
    if (f.omitempty && isEmpty(f, v, p)) continue
    if (f.omitzero && (f.pointer ? !p : !p || isZero(c, f, msg![f.name]))) continue
    out[f.json] = v
  }
  return out
}

function valueToJson(c: Codec, f: FieldDef, v: any): Json {
  const one = (x: any) => (SCALARS.has(f.type) ? scalarToJson(f.type, x) : messageToJson(c, f.type, x))
  if (f.key) {
    const out: Obj = {}
    for (const [k, x] of Object.entries(v as Obj)) out[k] = one(x)
    return out
  }
  if (f.repeated) return (v as any[]).map(one)
  return one(v)
}

/**
 * Decodes a protobuf body (`k8s\0` + runtime.Unknown) to the JSON object kube-apiserver
 * would have read from the same Go client speaking JSON. Throws a 400 `ApiStatusError`
 * for a body that is not one, or of a kind not served here.
 */
export function decodeProtobuf(body: Uint8Array): Obj {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength)
  if (buf.length < 4 || !buf.subarray(0, 4).equals(MAGIC)) {
    throw badRequest('provided input did not begin with the Kubernetes protobuf magic prefix "k8s\\x00"')
  }
  const c = getCodec()
  let unknown: Obj
  try {
    unknown = c.type(c.schema.kinds['runtime.Unknown']!).decode(buf.subarray(4)) as unknown as Obj
  } catch (err) {
    throw badRequest(`the protobuf envelope could not be decoded: ${(err as Error).message}`)
  }
  const apiVersion: string = unknown.typeMeta?.apiVersion ?? ''
  const kind: string = unknown.typeMeta?.kind ?? ''
  if (unknown.contentEncoding) throw badRequest(`unsupported protobuf content encoding "${unknown.contentEncoding}"`)
  const name = messageOf(c, apiVersion, kind)
  if (!name) {
    throw badRequest(`the object provided is unrecognized: no protobuf encoding of ${apiVersion}, Kind=${kind} is served here`)
  }
  let msg: Obj
  try {
    msg = c.type(name).decode(unknown.raw ?? new Uint8Array()) as unknown as Obj
  } catch (err) {
    throw badRequest(`the protobuf body of ${apiVersion}, Kind=${kind} could not be decoded: ${(err as Error).message}`)
  }
  const json = messageToJson(c, name, msg) as Obj
  return { kind, apiVersion, ...json }
}

// --- encoding: JSON -> protobuf ------------------------------------------------------

function timeFromJson(v: Json, micro: boolean): Obj | undefined {
  if (v === null || v === undefined) return undefined
  const ms = Date.parse(String(v))
  if (Number.isNaN(ms)) throw badRequest(`invalid time ${JSON.stringify(v)}`)
  const seconds = Math.floor(ms / 1000)
  const frac = /\.(\d+)/.exec(String(v))?.[1] ?? ''
  const nanos = micro ? Math.floor(Number(`0.${frac || '0'}`) * 1e6) * 1000 : 0
  return { seconds, nanos }
}

function messageFromJson(c: Codec, name: string, v: any): Obj | undefined {
  const m = c.message(name)
  const f = (n: number) => byNumber(m, n)
  switch (m.special) {
    case 'time':
    case 'microtime':
      return timeFromJson(v, m.special === 'microtime') ?? {}
    case 'duration':
      return { [f(1).name]: parseDuration(String(v)) }
    case 'quantity':
      return { [f(1).name]: String(v) }
    case 'intorstring':
      return typeof v === 'number' ? { [f(1).name]: 0, [f(2).name]: v } : { [f(1).name]: 1, [f(3).name]: String(v) }
    case 'rawextension':
    case 'json':
      return { [f(1).name]: Buffer.from(JSON.stringify(v)) }
    case 'list':
      return { [f(1).name]: (v as any[]).map((x) => fieldFromJson(c, { ...f(1), repeated: false }, x)) }
    case 'propsorarray':
      return Array.isArray(v)
        ? { [f(2).name]: v.map((x) => messageFromJson(c, f(2).type, x)) }
        : { [f(1).name]: messageFromJson(c, f(1).type, v) }
    case 'propsorbool':
      return typeof v === 'boolean' ? { [f(1).name]: v } : { [f(1).name]: true, [f(2).name]: messageFromJson(c, f(2).type, v) }
    case 'propsorstringarray':
      return Array.isArray(v) ? { [f(2).name]: v.map(String) } : { [f(1).name]: messageFromJson(c, f(1).type, v) }
  }
  if (v === null || typeof v !== 'object') return {}
  const out: Obj = {}
  for (const fd of m.fields) {
    if (fd.inline) {
      out[fd.name] = messageFromJson(c, fd.type, v)
      continue
    }
    if (!fd.json) continue
    const x = v[fd.json]
    if (x === undefined || x === null) continue
    if (fd.key) {
      const map: Obj = {}
      for (const [k, y] of Object.entries(x as Obj)) if (y !== null) map[k] = fieldFromJson(c, fd, y)
      out[fd.name] = map
    } else if (fd.repeated) {
      out[fd.name] = (x as any[]).map((y) => fieldFromJson(c, fd, y))
    } else {
      const y = fieldFromJson(c, fd, x)
      if (y !== undefined) out[fd.name] = y
    }
  }
  return out
}

function fieldFromJson(c: Codec, f: FieldDef, v: any): any {
  switch (f.type) {
    case 'string':
      return String(v)
    case 'bool':
      return Boolean(v)
    case 'int32':
    case 'int64':
    case 'uint32':
    case 'uint64':
    case 'double':
      return Number(v)
    case 'bytes':
      return Buffer.from(String(v), 'base64')
    default:
      return messageFromJson(c, f.type, v)
  }
}

/**
 * Encodes a JSON object of a built-in kind as kube-apiserver's protobuf serializer would
 * (`k8s\0` + runtime.Unknown), or returns undefined when its kind has no protobuf
 * encoding (custom resources, Tables): the caller then answers JSON, as the real
 * server does for a client that also accepts JSON.
 */
export function encodeProtobuf(obj: Obj): Buffer | undefined {
  const raw = rawMessage(obj)
  return raw ? envelope(String(obj.apiVersion), String(obj.kind), raw) : undefined
}

/**
 * The message bytes of an object (no envelope), computed once per object: stored objects
 * are immutable, so GETs, lists and watch replays of the same object share them (as
 * store.ts's objectJson shares the JSON text).
 */
const rawCache = new WeakMap<object, Uint8Array | null>()

function rawMessage(obj: Obj): Uint8Array | undefined {
  let raw = rawCache.get(obj)
  if (raw === undefined) {
    const c = getCodec()
    const name = messageOf(c, String(obj.apiVersion ?? ''), String(obj.kind ?? ''))
    raw = name ? c.type(name).encode(messageFromJson(c, name, obj) as Obj).finish() : null
    rawCache.set(obj, raw)
  }
  return raw ?? undefined
}

function envelope(apiVersion: string, kind: string, raw: Uint8Array): Buffer {
  const c = getCodec()
  const unknown = c.type(c.schema.kinds['runtime.Unknown']!).encode({ typeMeta: { apiVersion, kind }, raw }).finish()
  return Buffer.concat([MAGIC, unknown])
}

/**
 * Encodes a list (`{kind, apiVersion, metadata}` and stored items) as protobuf, each item
 * from its cached message bytes; undefined when the list kind has no protobuf encoding.
 */
export function encodeProtobufList(list: { kind: string; apiVersion: string; metadata: Obj }, items: readonly Obj[]): Buffer | undefined {
  const c = getCodec()
  const name = messageOf(c, list.apiVersion, list.kind)
  if (!name) return undefined
  const itemsField = c.message(name).fields.find((f) => f.json === 'items')
  if (!itemsField) return undefined
  const head = c.type(name).encode(messageFromJson(c, name, { metadata: list.metadata }) as Obj).finish()
  const parts: Uint8Array[] = [head]
  const tag = (itemsField.number << 3) | 2
  for (const item of items) {
    // Items carry the list's element kind; their bytes are the object's message bytes.
    const raw = rawMessage(item.kind ? item : { ...item, kind: list.kind.replace(/List$/, ''), apiVersion: list.apiVersion })
    if (!raw) return undefined
    parts.push(protobuf.Writer.create().uint32(tag).uint32(raw.length).finish(), raw)
  }
  return envelope(list.apiVersion, list.kind, Buffer.concat(parts))
}

/**
 * Whether a request's Accept header prefers protobuf (its first media type), as typed
 * client-go clients send `application/vnd.kubernetes.protobuf, application/json`.
 */
export function prefersProtobuf(accept: string | undefined): boolean {
  if (!accept) return false
  const first = accept.split(',')[0]!.split(';')[0]!.trim().toLowerCase()
  return first === PROTOBUF_CONTENT_TYPE
}

/** The schema's Kubernetes version (the pinned one it was generated from). */
export function protobufSchemaVersion(): string {
  return getCodec().schema.kubernetes
}
