/**
 * A second implementation checks the wire format: protoc generates Python messages from the
 * project's .proto files, and grpcio (Debian's python3-grpcio, grpc C++ underneath, as in TF
 * Serving's own clients) calls the simulator with them. scripts/test.sh provisions protoc, the
 * well-known .proto files (libprotobuf-dev) and python3-grpcio/python3-protobuf.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { PROTOS_DIR } from '../../../gateway/src/tfserving/protos.js';
import { startReplica } from '../../helpers/simulator.js';

const run = promisify(execFile);
const T = { timeout: 60_000 };
/** Debian's interpreter, which has the python3-grpcio package (a python3 earlier on PATH may not). */
const PYTHON = '/usr/bin/python3';
/** Where Debian's libprotobuf-dev puts google/protobuf/*.proto. */
const WELL_KNOWN_PROTOS = '/usr/include';
const SCRIPT = join(PROTOS_DIR, '..', 'test/integration/simulator/grpc_client.py');

function protoFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.proto'))
    .map((f) => relative(dir, join(dir, f)))
    .sort();
}

test('grpcio with protoc-generated messages: Predict, GetModelStatus, Classify, GetModelMetadata and errors', T, async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'tfs-protos-py-'));
  t.after(() => rmSync(out, { recursive: true, force: true }));
  await run('protoc', ['-I', PROTOS_DIR, '-I', WELL_KNOWN_PROTOS, `--python_out=${out}`, ...protoFiles(PROTOS_DIR)], { timeout: 30_000 });

  const sim = await startReplica({ grpcPort: 0, versions: [1, 2] });
  t.after(() => sim.close());
  const { stdout } = await run(PYTHON, [SCRIPT, out, sim.grpcAddress as string], { timeout: 30_000 });
  const answers = JSON.parse(stdout) as Record<string, unknown>;

  assert.deepEqual(answers['predict'], {
    outputs: { y: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: '3' }] }, float_val: [2.5, 3, 4.5] } },
    model_spec: { name: 'half_plus_two', version: '2', signature_name: 'serving_default' },
  });
  assert.deepEqual(answers['status'], {
    model_version_status: [
      { version: '2', state: 'AVAILABLE', status: {} },
      { version: '1', state: 'AVAILABLE', status: {} },
    ],
  });
  assert.deepEqual(answers['classify'], {
    result: { classifications: [{ classes: [{ score: 2.5 }] }, { classes: [{ score: 3 }] }] },
    model_spec: { name: 'half_plus_two', version: '2', signature_name: 'classify_x_to_y' },
  });
  assert.deepEqual(answers['metadata'], {
    model_spec: { name: 'half_plus_two', version: '2' },
    serving_default: {
      inputs: { x: { name: 'x:0', dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: '-1' }, { size: '1' }] } } },
      outputs: { y: { name: 'y:0', dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: '-1' }, { size: '1' }] } } },
      method_name: 'tensorflow/serving/predict',
    },
  });
  assert.deepEqual(answers['unknown_model'], { code: 'NOT_FOUND', details: 'Servable not found for request: Latest(nope)' });
  assert.deepEqual(answers['status_no_name'], { code: 'NOT_FOUND', details: 'Could not find any versions of model ' });
  assert.deepEqual(answers['wrong_alias'], {
    code: 'INVALID_ARGUMENT',
    details: 'Signature input alias: x(feed name: x:0) not found in request and no default value provided. Inputs expected to be in the request {w}, or default input alias set: ',
  });
});
