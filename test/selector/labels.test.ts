/**
 * Label selectors: the string syntax and its validation as k8s.io/apimachinery
 * `pkg/labels/selector.go` (the embedded API server answers its 400s with the same
 * words), and `metav1.LabelSelector` specs (`LabelSelectorAsSelector`).
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { InvalidLabelSelectorError, LabelSelector, labelKeyError, labelValueError } from '../../lib/selector/labels.ts'

describe('label selectors (string syntax)', () => {
  // [selector, labels, matches]
  const table: [string, Record<string, string> | undefined, boolean][] = [
    ['', undefined, true],
    ['a=b', { a: 'b' }, true],
    ['a==b', { a: 'b' }, true],
    ['a=b', { a: 'c' }, false],
    ['a=b', {}, false],
    ['a!=b', { a: 'c' }, true],
    ['a!=b', {}, true], // != selects objects without the label too
    ['a!=b', { a: 'b' }, false],
    ['e in (f,g)', { e: 'g' }, true],
    ['e in (f,g)', { e: 'h' }, false],
    ['e in (f,g)', {}, false],
    ['e notin (f,g)', {}, true], // so does notin
    ['e notin (f,g)', { e: 'f' }, false],
    ['h', { h: '' }, true],
    ['h', {}, false],
    ['!h', {}, true],
    ['!h', { h: 'x' }, false],
    ['a=b,c!=d,e in (f,g),!h', { a: 'b', c: 'x', e: 'f' }, true],
    ['a=b,c!=d,e in (f,g),!h', { a: 'b', c: 'd', e: 'f' }, false],
    ['a=b,c!=d,e in (f,g),!h', { a: 'b', e: 'f', h: '1' }, false],
    ['  a = b ,  e  in  ( f , g ) ', { a: 'b', e: 'g' }, true],
    ['a=', { a: '' }, true], // an empty value
    ['a=', { a: 'x' }, false],
    ['example.com/tier=web', { 'example.com/tier': 'web' }, true],
    ['replicas>2', { replicas: '3' }, true],
    ['replicas>2', { replicas: '2' }, false],
    ['replicas<2', { replicas: 'x' }, false],
  ]
  for (const [selector, labels, expected] of table) {
    test(`${JSON.stringify(selector)} ${expected ? 'matches' : 'does not match'} ${JSON.stringify(labels)}`, () => {
      assert.equal(LabelSelector.parse(selector).matches(labels), expected)
    })
  }

  const invalid = ['in in (', 'app=(x)', 'bad key=1', 'x=a b', 'a=b,', ',a', 'a b', 'a in f', 'a in (f', 'a in (f g)', '!a=b', 'a=b=c', '-a=b', 'a=-b', `${'x'.repeat(64)}=y`, 'a>b', 'Example.com/a=b', 'a/b/c=d', '=b', 'a!']
  for (const selector of invalid) {
    test(`${JSON.stringify(selector)} is rejected with ERR_INVALID_LABEL_SELECTOR, in the API server's words`, () => {
      assert.throws(
        () => LabelSelector.parse(selector),
        (err: unknown) =>
          err instanceof InvalidLabelSelectorError && err.code === 'ERR_INVALID_LABEL_SELECTOR' && err.selector === selector && /^unable to parse requirement: /.test(err.reason),
      )
    })
  }

  test('toString parses back to a selector that matches the same labels', () => {
    const s = LabelSelector.parse(' a = b , c!=d,e in (f, g),!h,k,n>1')
    assert.equal(s.toString(), 'a=b,c!=d,e in (f,g),!h,k,n>1')
    assert.equal(LabelSelector.parse(s.toString()).toString(), s.toString())
  })
})

describe('label selectors (matchLabels + matchExpressions)', () => {
  test('every matchLabels pair and every expression must hold', () => {
    const s = LabelSelector.fromSpec({
      matchLabels: { app: 'web' },
      matchExpressions: [
        { key: 'env', operator: 'In', values: ['prod', 'staging'] },
        { key: 'legacy', operator: 'DoesNotExist' },
        { key: 'tier', operator: 'NotIn', values: ['cache'] },
        { key: 'team', operator: 'Exists' },
      ],
    })
    assert.equal(s.matches({ app: 'web', env: 'prod', team: 'a' }), true)
    assert.equal(s.matches({ app: 'web', env: 'dev', team: 'a' }), false)
    assert.equal(s.matches({ app: 'web', env: 'prod', team: 'a', legacy: 'y' }), false)
    assert.equal(s.matches({ app: 'web', env: 'prod', team: 'a', tier: 'cache' }), false)
    assert.equal(s.matches({ app: 'web', env: 'prod' }), false)
    assert.equal(s.toString(), 'app=web,env in (prod,staging),!legacy,tier notin (cache),team')
  })
  test('an empty spec selects everything', () => {
    assert.equal(LabelSelector.fromSpec({}).matches(undefined), true)
    assert.equal(LabelSelector.fromSpec({}).empty, true)
  })
  const bad: [string, Parameters<typeof LabelSelector.fromSpec>[0]][] = [
    ['In without values', { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }],
    ['Exists with values', { matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }],
    ['an unknown operator', { matchExpressions: [{ key: 'a', operator: 'Gt' as 'In', values: ['1'] }] }],
    ['an invalid key', { matchLabels: { 'a b': 'c' } }],
    ['an invalid value', { matchLabels: { a: 'b c' } }],
  ]
  for (const [what, spec] of bad) {
    test(`${what} is rejected`, () => assert.throws(() => LabelSelector.fromSpec(spec), InvalidLabelSelectorError))
  }
})


describe('label keys and values', () => {
  test('a key is an optional lowercase DNS subdomain prefix and a 1-63 character name', () => {
    for (const ok of ['app', 'app.kubernetes.io/name', 'A_b-c.d', 'x'.repeat(63)]) assert.equal(labelKeyError(ok), undefined, ok)
    assert.match(labelKeyError('Example.com/a') ?? '', /prefix part must be a lowercase RFC 1123 subdomain/)
    assert.match(labelKeyError('a/b/c') ?? '', /a qualified name must/)
    assert.match(labelKeyError('x'.repeat(64)) ?? '', /no more than 63 characters/)
    assert.match(labelKeyError('/a') ?? '', /prefix part/)
    assert.match(labelKeyError('-a') ?? '', /name part must consist/)
  })
  test('a value is empty or 1-63 name characters', () => {
    for (const ok of ['', 'web', 'v1.2_3-x']) assert.equal(labelValueError(ok), undefined, ok)
    assert.match(labelValueError('-web') ?? '', /a valid label must be an empty string/)
    assert.match(labelValueError('x'.repeat(64)) ?? '', /no more than 63 characters/)
  })
})
