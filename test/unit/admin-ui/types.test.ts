/**
 * The admin UI reads and writes the admin API through the gateway's own types (api-schemas.ts),
 * never copies: its type-check passes against the schemas as they are, and fails once a field the
 * UI uses changes in the gateway, which a hand-written copy of the types would not notice.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

function typeCheck(project: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [TSC, '-p', project, '--pretty', 'false'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

test("the admin UI type-checks against the gateway's schemas", { timeout: 120_000 }, async () => {
  const { code, output } = await typeCheck('admin-ui/tsconfig.json');
  assert.equal(code, 0, output);
});

test("a field renamed in the gateway's schema breaks the UI's type-check", { timeout: 120_000 }, async () => {
  // A copy of the UI and the gateway's sources under dist/ (node_modules resolve from there).
  const copy = mkdtempSync(join(ROOT, 'dist', 'ui-drift-'));
  try {
    cpSync(join(ROOT, 'admin-ui'), join(copy, 'admin-ui'), { recursive: true });
    cpSync(join(ROOT, 'gateway/src'), join(copy, 'gateway/src'), { recursive: true });
    const schemas = join(copy, 'gateway/src/controlplane/admin/api-schemas.ts');
    const text = readFileSync(schemas, 'utf8');
    const view = text.indexOf('export const ModelView = Type.Object({');
    const field = text.indexOf('  rolledBack: Type.Boolean(),', view);
    assert.ok(view >= 0 && field > view, 'the model view declares rolledBack');
    writeFileSync(schemas, `${text.slice(0, field)}  rolledBackAt: Type.Boolean(),${text.slice(field + '  rolledBack: Type.Boolean(),'.length)}`);

    const { code, output } = await typeCheck(join(copy, 'admin-ui/tsconfig.json'));
    assert.notEqual(code, 0, 'the UI still type-checks: it does not use the schema');
    assert.match(output, /admin-ui\/src\/model-page\.tsx.*'rolledBack' does not exist/, output);
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
});
