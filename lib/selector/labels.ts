/**
 * Label selectors, parsed and matched as k8s.io/apimachinery `pkg/labels` does (the string
 * syntax, its validation and its error wording) and `metav1.LabelSelectorAsSelector`
 * (`matchLabels` + `matchExpressions`). One implementation for everything that selects by
 * label: client-side predicates and the embedded API server's `labelSelector` parameter.
 * Depends on nothing but `KubevisorError`.
 */
import { KubevisorError } from '../errors.ts'

/**
 * A label selector that could not be parsed or is invalid (`ERR_INVALID_LABEL_SELECTOR`).
 * `reason` is apimachinery's wording (`unable to parse requirement: …`), what an API server
 * answers with 400 BadRequest.
 */
export class InvalidLabelSelectorError extends KubevisorError {
  /** The selector as given (a string, or the JSON of a spec). */
  readonly selector: string
  /** Why, in the API server's words. */
  readonly reason: string
  constructor(selector: string, reason: string) {
    super('ERR_INVALID_LABEL_SELECTOR', `invalid label selector ${JSON.stringify(selector)}: ${reason}`)
    this.selector = selector
    this.reason = reason
  }
}

/** `metav1.LabelSelectorRequirement`. */
export interface LabelSelectorRequirement {
  key: string
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'
  values?: string[]
}

/** `metav1.LabelSelector`: every `matchLabels` pair and every expression must hold. `{}` selects everything. */
export interface LabelSelectorSpec {
  /** Each `key: value` must be a label of the object. */
  matchLabels?: Record<string, string>
  /** Each requirement (`In`, `NotIn`, `Exists`, `DoesNotExist`) must hold. */
  matchExpressions?: LabelSelectorRequirement[]
}

type Operator = 'exists' | '!exists' | '=' | '!=' | 'in' | 'notin' | 'gt' | 'lt'

/** One parsed requirement; all of a selector's requirements must hold. */
interface Requirement {
  readonly key: string
  readonly op: Operator
  readonly values: readonly string[]
}

const NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const INTEGER = /^-?\d+$/
const NAME_RULE = `consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`

/**
 * Why `key` is not a valid label key (a qualified name: an optional lowercase DNS subdomain
 * prefix and `/`, then 1–63 name characters), in apimachinery's words; `undefined` when valid.
 */
export function labelKeyError(key: string): string | undefined {
  const parts = key.split('/')
  let name = key
  if (parts.length === 2) {
    const prefix = parts[0] as string
    name = parts[1] as string
    if (prefix.length === 0 || prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix)) return 'prefix part must be a lowercase RFC 1123 subdomain'
  } else if (parts.length > 2) {
    return `a qualified name must ${NAME_RULE} (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`
  }
  if (name.length === 0) return 'name part must be non-empty'
  if (name.length > 63) return 'name part must be no more than 63 characters'
  if (!NAME.test(name)) return `name part must ${NAME_RULE} (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`
  return undefined
}

/** Why `value` is not a valid label value (empty, or 1–63 name characters), in apimachinery's words; `undefined` when valid. */
export function labelValueError(value: string): string | undefined {
  if (value === '') return undefined
  if (value.length > 63) return 'must be no more than 63 characters'
  if (!NAME.test(value)) {
    return `a valid label must be an empty string or ${NAME_RULE} (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`
  }
  return undefined
}

/**
 * A parsed label selector: `matches(labels)` and a canonical `toString()` (usable as a
 * server-side `labelSelector`).
 */
export class LabelSelector {
  readonly #requirements: readonly Requirement[]

  private constructor(requirements: readonly Requirement[]) {
    this.#requirements = requirements
  }

  /** Selects every object (the empty selector). */
  static readonly everything: LabelSelector = new LabelSelector([])

  /**
   * Parses the string syntax: requirements separated by commas, each one of `key`,
   * `!key`, `key=value` (or `==`), `key!=value`, `key in (v1,v2)`, `key notin (v1,v2)`,
   * `key>n`, `key<n`. `''` selects everything. As Kubernetes: `!=` and `notin` also select
   * objects without the label; `>`/`<` need the label to be an integer. Throws
   * {@link InvalidLabelSelectorError}.
   *
   * @example
   * ```ts
   * LabelSelector.parse('app=web,tier!=cache,env in (prod,staging),!legacy').matches({ app: 'web', env: 'prod' }) // true
   * ```
   */
  static parse(selector: string): LabelSelector {
    return new LabelSelector(parse(selector))
  }

  /** A selector from a `{ matchLabels, matchExpressions }` object (`metav1.LabelSelectorAsSelector`). */
  static fromSpec(spec: LabelSelectorSpec): LabelSelector {
    const text = JSON.stringify(spec)
    const fail = (message: string): never => {
      throw new InvalidLabelSelectorError(text, message)
    }
    const check = (where: string, key: string, values: readonly string[]) => {
      const keyError = labelKeyError(key)
      if (keyError) fail(`${where}: Invalid value: ${JSON.stringify(key)}: ${keyError}`)
      for (const value of values) {
        const valueError = labelValueError(value)
        if (valueError) fail(`${where}: Invalid value: ${JSON.stringify(value)}: ${valueError}`)
      }
    }
    const requirements: Requirement[] = []
    for (const [key, value] of Object.entries(spec.matchLabels ?? {})) {
      check(`matchLabels[${key}]`, key, [value])
      requirements.push({ key, op: '=', values: [value] })
    }
    for (const [i, expr] of (spec.matchExpressions ?? []).entries()) {
      const values = expr.values ?? []
      check(`matchExpressions[${i}]`, expr.key, values)
      switch (expr.operator) {
        case 'In':
        case 'NotIn':
          if (values.length === 0) fail(`matchExpressions[${i}]: values must be non-empty for ${expr.operator}`)
          requirements.push({ key: expr.key, op: expr.operator === 'In' ? 'in' : 'notin', values: [...values] })
          break
        case 'Exists':
        case 'DoesNotExist':
          if (values.length > 0) fail(`matchExpressions[${i}]: values must be empty for ${expr.operator}`)
          requirements.push({ key: expr.key, op: expr.operator === 'Exists' ? 'exists' : '!exists', values: [] })
          break
        default:
          fail(`matchExpressions[${i}]: unknown operator ${JSON.stringify(expr.operator)} (In, NotIn, Exists, DoesNotExist)`)
      }
    }
    return new LabelSelector(requirements)
  }

  /** Selects everything. */
  get empty(): boolean {
    return this.#requirements.length === 0
  }

  /** Whether labels satisfy every requirement (absent labels are `{}`). */
  matches(labels: Readonly<Record<string, string>> | undefined): boolean {
    const l = labels ?? {}
    for (const r of this.#requirements) {
      const has = Object.hasOwn(l, r.key)
      const value = l[r.key] as string
      switch (r.op) {
        case 'exists':
          if (!has) return false
          break
        case '!exists':
          if (has) return false
          break
        case '=':
        case 'in':
          if (!has || !r.values.includes(value)) return false
          break
        case '!=':
        case 'notin':
          if (has && r.values.includes(value)) return false
          break
        case 'gt':
        case 'lt': {
          if (!has || !INTEGER.test(value)) return false
          const n = Number(value)
          const bound = Number(r.values[0])
          if (r.op === 'gt' ? !(n > bound) : !(n < bound)) return false
          break
        }
      }
    }
    return true
  }

  /** The string syntax, one requirement per comma (parses back to an equal selector). */
  toString(): string {
    return this.#requirements
      .map((r) => {
        switch (r.op) {
          case 'exists':
            return r.key
          case '!exists':
            return `!${r.key}`
          case '=':
          case '!=':
            return `${r.key}${r.op}${r.values[0]}`
          case 'in':
          case 'notin':
            return `${r.key} ${r.op} (${r.values.join(',')})`
          case 'gt':
            return `${r.key}>${r.values[0]}`
          default:
            return `${r.key}<${r.values[0]}`
        }
      })
      .join(',')
  }
}

// --- the string syntax (apimachinery pkg/labels/selector.go: Lexer and Parser) -------------

type Token = { id: true; text: string } | { id: false; text: '' | '=' | '==' | '!=' | '!' | '(' | ')' | ',' | '>' | '<' }

const END: Token = { id: false, text: '' }
/** apimachinery's `isWhitespace` and `isSpecialSymbol`: they end an identifier, so no identifier's text is one of the operator tokens. */
const BREAKS = ' \t\r\n=!(),<>'

function lex(input: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < input.length) {
    const c = input[i] as string
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      i++
      continue
    }
    const two = input.slice(i, i + 2)
    if (two === '==' || two === '!=') {
      tokens.push({ id: false, text: two })
      i += 2
    } else if (BREAKS.includes(c)) {
      tokens.push({ id: false, text: c as Extract<Token, { id: false }>['text'] })
      i++
    } else {
      let j = i
      while (j < input.length && !BREAKS.includes(input[j] as string)) j++
      tokens.push({ id: true, text: input.slice(i, j) })
      i = j
    }
  }
  tokens.push(END)
  return tokens
}

/** Parses `requirement (',' requirement)*`; errors read as the API server's. */
function parse(input: string): Requirement[] {
  const tokens = lex(input)
  let at = 0
  const peek = () => tokens[at] as Token
  const next = () => {
    const tok = tokens[at] as Token
    if (tok !== END) at++
    return tok
  }
  const fail = (message: string): never => {
    throw new InvalidLabelSelectorError(input, `unable to parse requirement: ${message}`)
  }
  const isEndOrComma = (tok: Token) => tok === END || tok.text === ','
  if (peek() === END) return []
  const requirements: Requirement[] = []
  for (;;) {
    let tok = next()
    let op: Operator | undefined
    if (tok.text === '!') {
      op = '!exists'
      tok = next()
    }
    if (!tok.id) return fail(`found '${tok.text}', expected: !, identifier, or 'end of string'`)
    const key = tok.text
    const keyError = labelKeyError(key)
    // apimachinery reports a key error without a field path: "<nil>: Invalid value".
    if (keyError) fail(`<nil>: Invalid value: ${JSON.stringify(key)}: ${keyError}`)
    let values: string[] = []
    const o = peek()
    if (op !== undefined) {
      if (!isEndOrComma(o)) fail(`found '${o.text}', expected: ',' or 'end of string'`)
    } else if (isEndOrComma(o)) {
      op = 'exists'
    } else if (o.text === '=' || o.text === '==' || o.text === '!=' || o.text === '>' || o.text === '<') {
      next()
      op = o.text === '!=' ? '!=' : o.text === '>' ? 'gt' : o.text === '<' ? 'lt' : '='
      const v = peek()
      if (v.id) {
        next()
        values = [v.text]
      } else if (isEndOrComma(v)) {
        values = ['']
      } else {
        fail(`found '${v.text}', expected: identifier`)
      }
      if ((op === 'gt' || op === 'lt') && !INTEGER.test(values[0] as string)) fail(`for 'Gt', 'Lt' operators, the value must be an integer`)
    } else if (o.id && (o.text === 'in' || o.text === 'notin')) {
      next()
      op = o.text
      const open = next()
      if (open.text !== '(') fail(`found '${open.text}', expected: '('`)
      // Empty members are empty strings, as apimachinery's parser reads them.
      for (;;) {
        const v = next()
        if (v.id) {
          values.push(v.text)
          const sep = next()
          if (sep.text === ')') break
          if (sep.text !== ',') fail(`found '${sep.text}', expected: ',' or ')'`)
        } else if (v.text === ')') {
          values.push('')
          break
        } else if (v.text === ',') {
          values.push('')
        } else {
          fail(`found '${v.text}', expected: ',', ')' or identifier`)
        }
      }
    } else {
      fail(`found '${o.text}', expected: in, notin, =, ==, !=, gt, lt`)
    }
    if (op !== 'gt' && op !== 'lt') {
      for (const v of values) {
        const valueError = labelValueError(v)
        if (valueError) fail(`values[0][${key}]: Invalid value: ${JSON.stringify(v)}: ${valueError}`)
      }
    }
    requirements.push({ key, op: op as Operator, values })
    const sep = next()
    if (sep === END) return requirements
    if (sep.text !== ',') fail(`found '${sep.text}', expected: ',' or 'end of string'`)
  }
}
