/**
 * A policy is accepted whole or not at all: shape (schema) first, then what only the model's pools
 * can tell (does a pool serve that version?) and what only RE2 can tell (does each regex compile,
 * within the policy's budget?). The result is a complete document, the schema's defaults filled.
 */
import { fillDefaults } from '../schema-defaults.js';
import { compileSchema, issuesFromAjv, type Issue } from '../validation.js';
import { compileRuleRegex } from './rule-regex.js';
import { Policy, POLICY_REGEX_INSTRUCTIONS, Shadow, type CookieRule, type HeaderRule, type PolicyDocument, type PolicyInput, type ShadowInput } from './schema.js';

const checkShape = compileSchema<PolicyInput>(Policy);

export interface PolicyContext {
  readonly model: string;
  /** Versions that have a pool. */
  readonly versions: ReadonlySet<number>;
}

export type PolicyResult =
  | { readonly ok: true; readonly policy: PolicyDocument }
  | { readonly ok: false; readonly issues: readonly Issue[] };

/** `base` prefixes every issue path, so a policy inside a config file reports `/models/m/policy/...`. */
export function validatePolicy(input: unknown, context: PolicyContext, base = ''): PolicyResult {
  if (!checkShape(input)) return { ok: false, issues: issuesFromAjv(checkShape.errors, base) };
  const policy = fillDefaults(Policy, input);
  const issues: Issue[] = [];
  const known = [...context.versions].sort((a, b) => a - b).join(', ') || 'none';
  const { stable, canary, percent, sticky, plan, shadow, onNewVersion } = policy;
  if (!context.versions.has(stable)) {
    issues.push({ path: `${base}/stable`, message: `no pool serves version ${stable} of ${context.model} (pools: ${known})` });
  }
  if (canary !== null) {
    if (!context.versions.has(canary)) {
      issues.push({ path: `${base}/canary`, message: `no pool serves version ${canary} of ${context.model} (pools: ${known})` });
    } else if (canary === stable) {
      issues.push({ path: `${base}/canary`, message: 'must differ from stable (use null for no canary)' });
    }
  } else if (percent !== 0) {
    issues.push({ path: `${base}/percent`, message: 'must be 0 when there is no canary' });
  }
  if (Math.abs(percent * 100 - Math.round(percent * 100)) > 1e-9) {
    issues.push({ path: `${base}/percent`, message: 'must be a multiple of 0.01 (the split has 10,000 buckets)' });
  }
  policy.headerRules.forEach((rule, i) => checkRule(rule, `${base}/headerRules/${i}`, issues));
  policy.cookieRules.forEach((rule, i) => checkRule(rule, `${base}/cookieRules/${i}`, issues));
  checkRegexes(policy.headerRules, policy.cookieRules, base, issues);
  if (sticky !== null && sticky.header === undefined && sticky.cookie === undefined) {
    issues.push({ path: `${base}/sticky`, message: 'needs a header or a cookie to read the cohort key from (or null for none)' });
  }
  if (plan !== null) {
    if (canary === null) issues.push({ path: `${base}/plan`, message: 'needs a canary to roll out (set canary, or plan: null)' });
    checkSteps(plan.steps, `${base}/plan/steps`, issues);
  }
  if (onNewVersion !== null) checkSteps(onNewVersion.plan.steps, `${base}/onNewVersion/plan/steps`, issues);
  if (shadow !== null) checkShadow(shadow, stable, context, known, `${base}/shadow`, issues);
  if (issues.length > 0) return { ok: false, issues };
  return {
    ok: true,
    policy: {
      stable,
      canary,
      percent: Math.round(percent * 100) / 100,
      headerRules: policy.headerRules,
      cookieRules: policy.cookieRules,
      sticky,
      // The one default the schema cannot hold: it depends on which model the policy is for.
      salt: policy.salt ?? context.model,
      plan,
      shadow: shadow === null ? null : fillDefaults(Shadow, { ...shadow, percent: Math.round(shadow.percent * 100) / 100 }),
      onNewVersion,
    },
  };
}

function checkSteps(steps: readonly number[], path: string, issues: Issue[]): void {
  steps.forEach((step, i) => {
    if (Math.abs(step * 100 - Math.round(step * 100)) > 1e-9) {
      issues.push({ path: `${path}/${i}`, message: 'must be a multiple of 0.01' });
    } else if (i > 0 && step <= (steps[i - 1] as number)) {
      issues.push({ path: `${path}/${i}`, message: 'must be greater than the step before' });
    }
  });
}

function checkShadow(shadow: ShadowInput, stable: number, context: PolicyContext, known: string, path: string, issues: Issue[]): void {
  if (!context.versions.has(shadow.version)) {
    issues.push({ path: `${path}/version`, message: `no pool serves version ${shadow.version} of ${context.model} (pools: ${known})` });
  } else if (shadow.version === stable) {
    // Stable answers nearly every live request: its copies would be compared with itself.
    issues.push({ path: `${path}/version`, message: 'must differ from stable (stable answers the live requests it would be compared with)' });
  }
  if (Math.abs(shadow.percent * 100 - Math.round(shadow.percent * 100)) > 1e-9) {
    issues.push({ path: `${path}/percent`, message: 'must be a multiple of 0.01 (the share has 10,000 buckets)' });
  }
}

function checkRule(rule: Readonly<HeaderRule | CookieRule>, path: string, issues: Issue[]): void {
  if (rule.equals !== undefined && rule.regex !== undefined) {
    issues.push({ path, message: 'set either equals or regex, not both' });
  }
  if (rule.to !== undefined && rule.equals === undefined && rule.regex === undefined) {
    issues.push({
      path: `${path}/to`,
      message: 'needs equals or regex; without them the values "always" and "never" decide',
    });
  }
}

/**
 * Compiles every regex, header rules first, charging each its compiled size against the policy's
 * budget. Past the budget nothing more is compiled, so a policy costs a bounded time to check
 * however many rules it lists; the rule that crossed it is named.
 */
function checkRegexes(
  headerRules: readonly Readonly<HeaderRule>[],
  cookieRules: readonly Readonly<CookieRule>[],
  base: string,
  issues: Issue[],
): void {
  let total = 0;
  for (const [field, rules] of [['headerRules', headerRules], ['cookieRules', cookieRules]] as const) {
    for (let i = 0; i < rules.length; i++) {
      const regex = rules[i]?.regex;
      if (regex === undefined) continue;
      const path = `${base}/${field}/${i}/regex`;
      const compiled = compileRuleRegex(regex);
      total += compiled.size;
      if (!compiled.ok) {
        issues.push({ path, message: compiled.message });
      } else if (total > POLICY_REGEX_INSTRUCTIONS) {
        issues.push({
          path,
          message: `brings the policy's regexes to ${total} RE2 instructions (this one ${compiled.size}), more than the ${POLICY_REGEX_INSTRUCTIONS} they may have in all`,
        });
      }
      if (total > POLICY_REGEX_INSTRUCTIONS) return;
    }
  }
}
