/**
 * The Kubernetes example in docs/kubernetes/: the manifests parse, the gateway's ConfigMap passes the
 * gateway's own loader and points at the headless Services the example defines, the probes ask the
 * admin port's /readyz and /healthz, the grace period covers the drain, the token comes from a Secret.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { loadConfigFile, type GatewayConfig } from '../../../gateway/src/config/load.js';
import { execForm, parseDockerfile, readRepoFile, repoPath } from './repo-files.js';

interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly annotations?: Record<string, string> };
  readonly [key: string]: unknown;
}

/** Manifests are free-form YAML: read them loosely. */
type Any = any;

const DIR = 'docs/kubernetes';

function manifests(): Manifest[] {
  const out: Manifest[] = [];
  for (const file of readdirSync(repoPath(DIR)).filter((f) => f.endsWith('.yaml')).sort()) {
    for (const doc of parseAllDocuments(readRepoFile(`${DIR}/${file}`))) {
      assert.deepEqual(doc.errors, [], `${file}: YAML errors`);
      const value = doc.toJS() as Manifest | null;
      if (value === null) continue;
      assert.ok(value.apiVersion && value.kind && value.metadata?.name, `${file}: apiVersion, kind and metadata.name`);
      out.push(value);
    }
  }
  return out;
}

const all = manifests();
const find = (kind: string, name: string): Any => {
  const m = all.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(m, `${kind} ${name}`);
  return m;
};

function gatewayDeployment(): Any {
  return find('Deployment', 'canary-gateway');
}

function gatewayContainer(): Any {
  const containers = gatewayDeployment().spec.template.spec.containers as Any[];
  assert.equal(containers.length, 1);
  return containers[0];
}

/** The ConfigMap's gateway.yaml, through the gateway's own loader (no environment overrides). */
function configMapConfig(): GatewayConfig {
  const configMap = find('ConfigMap', 'canary-gateway-config');
  const text = configMap.data['gateway.yaml'] as string;
  const dir = mkdtempSync(join(tmpdir(), 'canary-gateway-k8s-'));
  try {
    const file = join(dir, 'gateway.yaml');
    writeFileSync(file, text);
    return loadConfigFile(file, {});
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('every manifest names a namespace the example creates', () => {
  const namespaces = new Set(all.filter((m) => m.kind === 'Namespace').map((m) => m.metadata.name));
  for (const m of all.filter((x) => x.kind !== 'Namespace')) {
    assert.ok(m.metadata.namespace !== undefined && namespaces.has(m.metadata.namespace), `${m.kind} ${m.metadata.name}: namespace ${m.metadata.namespace}`);
  }
});

test('the ConfigMap\'s gateway.yaml passes the gateway\'s loader and is mounted where the container reads it', () => {
  const config = configMapConfig();
  assert.deepEqual(config.admin, { host: '0.0.0.0', port: 9901 }, 'the admin port reachable by the kubelet\'s probes');
  assert.equal(config.rest.port, 8501);
  const container = gatewayContainer();
  const args = container.args as string[];
  const file = args[args.indexOf('--config') + 1] as string;
  assert.ok(args.includes('--config'), 'started with --config');
  const mount = (container.volumeMounts as Any[]).find((m) => file.startsWith(`${m.mountPath}/`));
  assert.ok(mount, `a volume mounted above ${file}`);
  assert.equal(mount.subPath, undefined, 'a directory mount (subPath mounts never see ConfigMap updates)');
  const volume = (gatewayDeployment().spec.template.spec.volumes as Any[]).find((v) => v.name === mount.name);
  assert.equal(volume.configMap.name, 'canary-gateway-config');
  assert.equal(file.slice(mount.mountPath.length + 1), 'gateway.yaml', 'the ConfigMap key is the file name');
});

test('the pools point at headless Services of the example, by cluster DNS name, on their REST port', () => {
  const model = configMapConfig().models.find((m) => m.name === 'half_plus_two');
  assert.ok(model);
  assert.deepEqual(model.pools.map((p) => p.version), [1, 2]);
  for (const pool of model.pools) {
    assert.equal(pool.replicas.length, 1, 'one DNS name per pool: the gateway expands it into one replica per address');
    const url = new URL(pool.replicas[0]?.url ?? '');
    const m = /^([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local$/.exec(url.hostname);
    assert.ok(m, `${url.hostname} is <service>.<namespace>.svc.cluster.local`);
    const service = find('Service', m[1] as string);
    assert.equal(service.metadata.namespace, m[2]);
    assert.equal(service.spec.clusterIP, 'None', `${m[1]} is headless (its name resolves to every pod)`);
    const port = (service.spec.ports as Any[]).find((p) => p.port === Number(url.port));
    assert.ok(port, `${m[1]} has port ${url.port}`);
    // The Service selects the Deployment serving that version.
    const deployment = all.find((d) => d.kind === 'Deployment' && Object.entries(service.spec.selector as Record<string, string>)
      .every(([k, v]) => (d as Any).spec.template.metadata.labels[k] === v)) as Any;
    assert.ok(deployment, `a Deployment behind ${m[1]}`);
    const tf = deployment.spec.template.spec.containers.find((c: Any) => String(c.image).startsWith('tensorflow/serving:'));
    assert.ok(tf, `${deployment.metadata.name} runs tensorflow/serving`);
    assert.ok((tf.args as string[]).includes(`--model_config_file=/models/config/v${pool.version}.config`), `${deployment.metadata.name} serves version ${pool.version}`);
  }
  assert.equal(find('Deployment', 'tfserving-v1').spec.replicas, 2);
  assert.equal(find('Deployment', 'tfserving-v2').spec.replicas, 1);
});

test('the store is the example\'s Redis Service', () => {
  const store = configMapConfig().store;
  assert.equal(store.type, 'redis');
  const url = new URL(store.type === 'redis' ? store.url ?? '' : '');
  const [name, namespace] = url.hostname.split('.');
  const service = find('Service', name as string);
  assert.equal(service.metadata.namespace, namespace);
  assert.ok((service.spec.ports as Any[]).some((p) => p.port === Number(url.port || 6379)));
  const redis = find('StatefulSet', 'redis');
  const args = redis.spec.template.spec.containers[0].args as string[];
  assert.equal(args[args.indexOf('--appendonly') + 1], 'yes', 'Redis persists (append-only file)');
  assert.ok(redis.spec.volumeClaimTemplates?.length > 0, 'on a persistent volume');
});

test('Redis runs with a password from a Secret, its probes authenticate, and the gateway reads the same Secret', () => {
  const redis = find('StatefulSet', 'redis').spec.template.spec.containers[0];
  const args = redis.args as string[];
  assert.equal(args[args.indexOf('--requirepass') + 1], '$(REDIS_PASSWORD)', 'requirepass from the environment, not a literal');
  const envOf = (container: Any, name: string): Any => (container.env as Any[]).find((e) => e.name === name);
  const ref = envOf(redis, 'REDIS_PASSWORD')?.valueFrom?.secretKeyRef;
  assert.ok(ref?.name && ref?.key, 'REDIS_PASSWORD from a secretKeyRef');
  assert.deepEqual(envOf(redis, 'REDISCLI_AUTH')?.valueFrom?.secretKeyRef, ref, 'redis-cli in the probes authenticates');
  assert.match(redis.readinessProbe.exec.command.join(' '), /redis-cli ping/);
  assert.deepEqual(envOf(gatewayContainer(), 'REDIS_PASSWORD')?.valueFrom?.secretKeyRef, ref, 'the gateway uses the same Secret key');
  assert.ok(readRepoFile(`${DIR}/README.md`).includes(`create secret generic ${ref.name as string}`), 'the README creates the Secret');
  const store = configMapConfig().store;
  assert.ok(store.type === 'redis' && store.password === undefined && !/:[^/@]*@/.test(store.url ?? ''), 'no password in the ConfigMap');
});

test('readiness asks /readyz and liveness /healthz on the admin port', () => {
  const container = gatewayContainer();
  const admin = (container.ports as Any[]).find((p) => p.containerPort === configMapConfig().admin.port);
  assert.ok(admin?.name, 'the admin port is named');
  assert.deepEqual(container.readinessProbe.httpGet, { path: '/readyz', port: admin.name });
  assert.deepEqual(container.livenessProbe.httpGet, { path: '/healthz', port: admin.name });
  if (container.startupProbe !== undefined) assert.equal(container.startupProbe.httpGet.path, '/healthz');
  assert.ok((container.ports as Any[]).some((p) => p.containerPort === configMapConfig().rest.port), 'the REST port');
});

test('the grace period covers the gateway\'s readiness delay and drain', () => {
  const { shutdown } = configMapConfig() as unknown as { shutdown?: { readinessDelayMs?: number; drainTimeoutMs?: number } };
  const spec = gatewayDeployment().spec.template.spec;
  const preStopSleep = Number(gatewayContainer().lifecycle?.preStop?.sleep?.seconds ?? 0) * 1000;
  const needed = preStopSleep + (shutdown?.readinessDelayMs ?? 0) + (shutdown?.drainTimeoutMs ?? 30_000);
  const grace = Number(spec.terminationGracePeriodSeconds ?? 30) * 1000;
  assert.ok(grace >= needed + 5_000, `terminationGracePeriodSeconds ${grace / 1000} s covers ${needed / 1000} s of shutdown with a margin`);
  assert.ok((shutdown?.readinessDelayMs ?? 0) > 0 || preStopSleep > 0, 'pods leave the endpoints before the listeners close');
});

test('the admin token comes from a Secret; the pod runs as the image\'s non-root user', () => {
  const env = gatewayContainer().env as Any[];
  const token = env.find((e) => e.name === 'ADMIN_TOKEN');
  assert.ok(token?.valueFrom?.secretKeyRef?.name, 'ADMIN_TOKEN from a secretKeyRef');
  assert.equal(token.value, undefined, 'no token in the manifest');
  const pod = gatewayDeployment().spec.template.spec;
  assert.equal(pod.securityContext.runAsNonRoot, true);
  const user = parseDockerfile(readRepoFile('Dockerfile')).stages.at(-1)!.instructions.filter((i) => i.keyword === 'USER').at(-1)!.args.split(':')[0];
  assert.equal(String(pod.securityContext.runAsUser), user, 'the uid the image runs as');
  assert.equal(gatewayContainer().securityContext.readOnlyRootFilesystem, true);
  // The image's own HEALTHCHECK is liveness too.
  const hc = parseDockerfile(readRepoFile('Dockerfile')).stages.at(-1)!.instructions.find((i) => i.keyword === 'HEALTHCHECK')!;
  assert.match(execForm(hc.args.slice(hc.args.indexOf('CMD '))).join(' '), /\/healthz/);
});

test('Services: clients on the REST and gRPC ports, the admin port on its own cluster-internal Service', () => {
  const rest = find('Service', 'canary-gateway');
  assert.deepEqual((rest.spec.ports as Any[]).map((p) => p.port), [8501, 8500], 'the client Service has the data ports, not the admin port');
  const admin = find('Service', 'canary-gateway-admin');
  assert.deepEqual((admin.spec.ports as Any[]).map((p) => p.port), [9901]);
  assert.ok(admin.spec.type === undefined || admin.spec.type === 'ClusterIP');
  for (const s of [rest, admin]) {
    assert.deepEqual(s.spec.selector, gatewayDeployment().spec.selector.matchLabels);
  }
});

test('the README explains how to apply the example', () => {
  const readme = readRepoFile(`${DIR}/README.md`);
  for (const file of readdirSync(repoPath(DIR)).filter((f) => f.endsWith('.yaml'))) assert.ok(readme.includes(file), `README mentions ${file}`);
  assert.match(readme, /create secret generic canary-gateway-admin/);
  assert.match(readme, /headless/);
  assert.match(readme, /\/readyz/);
  assert.match(readme, /terminationGracePeriodSeconds/);
});
