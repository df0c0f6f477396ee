/**
 * Sends generated invalid requests one at a time and judges each: the expected status, an
 * `{error, details}` body whose details name the broken field (and nothing the case did not
 * touch), and nothing written (view, audit trail and store read again after every request).
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import type { BadRequest } from './admin-cases.js';
import { OPERATOR, type AdminTarget, type Observed } from './admin-fixture.js';
import type { Reply } from '../helpers/http.js';

export interface Tally {
  readonly requests: number;
  readonly failures: number;
  readonly reasons: Record<string, number>;
  /** How often each kind of edit was sent. */
  readonly kinds: Map<string, number>;
  readonly statuses: Record<string, number>;
  /** The first few failing cases, whole, with the answer: enough to reproduce one by hand. */
  readonly examples: string[];
}

const within = (path: string, scope: string): boolean => scope === '' || path === scope || path.startsWith(`${scope}/`);

/** What is wrong with the answer to `c`, or undefined when it is the refusal expected. */
export function judge(c: BadRequest, reply: Reply): string | undefined {
  const what = c.kinds.join(' + ');
  if (reply.status !== c.status) return `${reply.status} instead of ${c.status} (${what})`;
  let body: { error?: unknown; details?: unknown };
  try {
    body = reply.json();
  } catch {
    return `not JSON (${what})`;
  }
  if (typeof body.error !== 'string' || body.error === '' || !Array.isArray(body.details)) return `not {error, details} (${what})`;
  const details = body.details as Array<{ path?: unknown; message?: unknown }>;
  if (details.some((d) => typeof d.path !== 'string' || typeof d.message !== 'string' || d.message === '')) return `a detail without path or message (${what})`;
  const paths = details.map((d) => d.path as string);
  if (!paths.some((p) => c.fields.includes(p))) return `does not name the field (${what})`;
  const stray = paths.find((p) => !c.scopes.some((s) => within(p, s)));
  if (stray !== undefined) return `names a field the case did not touch (${what})`;
  return undefined;
}

export interface Runner {
  /** Sends `c` and judges it; a write it caused is undone. Undefined when all is as expected. */
  check(c: BadRequest): Promise<{ problem: string | undefined; status: number }>;
}

export async function runner(target: AdminTarget): Promise<Runner> {
  let before: Observed = await target.observe();
  return {
    async check(c) {
      const reply = await target.send({ method: c.method, path: c.path, headers: { ...c.headers, authorization: OPERATOR }, body: c.body });
      const after = await target.observe();
      let problem = judge(c, reply);
      if (!isDeepStrictEqual(before, after)) {
        problem = `${reply.status}, and something was written (${c.kinds.join(' + ')})`;
        await target.restore();
        before = await target.observe();
      }
      return { problem, status: reply.status };
    },
  };
}

/**
 * Runs `numRuns` cases of `arbitrary` from `seed`, counting every failure (for the record). When
 * some failed, runs the same property through fc.assert so that fast-check shrinks the first
 * failure to a small counterexample and reports it with the seed; the caller asserts the tally.
 */
export async function runProperty(target: AdminTarget, arbitrary: fc.Arbitrary<BadRequest>, seed: number, numRuns: number): Promise<Tally> {
  const run = await runner(target);
  const cases = fc.sample(arbitrary, { seed, numRuns });
  const reasons: Record<string, number> = {};
  const statuses: Record<string, number> = {};
  const kinds = new Map<string, number>();
  const examples: string[] = [];
  let failures = 0;
  for (const c of cases) {
    for (const k of c.kinds) kinds.set(k, (kinds.get(k) ?? 0) + 1);
    const { problem, status } = await run.check(c);
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (problem === undefined) continue;
    failures++;
    reasons[problem] = (reasons[problem] ?? 0) + 1;
    if (examples.length < 5) examples.push(`${problem}: ${JSON.stringify({ ...c, body: c.body.length > 2000 ? `${c.body.slice(0, 2000)}...` : c.body })}`);
  }
  if (failures > 0) {
    try {
      await fc.assert(
        fc.asyncProperty(arbitrary, async (c) => (await run.check(c)).problem === undefined),
        { seed, numRuns },
      );
    } catch (err) {
      examples.push(`shrunk: ${(err as Error).message.slice(0, 4000)}`);
    }
  }
  return { requests: cases.length, failures, reasons, kinds, statuses, examples };
}
