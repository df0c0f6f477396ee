import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileRuleRegex } from '../../../gateway/src/policy/rule-regex.js';
import { POLICY_REGEX_INSTRUCTIONS } from '../../../gateway/src/policy/schema.js';
import { validatePolicy } from '../../../gateway/src/policy/validate.js';

const context = { model: 'm', versions: new Set([1, 2]) };

function compiledSize(pattern: string): number {
  const compiled = compileRuleRegex(pattern);
  assert.ok(compiled.ok);
  return compiled.size;
}

function issuesOf(input: unknown): Array<{ path: string; message: string }> {
  const result = validatePolicy(input, context);
  assert.equal(result.ok, false, 'expected the policy to be refused');
  return result.ok ? [] : [...result.issues];
}

test('a minimal policy gets its defaults', () => {
  const result = validatePolicy({ stable: 1 }, context);
  assert.ok(result.ok);
  assert.deepEqual(result.policy, { stable: 1, canary: null, percent: 0, headerRules: [], cookieRules: [], sticky: null, salt: 'm', plan: null, shadow: null, onNewVersion: null });
});

test('every bad field is named by its path', () => {
  const issues = issuesOf({ stable: '1', percent: 120, colour: 'blue', headerRules: [{ header: 'bad header' }] });
  const paths = issues.map((i) => i.path).sort();
  assert.deepEqual(paths, ['/colour', '/headerRules/0/header', '/percent', '/stable']);
  assert.match(issues.find((i) => i.path === '/percent')!.message, /<= 100/);
});

test('versions must have pools, and differ', () => {
  assert.deepEqual(
    issuesOf({ stable: 3, canary: 1 }).map((i) => i.path),
    ['/stable'],
  );
  assert.match(issuesOf({ stable: 1, canary: 1 })[0]!.message, /must differ/);
  assert.match(issuesOf({ stable: 1, canary: 7, percent: 5 })[0]!.message, /no pool serves version 7/);
});

test('percent: 0 without a canary, steps of 0.01', () => {
  assert.equal(issuesOf({ stable: 1, percent: 5 })[0]!.path, '/percent');
  assert.equal(issuesOf({ stable: 1, canary: 2, percent: 0.005 })[0]!.path, '/percent');
  const ok = validatePolicy({ stable: 1, canary: 2, percent: 0.07 }, context);
  assert.ok(ok.ok && ok.policy.percent === 0.07);
});

test('rules: equals xor regex, regex must compile, to needs a matcher', () => {
  assert.equal(issuesOf({ stable: 1, headerRules: [{ header: 'a', equals: 'x', regex: 'y' }] })[0]!.path, '/headerRules/0');
  assert.equal(issuesOf({ stable: 1, headerRules: [{ header: 'a', regex: '([' }] })[0]!.path, '/headerRules/0/regex');
  assert.equal(issuesOf({ stable: 1, cookieRules: [{ cookie: 'c', to: 'canary' }] })[0]!.path, '/cookieRules/0/to');
  assert.equal(issuesOf({ stable: 1, sticky: {} })[0]!.path, '/sticky');
});

test('rules: regexes are RE2 patterns; what RE2 cannot run in linear time is refused, naming the field', () => {
  for (const regex of ['(?=a)b', '(?<!a)b', '(a)\\1']) {
    const issues = issuesOf({ stable: 1, headerRules: [{ header: 'x-user', regex }], cookieRules: [{ cookie: 'c', regex }] });
    assert.deepEqual(issues.map((i) => i.path), ['/headerRules/0/regex', '/cookieRules/0/regex'], regex);
    assert.match(issues[0]!.message, /RE2 syntax \(no lookahead, lookbehind or backreferences\)/);
  }
  // Patterns a backtracking engine stalls on run in linear time, so they are accepted now; so are everyday ones.
  for (const regex of ['^(\\w|\\d)*$', '^(a|a)*$', '^.*a.*a.*a.*a.*b$', '(a+)+$', '^(alice|bob)$', '^beta-[0-9]+$', '@example\\.com$', '^v\\d+\\.\\d+']) {
    assert.ok(validatePolicy({ stable: 1, headerRules: [{ header: 'x-user', regex }] }, context).ok, regex);
  }
});

test("rules: a policy's regexes compile to at most POLICY_REGEX_INSTRUCTIONS in all; the rule that crosses it is named", () => {
  const size = compiledSize('^[a-z]{100}$');
  const fits = Math.floor(POLICY_REGEX_INSTRUCTIONS / size);
  const rules = (count: number) => Array.from({ length: count }, (_, i) => ({ header: `x-h${i}`, regex: '^[a-z]{100}$' }));
  assert.ok(validatePolicy({ stable: 1, headerRules: rules(fits) }, context).ok);
  const issues = issuesOf({ stable: 1, headerRules: rules(fits), cookieRules: [{ cookie: 'c', regex: '^[a-z]{100}$' }] });
  assert.deepEqual(issues.map((i) => i.path), ['/cookieRules/0/regex']);
  assert.match(issues[0]!.message, new RegExp(`^brings the policy's regexes to ${(fits + 1) * size} RE2 instructions \\(this one ${size}\\), more than the ${POLICY_REGEX_INSTRUCTIONS}`));
});

test('rules: checking a policy costs a bounded time however many large regexes it lists (none compiled past the budget)', () => {
  // Each pattern is distinct (no cache) and compiles to 35,000 instructions, about 100 ms each:
  // compiled one by one, 10,000 of them would take minutes.
  const headerRules = Array.from({ length: 10_000 }, (_, i) => ({ header: 'x-a', regex: `${'x{1000}'.repeat(35)}${i}` }));
  const started = performance.now();
  const issues = issuesOf({ stable: 1, headerRules, cookieRules: [{ cookie: 'c', regex: '(' }] });
  assert.ok(performance.now() - started < 2_000, `took ${(performance.now() - started).toFixed(0)} ms`);
  assert.deepEqual(issues.map((i) => i.path), ['/headerRules/0/regex'], 'the first one is named; the rest are not compiled');
  assert.match(issues[0]!.message, /^compiles to \d+ RE2 instructions/);
});
