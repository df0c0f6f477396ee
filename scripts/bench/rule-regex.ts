#!/usr/bin/env node
/**
 * What a header rule's regex costs per request: the gateway's linear-time engine (RE2 by re2js,
 * policy/rule-regex.ts) against V8's backtracking RegExp on the same everyday patterns and values,
 * matching and not; then the adversarial values the engine exists for, which RegExp is not run on
 * (it would not finish). One process, no network: the figures are the regex alone.
 *
 *   npm run bench:regex
 */
import { compileRuleRegex, type RuleRegex } from '../../gateway/src/policy/rule-regex.js';
import { RULE_VALUE_MAX_LENGTH } from '../../gateway/src/policy/schema.js';

const USER_AGENT = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';

/** [pattern, a value it matches, a value it does not]. */
const EVERYDAY: ReadonlyArray<readonly [string, string, string]> = [
  ['^beta-app/', 'beta-app/2.1 (iPhone)', 'bench-client/1.0'],
  ['^(alice|bob|carol)$', 'bob', 'mallory'],
  ['^user-[0-9]+$', 'user-12345678', 'user-1234x'],
  ['Chrome/1[0-9]{2}\\.', USER_AGENT, USER_AGENT.replace('Chrome/120', 'Chrome/99')],
  ['^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', '0f8fad5b-d9cb-469f-a165-70867728950e', '0f8fad5b-d9cb-469f-a165-70867728950z'],
];

const ADVERSARIAL: ReadonlyArray<readonly [string, string]> = [
  ['^(\\w|\\d)*$', `${'a'.repeat(RULE_VALUE_MAX_LENGTH - 1)}!`],
  ['^(a|a)*$', `${'a'.repeat(RULE_VALUE_MAX_LENGTH - 1)}!`],
  ['^.*a.*a.*a.*a.*b$', 'a'.repeat(RULE_VALUE_MAX_LENGTH)],
];

function regexOf(pattern: string): RuleRegex {
  const compiled = compileRuleRegex(pattern);
  if (!compiled.ok) throw new Error(`${pattern}: ${compiled.message}`);
  return compiled.regex;
}

/** Nanoseconds per call of `fn`, after a warm-up, the best of 5 rounds. */
function nsPerCall(fn: () => boolean, calls: number): number {
  let sink = 0;
  for (let i = 0; i < calls; i++) if (fn()) sink++;
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) if (fn()) sink++;
    best = Math.min(best, Number(process.hrtime.bigint() - started) / calls);
  }
  if (sink < 0) throw new Error('unreachable');
  return best;
}

const f = (ns: number): string => (ns >= 10_000 ? `${(ns / 1000).toFixed(1)} µs` : `${ns.toFixed(0)} ns`);

function main(): void {
  process.stdout.write(`Node ${process.version}\n\n| pattern | value | RegExp | RE2 (gateway) |\n|---|---|---:|---:|\n`);
  for (const [pattern, hit, miss] of EVERYDAY) {
    const native = new RegExp(pattern);
    const linear = regexOf(pattern);
    for (const [label, value] of [['matches', hit], ['does not match', miss]] as const) {
      if (native.test(value) !== (label === 'matches') || linear.test(value) !== native.test(value)) throw new Error(`${pattern} on ${value}`);
      process.stdout.write(`| \`${pattern}\` | ${label} (${value.length} chars) | ${f(nsPerCall(() => native.test(value), 200_000))} | ${f(nsPerCall(() => linear.test(value), 200_000))} |\n`);
    }
  }
  process.stdout.write('\n| pattern | adversarial value | RegExp | RE2 (gateway), first call | RE2 (gateway) |\n|---|---|---|---:|---:|\n');
  for (const [pattern, value] of ADVERSARIAL) {
    const linear = regexOf(pattern);
    const started = process.hrtime.bigint();
    linear.test(value);
    const first = Number(process.hrtime.bigint() - started);
    process.stdout.write(`| \`${pattern}\` | ${value.length} chars, no match | does not finish | ${f(first)} | ${f(nsPerCall(() => linear.test(value), 200))} |\n`);
  }
}

main();
