/**
 * Label selectors, parsed and matched with the semantics of k8s.io/apimachinery
 * `pkg/labels` (string syntax) and `metav1.LabelSelector` (`matchLabels` +
 * `matchExpressions`), for filtering events on the client side.
 */
import { KubevisorError } from '../errors.ts'

/** A label selector that could not be parsed or is invalid (`ERR_INVALID_LABEL_SELECTOR`). */
export class InvalidLabelSelectorError extends KubevisorError {
  /** The selector as given (a string, or the JSON of a spec). */
  readonly selector: string
  constructor(selector: string, message: string) {
    super('ERR_INVALID_LABEL_SELECTOR', `invalid label selector ${JSON.stringify(selector)}: ${message}`)
    this.selector = selector
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
  matchLabels?: Record<string, string>
  matchExpressions?: LabelSelectorRequirement[]
}

type Operator = 'exists' | '!exists' | '=' | '!=' | 'in' | 'notin' | 'gt' | 'lt'

/** One parsed requirement; all of a selector's requirements must hold. */
interface Requirement {
  readonly key: string
  readonly op: Operator
  readonly values: readonly string[]
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
   * objects without the label; `>`/`<` need the label to be an integer.
   *
   * @example
   * ```ts
   * LabelSelector.parse('app=web,tier!=cache,env in (prod,staging),!legacy').matches({ app: 'web', env: 'prod' }) // true
   * ```
   */
  static parse(selector: string): LabelSelector {
    return new LabelSelector(new Parser(selector).parse())
  }

  /** A selector from a `{ matchLabels, matchExpressions }` object (`metav1.LabelSelectorAsSelector`). */
  static fromSpec(spec: LabelSelectorSpec): LabelSelector {
    const text = JSON.stringify(spec)
    const fail = (message: string): never => {
      throw new InvalidLabelSelectorError(text, message)
    }
    const requirements: Requirement[] = []
    for (const [key, value] of Object.entries(spec.matchLabels ?? {})) {
      checkKey(key, fail)
      checkValue(key, value, fail)
      requirements.push({ key, op: '=', values: [value] })
    }
    for (const [i, expr] of (spec.matchExpressions ?? []).entries()) {
      checkKey(expr.key, fail)
      const values = expr.values ?? []
      switch (expr.operator) {
        case 'In':
        case 'NotIn':
          if (values.length === 0) fail(`matchExpressions[${i}]: values must be non-empty for ${expr.operator}`)
          for (const v of values) checkValue(expr.key, v, fail)
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
      const value = l[r.key]
      switch (r.op) {
        case 'exists':
          if (!has) return false
          break
        case '!exists':
          if (has) return false
          break
        case '=':
        case 'in':
          if (!has || !r.values.includes(value as string)) return false
          break
        case '!=':
        case 'notin':
          if (has && r.values.includes(value as string)) return false
          break
        case 'gt':
        case 'lt': {
          if (!has || !INTEGER.test(value as string)) return false
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

const INTEGER = /^-?\d+$/
const NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

/** A label key: an optional DNS subdomain prefix and `/`, then a name of at most 63 characters. */
function checkKey(key: string, fail: (message: string) => never): void {
  const slash = key.indexOf('/')
  const prefix = slash < 0 ? undefined : key.slice(0, slash)
  const name = slash < 0 ? key : key.slice(slash + 1)
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    fail(`key ${JSON.stringify(key)}: the prefix must be a lowercase DNS subdomain`)
  }
  if (name.length === 0 || name.length > 63 || !NAME.test(name)) {
    fail(`key ${JSON.stringify(key)}: the name must be 1-63 alphanumeric characters, '-', '_' or '.', starting and ending alphanumeric`)
  }
}

/** A label value: empty, or at most 63 alphanumeric characters, '-', '_' or '.', starting and ending alphanumeric. */
function checkValue(key: string, value: string, fail: (message: string) => never): void {
  if (value !== '' && (value.length > 63 || !NAME.test(value))) {
    fail(`value ${JSON.stringify(value)} of ${JSON.stringify(key)}: must be empty or 1-63 alphanumeric characters, '-', '_' or '.', starting and ending alphanumeric`)
  }
}

type Token = { kind: 'id'; text: string } | { kind: 'op'; text: string } | { kind: 'end'; text: '' }

const SPECIAL = new Set(['=', '!', '(', ')', ',', '<', '>'])
const SPACE = /\s/

function tokenize(input: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < input.length) {
    const c = input[i] as string
    if (SPACE.test(c)) {
      i++
    } else if (c === '=' || c === '!') {
      const two = input.slice(i, i + 2)
      const op = two === '==' || two === '!=' ? two : c
      tokens.push({ kind: 'op', text: op })
      i += op.length
    } else if (SPECIAL.has(c)) {
      tokens.push({ kind: 'op', text: c })
      i++
    } else {
      let j = i
      while (j < input.length && !SPECIAL.has(input[j] as string) && !SPACE.test(input[j] as string)) j++
      tokens.push({ kind: 'id', text: input.slice(i, j) })
      i = j
    }
  }
  tokens.push({ kind: 'end', text: '' })
  return tokens
}

/** A recursive-descent parser of `requirement (',' requirement)*`. */
class Parser {
  readonly #input: string
  readonly #tokens: Token[]
  #at = 0

  constructor(input: string) {
    this.#input = input
    this.#tokens = tokenize(input)
  }

  parse(): Requirement[] {
    if (this.#peek().kind === 'end') return []
    const requirements: Requirement[] = []
    for (;;) {
      requirements.push(this.#requirement())
      const sep = this.#next()
      if (sep.kind === 'end') return requirements
      if (sep.text !== ',') this.#fail(`expected ',' or the end, found ${JSON.stringify(sep.text)}`)
    }
  }

  #requirement(): Requirement {
    if (this.#peek().text === '!') {
      this.#next()
      const key = this.#key()
      return { key, op: '!exists', values: [] }
    }
    const key = this.#key()
    const op = this.#peek()
    if (op.kind === 'end' || op.text === ',') return { key, op: 'exists', values: [] }
    this.#next()
    if (op.kind === 'id' && (op.text === 'in' || op.text === 'notin')) {
      const values = this.#set(key)
      return { key, op: op.text, values }
    }
    if (op.text === '=' || op.text === '==' || op.text === '!=') {
      const value = this.#value()
      checkValue(key, value, this.#fail)
      return { key, op: op.text === '!=' ? '!=' : '=', values: [value] }
    }
    if (op.text === '>' || op.text === '<') {
      const value = this.#value()
      if (!INTEGER.test(value)) this.#fail(`${key}${op.text}${value}: the value of '>' and '<' must be an integer`)
      return { key, op: op.text === '>' ? 'gt' : 'lt', values: [value] }
    }
    return this.#fail(`expected an operator (=, ==, !=, in, notin, >, <) after ${JSON.stringify(key)}, found ${JSON.stringify(op.text)}`)
  }

  #key(): string {
    const tok = this.#next()
    if (tok.kind !== 'id') this.#fail(`expected a label key, found ${tok.kind === 'end' ? 'the end' : JSON.stringify(tok.text)}`)
    checkKey(tok.text, this.#fail)
    return tok.text
  }

  /** A value after `=`/`!=`/`>`/`<`: an identifier, or empty before `,` or the end. */
  #value(): string {
    const tok = this.#peek()
    if (tok.kind === 'id') {
      this.#next()
      return tok.text
    }
    if (tok.kind === 'end' || tok.text === ',') return ''
    return this.#fail(`expected a value, found ${JSON.stringify(tok.text)}`)
  }

  /** `( v1, v2, … )`; empty members are empty strings, as apimachinery's parser reads them. */
  #set(key: string): string[] {
    if (this.#next().text !== '(') this.#fail(`expected '(' after in/notin for ${JSON.stringify(key)}`)
    const values: string[] = []
    let expectValue = true
    for (;;) {
      const tok = this.#next()
      if (tok.kind === 'id' && expectValue) {
        checkValue(key, tok.text, this.#fail)
        values.push(tok.text)
        expectValue = false
      } else if (tok.text === ',') {
        if (expectValue) values.push('')
        expectValue = true
      } else if (tok.text === ')') {
        if (expectValue) values.push('')
        return values
      } else {
        this.#fail(`expected a value, ',' or ')' in the set of ${JSON.stringify(key)}, found ${tok.kind === 'end' ? 'the end' : JSON.stringify(tok.text)}`)
      }
    }
  }

  #peek(): Token {
    return this.#tokens[this.#at] as Token
  }

  #next(): Token {
    const tok = this.#tokens[this.#at] as Token
    if (tok.kind !== 'end') this.#at++
    return tok
  }

  readonly #fail = (message: string): never => {
    throw new InvalidLabelSelectorError(this.#input, message)
  }
}
