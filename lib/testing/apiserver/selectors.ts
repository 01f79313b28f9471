/**
 * Label and field selectors, parsed and matched like k8s.io/apimachinery
 * `pkg/labels/selector.go` and `pkg/fields/selector.go`.
 */

/** A parse failure; the server answers 400 BadRequest with this message. */
export class SelectorError extends Error {}

type LabelOp = 'exists' | '!exists' | '=' | '!=' | 'in' | 'notin' | 'gt' | 'lt'

interface LabelRequirement {
  key: string
  op: LabelOp
  values: string[]
}

/** A parsed label selector; `matches` tests an object's labels. */
export interface LabelSelector {
  readonly empty: boolean
  matches(labels: Record<string, string> | undefined): boolean
}

const NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

/** Validates a label key (qualified name), returning an error text or undefined. */
export function labelKeyError(key: string): string | undefined {
  const parts = key.split('/')
  let name = key
  if (parts.length === 2) {
    const prefix = parts[0]!
    name = parts[1]!
    if (prefix.length === 0 || prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix))
      return `prefix part must be a lowercase RFC 1123 subdomain`
  } else if (parts.length > 2) {
    return `a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`
  }
  if (name.length === 0) return 'name part must be non-empty'
  if (name.length > 63) return 'name part must be no more than 63 characters'
  if (!NAME.test(name))
    return `name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`
  return undefined
}

/** Validates a label value, returning an error text or undefined. */
export function labelValueError(value: string): string | undefined {
  if (value === '') return undefined
  if (value.length > 63) return 'must be no more than 63 characters'
  if (!NAME.test(value))
    return `a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`
  return undefined
}

type Token =
  | { t: 'id'; v: string }
  | { t: 'op'; v: '=' | '==' | '!=' | '!' | '(' | ')' | ',' | '>' | '<' }
  | { t: 'end' }

function lex(input: string): Token[] {
  const out: Token[] = []
  let i = 0
  while (i < input.length) {
    const c = input[i]!
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++
      continue
    }
    const two = input.slice(i, i + 2)
    if (two === '==' || two === '!=') {
      out.push({ t: 'op', v: two })
      i += 2
      continue
    }
    if (c === '=' || c === '!' || c === '(' || c === ')' || c === ',' || c === '>' || c === '<') {
      out.push({ t: 'op', v: c })
      i++
      continue
    }
    let j = i
    while (j < input.length && !' \t\n\r=!(),<>'.includes(input[j]!)) j++
    out.push({ t: 'id', v: input.slice(i, j) })
    i = j
  }
  out.push({ t: 'end' })
  return out
}

function show(tok: Token): string {
  return tok.t === 'end' ? '' : tok.v
}

/**
 * Parses a label selector (`a=b,c!=d,e in (f,g),h notin (i),j,!k,l>1`). An empty string
 * selects everything. Throws {@link SelectorError} with the apiserver's wording.
 */
export function parseLabelSelector(input: string): LabelSelector {
  const toks = lex(input)
  let p = 0
  const reqs: LabelRequirement[] = []
  const fail = (msg: string): never => {
    throw new SelectorError(`unable to parse requirement: ${msg}`)
  }
  const peek = () => toks[p]!
  const next = () => toks[p++]!
  if (peek().t === 'end') return { empty: true, matches: () => true }
  for (;;) {
    let tok = next()
    let op: LabelOp | undefined
    if (tok.t === 'op' && tok.v === '!') {
      op = '!exists'
      tok = next()
    }
    if (tok.t !== 'id') fail(`found '${show(tok)}', expected: !, identifier, or 'end of string'`)
    const key = (tok as { v: string }).v
    const keyErr = labelKeyError(key)
    // apimachinery's label parser reports a key error without a field path: "<nil>: Invalid value".
    if (keyErr) fail(`<nil>: Invalid value: ${JSON.stringify(key)}: ${keyErr}`)
    let values: string[] = []
    if (!op) {
      const o = peek()
      if (o.t === 'end' || (o.t === 'op' && o.v === ',')) op = 'exists'
      else if (o.t === 'op' && (o.v === '=' || o.v === '==' || o.v === '!=' || o.v === '>' || o.v === '<')) {
        next()
        op = o.v === '!=' ? '!=' : o.v === '>' ? 'gt' : o.v === '<' ? 'lt' : '='
        const v = peek()
        if (v.t === 'id') {
          next()
          values = [v.v]
        } else if (v.t === 'end' || (v.t === 'op' && v.v === ',')) values = ['']
        else fail(`found '${show(v)}', expected: identifier`)
        if ((op === 'gt' || op === 'lt') && !/^-?\d+$/.test(values[0]!))
          fail(`for 'Gt', 'Lt' operators, the value must be an integer`)
      } else if (o.t === 'id' && (o.v === 'in' || o.v === 'notin')) {
        next()
        op = o.v
        const open = next()
        if (!(open.t === 'op' && open.v === '(')) fail(`found '${show(open)}', expected: '('`)
        for (;;) {
          const v = next()
          if (v.t === 'id') {
            values.push(v.v)
            const sep = next()
            if (sep.t === 'op' && sep.v === ')') break
            if (!(sep.t === 'op' && sep.v === ',')) fail(`found '${show(sep)}', expected: ',' or ')'`)
          } else if (v.t === 'op' && v.v === ')') {
            values.push('')
            break
          } else if (v.t === 'op' && v.v === ',') {
            values.push('')
          } else fail(`found '${show(v)}', expected: ',', ')' or identifier`)
        }
      } else {
        fail(`found '${show(o)}', expected: in, notin, =, ==, !=, gt, lt`)
      }
    } else {
      const o = peek()
      if (!(o.t === 'end' || (o.t === 'op' && o.v === ','))) fail(`found '${show(o)}', expected: ',' or 'end of string'`)
    }
    if (op !== 'gt' && op !== 'lt') {
      for (const v of values) {
        const err = labelValueError(v)
        if (err) fail(`values[0][${key}]: Invalid value: ${JSON.stringify(v)}: ${err}`)
      }
    }
    reqs.push({ key, op: op!, values })
    const sep = next()
    if (sep.t === 'end') break
    if (!(sep.t === 'op' && sep.v === ',')) fail(`found '${show(sep)}', expected: ',' or 'end of string'`)
  }
  return {
    empty: false,
    matches(labels) {
      const l = labels ?? {}
      for (const r of reqs) {
        const has = Object.hasOwn(l, r.key)
        const v = l[r.key]
        switch (r.op) {
          case 'exists':
            if (!has) return false
            break
          case '!exists':
            if (has) return false
            break
          case '=':
          case 'in':
            if (!has || !r.values.includes(v!)) return false
            break
          case '!=':
          case 'notin':
            if (has && r.values.includes(v!)) return false
            break
          case 'gt':
          case 'lt': {
            if (!has || !/^-?\d+$/.test(v!)) return false
            const n = Number(v)
            const bound = Number(r.values[0])
            if (r.op === 'gt' ? !(n > bound) : !(n < bound)) return false
            break
          }
        }
      }
      return true
    },
  }
}

/** One `field=value` / `field!=value` term. */
export interface FieldRequirement {
  field: string
  op: '=' | '!='
  value: string
}

/**
 * Parses a field selector (`metadata.name=x,status.phase!=Running`), honouring `\,`,
 * `\=` and `\\` escapes. Throws {@link SelectorError} on bad syntax.
 */
export function parseFieldSelector(input: string): FieldRequirement[] {
  if (input.trim() === '') return []
  const terms: string[] = []
  let cur = ''
  for (let i = 0; i < input.length; i++) {
    const c = input[i]!
    if (c === '\\' && i + 1 < input.length) {
      cur += c + input[i + 1]
      i++
    } else if (c === ',') {
      terms.push(cur)
      cur = ''
    } else cur += c
  }
  terms.push(cur)
  const unescapeValue = (s: string) => s.replace(/\\(.)/g, '$1')
  return terms.map((term) => {
    const m = /^((?:[^\\=!]|\\.)*)(!=|==|=)(.*)$/.exec(term)
    if (!m || m[1] === '') throw new SelectorError(`invalid selector: '${input}'; can't understand '${term}'`)
    return { field: m[1]!.trim(), op: m[2] === '!=' ? '!=' : '=', value: unescapeValue(m[3]!) }
  })
}
