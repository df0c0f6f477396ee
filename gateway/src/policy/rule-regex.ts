/**
 * The regular expressions of header and cookie rules. Clients choose the values a rule's regex is
 * tested against, so the engine must not be able to backtrack: patterns are RE2's, run by re2js (a
 * pure-JavaScript port of RE2, linear in the length of the value). A guard in front of V8's
 * backtracking RegExp (safe-regex2, before this) let through `^(\w|\d)*$`, which takes seconds on a
 * 30-character value.
 *
 * Linear is not free: a test costs up to (value length x program size) steps when the DFA gives
 * up, and compiling costs a few microseconds per instruction. Hence the value's length is capped
 * (RULE_VALUE_MAX_LENGTH), and so is the compiled size of all a policy's regexes together
 * (POLICY_REGEX_INSTRUCTIONS), which bounds both what one request can cost and what one policy
 * write can cost, however many rules the policy has. Everyday patterns run on the DFA at tens of ns
 * a character whatever their size; patterns built to defeat it cost up to about 30 us per
 * instruction on a 1 KiB value, so about 0.1 s for the whole budget, and only for a request that
 * carries every header they test.
 */
import { RE2JS, RE2JSException, RE2Set } from 're2js';
import { POLICY_REGEX_INSTRUCTIONS, RULE_VALUE_MAX_LENGTH } from './schema.js';

/**
 * Memory of one regex's lazy DFA (re2js's accounting), per instruction of its program, and at
 * least DFA_MIN_BYTES. A pattern's DFA needs a few states per instruction when it does not explode,
 * so this holds it; one that explodes on a crafted value (`(a|b)*a(a|b){20}$`) fills it and re2js
 * gives up on the DFA for its NFA. Building a DFA state costs microseconds, so what a test costs
 * before the DFA gives up grows with this memory: in proportion to the program, the policy's
 * instruction budget bounds it too. re2js's default, 8 MiB for any pattern, let one such rule cost
 * 5 to 20 ms on a 1 KiB value, and held MiBs per rule.
 */
const DFA_BYTES_PER_INSTRUCTION = 512;
const DFA_MIN_BYTES = 8 * 1024;

/** A compiled rule regex. Shared by every snapshot that uses the same pattern: its only state is the DFA's cache. */
export class RuleRegex {
  readonly #set: RE2Set;
  /** See anchoredPrefix: a value that does not start with it cannot match. */
  readonly prefix: AnchoredPrefix | null;

  constructor(set: RE2Set, prefix: AnchoredPrefix | null) {
    this.#set = set;
    this.prefix = prefix;
  }

  /** Whether the pattern matches anywhere in `value` (as RegExp.test); never for a value longer than RULE_VALUE_MAX_LENGTH. */
  test(value: string): boolean {
    if (value.length > RULE_VALUE_MAX_LENGTH) return false;
    const prefix = this.prefix;
    if (prefix !== null) {
      // Most rules are `^beta-app/` and most values do not match: on a browser's user agent a
      // startsWith took 0.015 µs, RE2's DFA 1.4 µs.
      if (!value.startsWith(prefix.text)) return false;
      if (prefix.whole) return true;
    }
    return this.#set.match(value).length > 0;
  }
}

/** The literal text a pattern anchored at the start requires; `whole`: the pattern says nothing else. */
export interface AnchoredPrefix {
  readonly text: string;
  readonly whole: boolean;
}

/** RE2's metacharacters outside a class: anything else stands for itself. */
const META = new Set(['\\', '.', '+', '*', '?', '(', ')', '|', '[', ']', '{', '}', '^', '$']);
const QUANTIFIERS = new Set(['?', '*', '+', '{']);

/**
 * `^beta-app/` → `beta-app/` (whole), `^beta-(a|b)` → `beta-` (not whole), and null when the
 * pattern is not anchored, starts with a flag group such as `(?i)`, or has an alternation anywhere
 * (`^a|b` matches `xb`). A literal followed by a quantifier is not required (`^ab?` requires `a`).
 */
export function anchoredPrefix(pattern: string): AnchoredPrefix | null {
  if (!pattern.startsWith('^') || pattern.includes('|')) return null;
  let end = 1;
  while (end < pattern.length && !META.has(pattern[end] as string)) end++;
  const quantified = end < pattern.length && QUANTIFIERS.has(pattern[end] as string);
  const text = pattern.slice(1, quantified ? end - 1 : end);
  if (text.length === 0) return null;
  return { text, whole: end === pattern.length };
}

/** `size` is the compiled program's instruction count (0 when the pattern does not parse). */
export type RuleRegexResult =
  | { readonly ok: true; readonly regex: RuleRegex; readonly size: number }
  | { readonly ok: false; readonly message: string; readonly size: number };

/**
 * Compiled patterns by source: validation (admin API, watcher) and every snapshot of a policy use
 * the same ones, so a policy write does not compile its rules again. Least recently used go first
 * beyond the bound, which holds several policies' worth (a policy has at most 4,096 instructions,
 * so at most about 1,400 regexes).
 */
const cache = new Map<string, RuleRegexResult>();
const CACHE_ENTRIES = 16_384;

/** The regex for `pattern`, or why it is refused (a message for the rule's `regex` field). */
export function compileRuleRegex(pattern: string): RuleRegexResult {
  const cached = cache.get(pattern);
  if (cached !== undefined) {
    cache.delete(pattern);
    cache.set(pattern, cached);
    return cached;
  }
  const result = compile(pattern);
  cache.set(pattern, result);
  if (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value as string);
  return result;
}

function compile(pattern: string): RuleRegexResult {
  let size: number;
  try {
    size = RE2JS.compile(pattern).programSize();
  } catch (err) {
    if (!(err instanceof RE2JSException)) throw err;
    const reason = err.message.replace(/^error parsing regexp: /, '');
    return { ok: false, size: 0, message: `is not a valid regular expression in RE2 syntax (no lookahead, lookbehind or backreferences): ${reason}` };
  }
  if (size > POLICY_REGEX_INSTRUCTIONS) {
    // Refused before the set is built: its DFA tables alone would take a while for a large program.
    return { ok: false, size, message: `compiles to ${size} RE2 instructions, more than the ${POLICY_REGEX_INSTRUCTIONS} a policy's regexes may have in all: use smaller repetition counts ({n})` };
  }
  // A one-pattern set: the one public way to bound re2js's DFA memory (RE2JS.compile has none).
  const set = new RE2Set(RE2Set.UNANCHORED, 0, Math.max(DFA_MIN_BYTES, DFA_BYTES_PER_INSTRUCTION * size));
  set.add(pattern);
  set.compile();
  return { ok: true, regex: new RuleRegex(set, anchoredPrefix(pattern)), size };
}
