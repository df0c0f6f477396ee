/**
 * The compose file's `monitoring` profile, checked without a Docker engine: Prometheus and Grafana
 * start only with the profile, read the repository's files through read-only mounts, and are wired
 * to each other and to the gateways (Prometheus loads every rule file and scrapes the gateway
 * service's admin port under the job the rules name; Grafana gets that Prometheus as its data
 * source and the dashboard). Their health checks are run against a stand-in.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { loadConfigFile } from '../../../gateway/src/config/load.js';
import { GATEWAY_JOB } from '../../../scripts/lib/prometheus-server.js';
import { loadDashboard } from '../../../scripts/lib/dashboard.js';
import { commandArgs, dependencies, loadCompose, mounts, portMappings, readRepoFile, repoPath, run, startStubAdmin, type ComposeService, type Mount } from './repo-files.js';

const compose = loadCompose();
const services = compose.services;
const PROFILE = 'monitoring';

function service(name: string): ComposeService {
  const found = services[name];
  assert.ok(found, `a service named ${name}`);
  return found;
}

/** The repository path a container path reads, through the service's bind mounts. */
function hostPath(of: ComposeService, containerPath: string): { mount: Mount; path: string } {
  const mount = mounts(of)
    .filter((m) => m.bind && (containerPath === m.target || containerPath.startsWith(`${m.target}/`)))
    .sort((a, b) => b.target.length - a.target.length)[0];
  assert.ok(mount, `${containerPath} is on a bind mount of the repository`);
  return { mount, path: mount.source + containerPath.slice(mount.target.length) };
}

/** A flag's value in a `--flag=value` command line. */
function flag(of: ComposeService, name: string): string {
  const arg = commandArgs(of.command).find((a) => a.startsWith(`--${name}=`));
  assert.ok(arg, `--${name}= in the command`);
  return arg.slice(name.length + 3);
}

interface PrometheusConfig {
  rule_files?: string[];
  scrape_configs?: Array<{
    job_name: string;
    metrics_path?: string;
    static_configs?: Array<{ targets: string[] }>;
    dns_sd_configs?: Array<{ names: string[]; type?: string; port?: number }>;
  }>;
}

function prometheusConfig(): PrometheusConfig {
  const { path } = hostPath(service('prometheus'), flag(service('prometheus'), 'config.file'));
  return parseYaml(readRepoFile(path)) as PrometheusConfig;
}

describe('docker-compose.yml, profile monitoring', () => {
  test('prometheus and grafana start only with the profile; the rest of the stack has none', () => {
    for (const [name, s] of Object.entries(services)) {
      const profiles = (s['profiles'] as string[] | undefined) ?? [];
      if (name === 'prometheus' || name === 'grafana') assert.deepEqual(profiles, [PROFILE], `${name} is in the ${PROFILE} profile`);
      else assert.deepEqual(profiles, [], `${name} starts with a plain docker compose up`);
    }
    for (const name of ['prometheus', 'grafana']) {
      const tag = (service(name).image ?? '').split(':')[1] ?? '';
      assert.ok(tag !== '' && tag !== 'latest', `${name}: image pinned to a version`);
      const published = portMappings(service(name));
      assert.ok(published.length > 0 && published.every((p) => p.hostIp === '127.0.0.1'), `${name}: published on the host loopback only`);
    }
  });

  test('every file the two services read is a read-only bind mount of something in the repository', () => {
    for (const name of ['prometheus', 'grafana']) {
      const binds = mounts(service(name)).filter((m) => m.bind);
      assert.ok(binds.length >= 2, `${name}: mounts the repository's files`);
      for (const m of binds) {
        assert.ok(m.readOnly, `${name}: ${m.source} is mounted read-only`);
        assert.ok(existsSync(repoPath(m.source)), `${name}: ${m.source} exists`);
      }
      const data = mounts(service(name)).filter((m) => !m.bind);
      assert.ok(data.every((m) => Object.keys(compose.volumes ?? {}).includes(m.source)), `${name}: its data volume is declared`);
    }
  });

  test('prometheus loads every rule file of deploy/prometheus/rules', () => {
    const prometheus = service('prometheus');
    const ruleFiles = prometheusConfig().rule_files ?? [];
    assert.ok(ruleFiles.length > 0, 'rule_files set');
    const loaded = new Set<string>();
    for (const pattern of ruleFiles) {
      const { path } = hostPath(prometheus, pattern);
      const slash = path.lastIndexOf('/');
      const [dir, glob] = [path.slice(0, slash), path.slice(slash + 1)];
      const re = new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '.')}$`);
      for (const file of readdirSync(repoPath(dir)).filter((f) => re.test(f))) loaded.add(`${dir.replace(/^\.\//, '')}/${file}`);
    }
    const inRepo = readdirSync(repoPath('deploy/prometheus/rules')).filter((f) => f.endsWith('.yml')).map((f) => `deploy/prometheus/rules/${f}`);
    assert.ok(inRepo.length >= 2, 'alerts and recording rules');
    assert.deepEqual([...loaded].sort(), inRepo.sort());
  });

  test('prometheus scrapes the gateway service on its admin port, under the job the rules select', () => {
    const job = (prometheusConfig().scrape_configs ?? []).find((j) => j.job_name === GATEWAY_JOB);
    assert.ok(job, `a scrape job named ${GATEWAY_JOB}`);
    assert.match(readRepoFile('deploy/prometheus/rules/alerts.yml'), new RegExp(`up\\{job="${GATEWAY_JOB}"\\}`), 'the GatewayDown alert selects that job');
    assert.equal(job.metrics_path ?? '/metrics', '/metrics');
    const adminPort = loadConfigFile(repoPath('deploy/gateway.yaml'), {}).admin.port;
    // Every instance of a scaled gateway service: DNS service discovery on the service name.
    const dns = job.dns_sd_configs?.[0];
    assert.ok(dns, 'dns_sd_configs on the service name (--scale gateway=N: one target per container)');
    assert.deepEqual(dns.names, ['gateway']);
    assert.ok(services[dns.names[0] as string], 'gateway is a compose service');
    assert.equal(dns.type ?? 'SRV', 'A', 'A records: Compose has no SRV records');
    assert.equal(dns.port, adminPort, `the gateway's admin port (${adminPort}) from deploy/gateway.yaml`);
  });

  test('grafana is provisioned with that Prometheus as its data source and with the dashboard', () => {
    const grafana = service('grafana');
    const provisioning = hostPath(grafana, '/etc/grafana/provisioning');
    assert.equal(provisioning.path, './deploy/grafana/provisioning');

    const datasources = readdirSync(repoPath('deploy/grafana/provisioning/datasources'))
      .flatMap((f) => (parseYaml(readRepoFile(`deploy/grafana/provisioning/datasources/${f}`)) as { datasources: Array<{ type: string; url: string; uid: string; isDefault?: boolean }> }).datasources);
    const prometheusSource = datasources.find((d) => d.type === 'prometheus');
    assert.ok(prometheusSource, 'a prometheus data source');
    assert.equal(prometheusSource.isDefault, true);
    const url = new URL(prometheusSource.url);
    assert.ok(services[url.hostname] === service('prometheus'), `${url.hostname} is the prometheus service`);
    assert.ok(portMappings(service('prometheus')).some((p) => p.target === Number(url.port)), `port ${url.port} is the one Prometheus serves on`);
    const dashboard = loadDashboard();
    const dsVariable = dashboard.templating.list.find((v) => v.type === 'datasource') as { current?: { value?: string } } | undefined;
    assert.equal(dsVariable?.current?.value, prometheusSource.uid, "the dashboard's data source variable defaults to it");

    const providers = readdirSync(repoPath('deploy/grafana/provisioning/dashboards'))
      .flatMap((f) => (parseYaml(readRepoFile(`deploy/grafana/provisioning/dashboards/${f}`)) as { providers: Array<{ type: string; options: { path: string } }> }).providers);
    assert.equal(providers.length, 1);
    const provider = providers[0]!;
    assert.equal(provider.type, 'file');
    const dashboards = hostPath(grafana, provider.options.path);
    assert.ok(existsSync(repoPath(`${dashboards.path}/canary-gateway.json`)), `the provider's folder (${dashboards.path}) holds the dashboard`);
    const env = grafana.environment as Record<string, string>;
    const home = hostPath(grafana, env['GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH'] ?? '');
    assert.equal(home.path.replace(/^\.\//, ''), 'deploy/grafana/dashboards/canary-gateway.json', 'the dashboard is the home page');
    assert.equal(dependencies(grafana)['prometheus'], 'service_healthy');
  });

  test('their health checks ask the ready and health endpoints and fail on anything but 200', async () => {
    const cases = [
      { name: 'prometheus', path: '/-/ready', port: 9090 },
      { name: 'grafana', path: '/api/health', port: 3000 },
    ];
    for (const { name, path, port } of cases) {
      const hc = (service(name).healthcheck?.test ?? []) as string[];
      assert.equal(hc[0], 'CMD');
      const target = hc.find((a) => a.startsWith('http://'));
      assert.equal(target, `http://127.0.0.1:${port}${path}`, `${name}: asks ${path} on its own port`);
      // The same command (wget and curl take the same flags here as in the images) against a stand-in.
      const stub = await startStubAdmin({ [path]: 200 });
      try {
        const command = hc.slice(1).map((a) => (a === target ? `http://127.0.0.1:${stub.port}${path}` : a));
        assert.equal((await run(command[0] as string, command.slice(1))).code, 0, `${name}: healthy on 200`);
        stub.statuses.set(path, 503);
        assert.notEqual((await run(command[0] as string, command.slice(1))).code, 0, `${name}: unhealthy on 503`);
      } finally {
        await stub.close();
      }
    }
  });
});
