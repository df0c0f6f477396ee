import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validatePolicy } from '../../../gateway/src/policy/validate.js';

const context = { model: 'm', versions: new Set([1, 2]) };

function issuesOf(input: unknown): Array<{ path: string; message: string }> {
  const result = validatePolicy(input, context);
  assert.equal(result.ok, false, 'expected the policy to be refused');
  return result.ok ? [] : [...result.issues];
}

test('a minimal policy gets its defaults', () => {
  const result = validatePolicy({ stable: 1 }, context);
  assert.ok(result.ok);
  assert.deepEqual(result.policy, { stable: 1, canary: null, percent: 0, headerRules: [], cookieRules: [], sticky: null, salt: 'm', plan: null });
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

test('rules: a regex that can backtrack catastrophically is refused, naming it', () => {
  for (const regex of ['(a+)+$', '^(\\w*)*x', '(x|xy*)*z']) {
    const issues = issuesOf({ stable: 1, headerRules: [{ header: 'x-user', regex }], cookieRules: [{ cookie: 'c', regex }] });
    assert.deepEqual(issues.map((i) => i.path), ['/headerRules/0/regex', '/cookieRules/0/regex'], regex);
    assert.match(issues[0]!.message, /backtrack catastrophically/);
  }
  // Everyday patterns stay accepted.
  for (const regex of ['^(alice|bob)$', '^beta-[0-9]+$', '@example\\.com$', '^v\\d+\\.\\d+']) {
    assert.ok(validatePolicy({ stable: 1, headerRules: [{ header: 'x-user', regex }] }, context).ok, regex);
  }
});
