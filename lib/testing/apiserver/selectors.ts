/**
 * Field selectors, parsed like k8s.io/apimachinery `pkg/fields/selector.go`. Label
 * selectors are `lib/selector/labels.ts`, shared with the client side.
 */

/** A parse failure; the server answers 400 BadRequest with this message. */
export class SelectorError extends Error {}

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
