import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { RE2Set } from 're2js';
import { compileRuleRegex, type RuleRegex } from '../../../gateway/src/policy/rule-regex.js';
import { POLICY_REGEX_INSTRUCTIONS, RULE_VALUE_MAX_LENGTH } from '../../../gateway/src/policy/schema.js';

function regexOf(pattern: string): RuleRegex {
  const compiled = compileRuleRegex(pattern);
  assert.ok(compiled.ok, `${pattern}: ${compiled.ok ? '' : compiled.message}`);
  return compiled.regex;
}

/** Patterns a backtracking engine takes exponential (or high-polynomial) time on, with a value that makes it. */
const CATASTROPHIC: ReadonlyArray<readonly [pattern: string, adversarial: (length: number) => string]> = [
  ['^(\\w|\\d)*$', (n) => `${'a'.repeat(n - 1)}!`],
  ['^(a|a)*$', (n) => `${'a'.repeat(n - 1)}!`],
  ['^.*a.*a.*a.*a.*b$', (n) => 'a'.repeat(n)],
];

test('patterns that backtrack catastrophically run in linear time: values at the cap are tested, fast, and give the right answer', () => {
  const started = performance.now();
  for (const [pattern, adversarial] of CATASTROPHIC) {
    const regex = regexOf(pattern);
    for (let i = 0; i < 20; i++) assert.equal(regex.test(adversarial(RULE_VALUE_MAX_LENGTH)), false, pattern);
  }
  assert.equal(regexOf('^(\\w|\\d)*$').test('a1'.repeat(RULE_VALUE_MAX_LENGTH / 2)), true);
  assert.equal(regexOf('^(a|a)*$').test('a'.repeat(RULE_VALUE_MAX_LENGTH)), true);
  assert.equal(regexOf('^.*a.*a.*a.*a.*b$').test(`${'a'.repeat(RULE_VALUE_MAX_LENGTH - 1)}b`), true);
  // V8's RegExp takes longer than this on a 30-character value for the first two; this is 60
  // tests of 1,024 characters, cold (first compilation included).
  assert.ok(performance.now() - started < 1_000, `took ${(performance.now() - started).toFixed(0)} ms`);
});

test('a value longer than the cap matches nothing; one at the cap is tested', () => {
  const regex = regexOf('^a+$');
  assert.equal(regex.test('a'.repeat(RULE_VALUE_MAX_LENGTH)), true);
  assert.equal(regex.test('a'.repeat(RULE_VALUE_MAX_LENGTH + 1)), false);
  assert.equal(regexOf('').test('x'.repeat(8 * 1024)), false, 'even a pattern that matches everything');
  assert.equal(regexOf('').test(''), true);
});

test('RE2 syntax: what JavaScript and RE2 both accept means the same on ASCII values (unanchored, as RegExp.test)', () => {
  const patterns = ['^beta-', 'app/[0-9]+$', '^(alice|bob)$', 'a.c', '\\bx\\b', '^[^a]*b', '(ab)+c?$', 'a{2,3}', '^$', '(a|b)*a(a|b){6}$', '\\d\\w\\s'];
  const compiled = patterns.map((p) => [new RegExp(p), regexOf(p)] as const);
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom('a', 'b', 'c', 'x', '-', '/', '1', ' ', '_'), maxLength: 40 }), (value) => {
      for (const [native, linear] of compiled) assert.equal(linear.test(value), native.test(value), `${native.source} on ${JSON.stringify(value)}`);
    }),
    { seed: 13, numRuns: 2_000 },
  );
});

test('a pattern whose DFA explodes still answers right (the engine falls back to its NFA)', () => {
  const native = /(a|b)*a(a|b){12}$/;
  const regex = regexOf('(a|b)*a(a|b){12}$');
  let seed = 7;
  for (let i = 0; i < 50; i++) {
    let value = '';
    for (let j = 0; j < 300; j++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      value += (seed >>> 16) % 2 === 0 ? 'a' : 'b';
    }
    assert.equal(regex.test(value), native.test(value));
  }
});

test('RE2 extensions work: case-insensitive flag, Unicode classes, \\x{...}', () => {
  assert.equal(regexOf('(?i)^beta').test('BeTa-1'), true);
  assert.equal(regexOf('^\\pL+$').test('abc'), true);
  assert.equal(regexOf('^\\pL+$').test('ab1'), false);
  assert.equal(regexOf('^caf\\x{e9}$').test('caf\u00e9'), true);
});

test('what RE2 cannot run in linear time is refused, saying why', () => {
  for (const pattern of ['(?=a)b', '(?!a)b', '(?<=a)b', '(?<!a)b', '(a)\\1', '(?<n>a)\\k<n>', 'a{1001}', '\\u00e9', '[^]', 'a++', '(']) {
    const compiled = compileRuleRegex(pattern);
    assert.equal(compiled.ok, false, pattern);
    assert.match(compiled.ok ? '' : compiled.message, /^is not a valid regular expression in RE2 syntax \(no lookahead, lookbehind or backreferences\): ./, pattern);
  }
});

test('a pattern that compiles to more than the policy budget is refused without building its matcher, and reports its size', () => {
  const compiled = compileRuleRegex('[a-z]{1000}[0-9]{1000}[a-z]{1000}[0-9]{1000}x{1000}');
  assert.equal(compiled.ok, false);
  assert.ok(compiled.size > POLICY_REGEX_INSTRUCTIONS, String(compiled.size));
  assert.match(compiled.ok ? '' : compiled.message, new RegExp(`^compiles to ${compiled.size} RE2 instructions, more than the ${POLICY_REGEX_INSTRUCTIONS}`));
  const small = compileRuleRegex('^[0-9a-f]{8}$');
  assert.ok(small.ok && small.size >= 8 && small.size < 20, String(small.size));
});

test('one pattern is compiled once: every rule and snapshot using it shares the matcher', () => {
  assert.equal(regexOf('^shared-[0-9]+$'), regexOf('^shared-[0-9]+$'));
  const refused = compileRuleRegex('(?=x)');
  assert.equal(compileRuleRegex('(?=x)'), refused);
});

test('an anchored literal prefix is found where every match needs it, and nowhere else', () => {
  const cases: ReadonlyArray<readonly [pattern: string, prefix: string | null, whole?: boolean]> = [
    ['^beta-app/', 'beta-app/', true],
    ['^beta-app/.*', 'beta-app/', false],
    ['^beta-(a|b)', null], // an alternation anywhere: no prefix is assumed
    ['^beta-[ab]$', 'beta-', false],
    ['^abc$', 'abc', false],
    ['^ab?', 'a', false], // the quantified b is not required
    ['^ab*c', 'a', false],
    ['^ab+', 'a', false],
    ['^a{2}', null],
    ['^\\.well', null],
    ['^a\\.b', 'a', false],
    ['^(?i)beta', null],
    ['(?i)^beta', null],
    ['beta', null],
    ['^', null],
    ['^a|b', null],
    ['^ünï/', 'ünï/', true],
  ];
  for (const [pattern, prefix, whole] of cases) {
    const found = regexOf(pattern).prefix;
    assert.deepEqual(found, prefix === null ? null : { text: prefix, whole }, pattern);
  }
});

test('the prefix check never changes an answer: the same as RE2 alone on generated anchored patterns and values', () => {
  // The alphabet makes prefixes that match, almost match and differ by case; the pattern parts
  // include every metacharacter that ends or qualifies a literal run.
  const piece = fc.constantFrom('a', 'b', 'A', '-', '/', '.', '.*', '?', '*', '+', '{1,2}', '$', '[ab]', '(a)', '\\.', '\\d', '|', ' ');
  const pattern = fc.array(piece, { minLength: 0, maxLength: 6 }).map((parts) => `^${parts.join('')}`);
  const value = fc.stringMatching(/^[abA\-/. 0-9]{0,8}$/);
  fc.assert(
    fc.property(pattern, fc.array(value, { minLength: 1, maxLength: 8 }), (source, values) => {
      const compiled = compileRuleRegex(source);
      if (!compiled.ok) return;
      const plain = new RE2Set(RE2Set.UNANCHORED);
      plain.add(source);
      plain.compile();
      for (const v of values) assert.equal(compiled.regex.test(v), plain.match(v).length > 0, `${source} on ${JSON.stringify(v)}`);
    }),
    { seed: 16, numRuns: 400 },
  );
});
