/**
 * The README's test command (`npm test` -> scripts/test.sh) on a machine that lacks what the suites
 * run: it installs the missing programs when it can (root with apt-get: that path is what CI takes on
 * a fresh machine), and otherwise stops at once with one line naming the command to run. Here the
 * programs are taken away by running the script with a PATH that does not reach them.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readRepoFile, repoPath, run } from './repo-files.js';

const SCRIPT = repoPath('scripts/test.sh');
const PROGRAMS = ['redis-server', 'chromium', 'prometheus', 'promtool', 'openssl', 'protoc'];
/** What the gRPC wire check needs besides protoc: the well-known .proto files and grpcio for Debian's python3. */
const OTHER_PACKAGES = ['libprotobuf-dev', 'python3-grpcio', 'python3-protobuf'];

/** A PATH directory holding only node and npm (what the script may need after the check). */
function bareBin(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bare-bin-'));
  symlinkSync(process.execPath, join(dir, 'node'));
  return dir;
}

/** Runs the script as an unprivileged user (nobody) when this process is root. */
function asUser(): readonly string[] {
  return process.getuid?.() === 0 ? ['/usr/bin/setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'] : [];
}

test('not root, programs missing: one line naming the apt-get command, non-zero exit, nothing else run', async (t) => {
  const bin = bareBin();
  t.after(() => rmSync(bin, { recursive: true, force: true }));
  const [command, ...prefix] = [...asUser(), '/bin/bash'];
  const result = await run(command as string, [...prefix, SCRIPT], { PATH: bin, HOME: '/nonexistent' }, 20_000);
  assert.equal(result.code, 1, `exit code; stderr: ${result.stderr}`);
  assert.equal(result.stdout, '', 'nothing was installed, built or run');
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line: ${result.stderr}`);
  const match = /^test setup: missing (.+): run `sudo apt-get install -y (.+)` \(as root on Debian\/Ubuntu, npm test installs them itself\)$/.exec(lines[0] as string);
  assert.ok(match, lines[0]);
  assert.equal(match[1], match[2], 'the command installs exactly what is missing');
  // The files and Python modules are found by absolute path, so a bare PATH does not hide them.
  assert.deepEqual(match[2]?.split(' ').sort(), ['chromium', 'openssl', 'prometheus', 'protobuf-compiler', 'redis-server'], 'each Debian package once');
});

test('without apt-get on PATH (not Debian), even as root: the same message instead of an install attempt', async (t) => {
  const bin = bareBin();
  t.after(() => rmSync(bin, { recursive: true, force: true }));
  const result = await run('/bin/bash', [SCRIPT], { PATH: bin, HOME: '/nonexistent' }, 20_000);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /^test setup: missing .*: run `sudo apt-get install -y /);
});

test('what the script checks for is what the suites run, and npm test and .ci/run both go through it', () => {
  const script = readFileSync(SCRIPT, 'utf8');
  for (const program of PROGRAMS) assert.match(script, new RegExp(`\\[${program}\\]=`), `${program} is provisioned`);
  for (const pkg of OTHER_PACKAGES) assert.match(script, new RegExp(`\\]=${pkg}(\\s|$)`, 'm'), `${pkg} is provisioned`);
  const pkg = JSON.parse(readRepoFile('package.json')) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts['test'], 'bash scripts/test.sh');
  assert.match(readRepoFile('.ci/run'), /^npm test$/m, '.ci/run runs the README test command');
  assert.match(readRepoFile('README.md'), /npm test +# /, 'the README names npm test');
});
