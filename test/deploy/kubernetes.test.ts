/**
 * deploy/kubernetes, checked without a cluster: every object against its Kubernetes schema
 * (kubernetes-models, plus the TypeScript compiler for unknown fields), and the facts that tie
 * the manifests to each other and to bledfu: the server's own config loader takes the args, the
 * Service finds the pods, the device plugin's resource is the one requested, the user is the
 * Dockerfile's.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { parse as parseYaml } from 'yaml';
import { checkAdapterSpecs } from '../../server/backends/registry.js';
import { hasCode } from '../../server/common/errors.js';
import { loadConfig } from '../../server/config/load.js';
import type { Config } from '../../server/config/settings.js';
import { loadServerSecurity } from '../../server/rpc/security.js';
import { loadManifestFile, parseManifests, schemaErrors, unknownFieldErrors, type KubeObject, type Manifest } from '../helpers/kubernetes-manifests.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = join(root, 'deploy', 'kubernetes');
const NAMESPACE = 'bledfu';
/** Debian's fixed GID of dialout (base-passwd), the group the Dockerfile gives the bledfu user. */
const DEBIAN_DIALOUT_GID = 20;

const yamlFiles = readdirSync(dir).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml')).sort();
const manifestFiles = yamlFiles.filter((f) => f !== 'kustomization.yaml');
const manifests: Manifest[] = manifestFiles.flatMap((f) => loadManifestFile(dir, f));

function find<T>(kind: string, name: string): T {
  const found = manifests.filter((m) => m.object.kind === kind && m.object.metadata?.name === name);
  assert.equal(found.length, 1, `exactly one ${kind} ${name} in deploy/kubernetes`);
  return (found[0] as Manifest).object as T;
}

/** The value after `flag` in an argument list. */
function argValue(args: readonly string[], flag: string): string {
  const i = args.indexOf(flag);
  assert.ok(i >= 0 && i + 1 < args.length, `${flag} is given`);
  return args[i + 1] as string;
}

const portOf = (hostPort: string): number => Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));

const server = find<IDaemonSet>('DaemonSet', 'bledfu');
const pod = server.spec?.template.spec;
const container = (pod?.containers ?? []).find((c) => c.name === 'bledfu') as IContainer;
const args = container?.args ?? [];
const plugin = find<IDaemonSet>('DaemonSet', 'bledfu-device-plugin');

describe('deploy/kubernetes: every object is valid Kubernetes', () => {
  it('has the manifests the docs describe', () => {
    for (const f of ['namespace.yaml', 'daemonset.yaml', 'service-headless.yaml', 'device-plugin.yaml', 'kustomization.yaml', 'secret-tokens.example.yaml']) {
      assert.ok(yamlFiles.includes(f), `${f} exists`);
    }
  });

  it('validates each object against the schema of its apiVersion and kind', async () => {
    assert.ok(manifests.length >= 6);
    for (const m of manifests) assert.deepEqual(await schemaErrors(m.object), [], m.source);
  });

  it('uses no field the Kubernetes API does not define', () => {
    assert.deepEqual(unknownFieldErrors(root, manifests), []);
  });

  it("pins every third-party image by digest (a node runs exactly that image); bledfu's own is the user's build", () => {
    const images = manifests.flatMap((m) => {
      const spec = (m.object as IDaemonSet).spec?.template?.spec;
      return [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])].map((c) => ({ source: m.source, image: c.image ?? '' }));
    });
    const thirdParty = images.filter((i) => !/^bledfu(:|@|$)/.test(i.image));
    assert.ok(thirdParty.length >= 1, 'the device plugin is a third-party image');
    for (const { source, image } of thirdParty) {
      // [registry/]name[:tag]@sha256:<64 hex>: a real digest, not a placeholder.
      assert.match(image, /^[a-z0-9./-]+(:[\w.-]+)?@sha256:[0-9a-f]{64}$/, `${source}: ${image}`);
      assert.doesNotMatch(image, /@sha256:(0{64}|(.)\2{63})$/, `${source}: a placeholder digest`);
    }
  });

  it('puts every namespaced object in the bledfu namespace, which it creates', () => {
    find<KubeObject>('Namespace', NAMESPACE);
    for (const m of manifests.filter((x) => x.object.kind !== 'Namespace')) assert.equal(m.object.metadata?.namespace, NAMESPACE, m.source);
  });
});

describe('the validator catches broken manifests', () => {
  const daemonSet = (): { spec: { template: { spec: { containers: Record<string, unknown>[] } } } } & KubeObject => structuredClone(server) as never;
  const first = (o: ReturnType<typeof daemonSet>): Record<string, unknown> => o.spec.template.spec.containers[0] as Record<string, unknown>;

  it('rejects a field of the wrong type', async () => {
    const broken = daemonSet();
    (first(broken)['ports'] as Record<string, unknown>[])[0] = { name: 'grpc', containerPort: '50051' };
    const errors = await schemaErrors(broken);
    assert.equal(errors.length, 1);
    assert.match(errors[0] as string, /containers\/0\/ports\/0\/containerPort must be integer/);
    assert.match(unknownFieldErrors(root, [{ source: 'broken', object: broken }]).join('\n'), /Type 'string' is not assignable to type 'number'/);
  });

  it('rejects a misspelt field, which the schema alone lets through', async () => {
    const broken = daemonSet();
    first(broken)['readinesProbe'] = first(broken)['readinessProbe'];
    delete first(broken)['readinessProbe'];
    assert.deepEqual(await schemaErrors(broken), [], 'the OpenAPI schemas allow unknown fields');
    const errors = unknownFieldErrors(root, [{ source: 'broken', object: broken }]);
    assert.equal(errors.length, 1);
    assert.match(errors[0] as string, /^broken spec\.template\.spec\.containers\[0\]\.readinesProbe: .*'"readinesProbe"' does not exist in type 'IContainer'/);
  });

  it('rejects a missing required field', async () => {
    const broken = daemonSet();
    delete first(broken)['name'];
    assert.match((await schemaErrors(broken)).join('\n'), /containers\/0 must have required property name/);
  });

  it('rejects an unknown kind or apiVersion', async () => {
    assert.match((await schemaErrors({ apiVersion: 'apps/v1', kind: 'DaemonSett' })).join(), /no Kubernetes schema for kind "DaemonSett"/);
    assert.match((await schemaErrors({ apiVersion: 'apps/v2', kind: 'DaemonSet' })).join(), /no Kubernetes schema for apiVersion "apps\/v2"/);
  });

  it('rejects duplicate keys and reads octal modes as kubectl does (YAML 1.1)', () => {
    assert.throws(() => parseManifests('dup.yaml', 'apiVersion: v1\nkind: Namespace\nkind: Secret\n'), /dup\.yaml#0: .*[Uu]nique/);
    const [m] = parseManifests('mode.yaml', 'apiVersion: v1\nkind: Secret\nmode: 0440\n');
    assert.equal((m?.object as unknown as { mode: number }).mode, 0o440);
  });
});

describe('kustomization.yaml', () => {
  const kustomization = parseYaml(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'), { version: '1.1' }) as { kind: string; resources: string[] };

  it('lists every manifest but the example Secret, and only files that exist', () => {
    assert.equal(kustomization.kind, 'Kustomization');
    assert.equal(new Set(kustomization.resources).size, kustomization.resources.length, 'no file listed twice');
    for (const r of kustomization.resources) assert.ok(manifestFiles.includes(r), `${r} exists`);
    assert.deepEqual(
      manifestFiles.filter((f) => !kustomization.resources.includes(f)),
      manifestFiles.filter((f) => f.endsWith('.example.yaml')),
      'every manifest is applied except the *.example.yaml ones',
    );
  });
});

describe('the bledfu DaemonSet', () => {
  let config: Config;
  before(() => {
    const loaded = loadConfig({ argv: args, env: {}, readFile: () => assert.fail('no config file') });
    assert.equal(loaded.kind, 'config');
    if (loaded.kind === 'config') config = loaded.config;
  });

  it("passes args that bledfud's own config loader accepts", async () => {
    assert.equal(container.command, undefined, "the image's ENTRYPOINT (bledfud) runs");
    await checkAdapterSpecs(config.adapters);
    assert.deepEqual(config.adapters, ['auto:/dev/ttyBLEDFU']);
  });

  it('listens on the ports the container and the Service declare', () => {
    const ports = new Map((container.ports ?? []).map((p) => [p.name, p.containerPort]));
    assert.equal(portOf(config.listen), ports.get('grpc'));
    assert.equal(portOf(argValue(args, '--metrics-listen')), ports.get('metrics'));
    assert.equal(ports.get('grpc'), 50051);
    assert.equal(server.spec?.template.metadata?.annotations?.['prometheus.io/port'], String(ports.get('metrics')), 'the scrape annotation names the metrics port');
  });

  it('reads its tokens from the mounted Secret, and refuses the example placeholders', () => {
    const mount = (container.volumeMounts ?? []).find((v) => v.name === 'tokens');
    const volume = (pod?.volumes ?? []).find((v) => v.name === 'tokens');
    const item = volume?.secret?.items?.[0];
    assert.ok(mount?.readOnly && volume?.secret !== undefined && item !== undefined);
    assert.equal(config.tokensFile, `${mount.mountPath}/${item.path}`);
    assert.equal(volume.secret.defaultMode, 0o440, 'the tokens file is not world-readable');

    const example = find<ISecret>('Secret', volume.secret.secretName as string);
    const tokens = example.stringData?.[item.key];
    assert.ok(tokens !== undefined);
    const readAs = (text: string) => (path: string) => (path === config.tokensFile ? Buffer.from(text) : assert.fail(`unexpected read of ${path}`));
    assert.throws(() => loadServerSecurity(config, readAs(tokens)), (e: unknown) => hasCode(e, 'INVALID_ARGUMENT') && /shorter than 16/.test(e.message));
    // The same file with real tokens: accepted, and 0.0.0.0 is then protected by them.
    const real = tokens.replace(/CHANGE-ME(-TOO)?/g, () => randomBytes(32).toString('hex'));
    const security = loadServerSecurity(config, readAs(real));
    assert.equal(security.tokens?.size, 2);
    assert.equal(security.exposedInsecurely, false);
  });

  it('keeps its data dir (the audit log) on the node', () => {
    const mount = (container.volumeMounts ?? []).find((v) => v.mountPath === config.dataDir);
    const volume = (pod?.volumes ?? []).find((v) => v.name === mount?.name);
    assert.deepEqual(volume?.hostPath, { path: config.dataDir, type: 'DirectoryOrCreate' });
    assert.equal(config.auditLog, '', 'the audit log is in the data dir');
  });

  it('gives jobs time to stop at a resumable point before the SIGKILL', () => {
    // Shutdown waits up to the grace for jobs, then up to as long for open calls (server/app.ts).
    const graceS = pod?.terminationGracePeriodSeconds ?? 30;
    assert.ok(graceS * 1000 >= 2 * config.shutdownGraceMs + 5000, `${graceS} s covers 2 x ${config.shutdownGraceMs} ms and the close`);
  });

  it('runs as the Dockerfile user, unprivileged', () => {
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
    const useradd = /useradd\b[^\n]*/.exec(dockerfile)?.[0] ?? '';
    assert.match(useradd, /--gid dialout\b/);
    const uid = Number(/--uid (\d+)/.exec(useradd)?.[1]);
    assert.ok(uid >= 1000, `the Dockerfile gives the bledfu user a fixed UID (got "${useradd}")`);

    const psc = pod?.securityContext;
    assert.equal(psc?.runAsNonRoot, true);
    assert.equal(psc?.runAsUser, uid);
    assert.equal(psc?.runAsGroup, DEBIAN_DIALOUT_GID);
    assert.ok(psc?.supplementalGroups?.includes(DEBIAN_DIALOUT_GID));
    assert.equal(psc?.seccompProfile?.type, 'RuntimeDefault');
    assert.equal(pod?.automountServiceAccountToken, false);
    assert.equal(pod?.hostNetwork, undefined);

    const sc = container.securityContext;
    assert.equal(sc?.allowPrivilegeEscalation, false);
    assert.equal(sc?.readOnlyRootFilesystem, true);
    assert.notEqual(sc?.privileged, true);
    assert.deepEqual(sc?.capabilities, { drop: ['ALL'] });
    assert.equal(sc?.runAsUser, undefined, 'the pod-level user applies');

    // The one root container only hands the hostPath directory to that user.
    const inits = pod?.initContainers ?? [];
    assert.equal(inits.length, 1);
    const init = inits[0] as IContainer;
    assert.deepEqual(init.command, ['chown', `${uid}:${DEBIAN_DIALOUT_GID}`, config.dataDir]);
    assert.deepEqual(init.securityContext?.capabilities, { drop: ['ALL'], add: ['CHOWN'] });
    assert.equal(init.securityContext?.allowPrivilegeEscalation, false);
    assert.equal(init.image, container.image);

    const account = find<IServiceAccount>('ServiceAccount', pod?.serviceAccountName as string);
    assert.equal(account.automountServiceAccountToken, false);
  });

  it('is ready only while a dongle is (gRPC health), but stays alive without one', () => {
    assert.deepEqual(container.readinessProbe?.grpc, { port: portOf(config.listen) });
    // Every health service name answers NOT_SERVING without a ready adapter (server/rpc/health.ts):
    // a gRPC liveness probe would restart the pod each time a dongle is unplugged.
    for (const probe of [container.livenessProbe, container.startupProbe]) {
      assert.ok(probe !== undefined);
      assert.equal(probe.grpc, undefined);
      assert.equal(probe.httpGet?.path, '/metrics');
      assert.equal(probe.httpGet?.port, 'metrics');
    }
  });

  it('runs only on labelled nodes, with the dongle the device plugin exposes mounted where --adapters looks', () => {
    assert.deepEqual(pod?.nodeSelector, { 'bledfu.io/dongle': 'true' });
    assert.deepEqual(plugin.spec?.template.spec?.nodeSelector, pod?.nodeSelector, 'the plugin runs where bledfu does');

    const pluginArgs = plugin.spec?.template.spec?.containers[0]?.args ?? [];
    const domain = pluginArgs.includes('--domain') ? argValue(pluginArgs, '--domain') : 'squat.ai';
    const devices = pluginArgs.flatMap((a, i) => (a === '--device' ? [pluginArgs[i + 1] as string] : []));
    assert.equal(devices.length, 1);
    const device = parseYaml(devices[0] as string, { version: '1.1', uniqueKeys: true }) as PluginDevice;
    checkPluginDevice(device);

    const resource = `${domain}/${device.name}`;
    const limits = container.resources?.limits ?? {};
    assert.equal(limits[resource], '1', `bledfu asks for one ${resource}`);
    assert.deepEqual(Object.keys(limits).filter((k) => k.includes('/')), [resource], 'and no other device');

    const port = config.adapters.map((a) => a.slice(a.indexOf(':') + 1).split('?')[0]);
    for (const group of device.groups) {
      for (const p of group.paths) {
        assert.deepEqual([p.mountPath], port, `${p.path} is mounted where --adapters looks`);
        assert.doesNotMatch(p.permissions ?? 'mrw', /m/, 'the container may not mknod');
      }
    }
  });
});

/** A `--device` entry of squat's generic-device-plugin (its deviceplugin.DeviceSpec). */
interface PluginDevice {
  readonly name: string;
  readonly groups: readonly { readonly count?: number; readonly paths: readonly { readonly path: string; readonly mountPath?: string; readonly permissions?: string }[] }[];
}

/**
 * The plugin decodes its config leniently (unknown keys are dropped, so a misspelt "mountpath"
 * would silently mount the dongle under its node name): check the keys against the fields it
 * documents.
 */
function checkPluginDevice(value: unknown): asserts value is PluginDevice {
  const keys = (o: unknown, allowed: readonly string[], where: string): Record<string, unknown> => {
    assert.ok(typeof o === 'object' && o !== null && !Array.isArray(o), `${where} is a map`);
    for (const k of Object.keys(o)) assert.ok(allowed.includes(k), `${where}: unknown key "${k}"`);
    return o as Record<string, unknown>;
  };
  const device = keys(value, ['name', 'groups'], 'device');
  assert.match(String(device['name']), /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  assert.ok(Array.isArray(device['groups']) && device['groups'].length > 0);
  (device['groups'] as unknown[]).forEach((g, i) => {
    const group = keys(g, ['paths', 'usb', 'count'], `groups[${i}]`);
    assert.ok(Array.isArray(group['paths']) && group['paths'].length > 0, `groups[${i}] has paths`);
    (group['paths'] as unknown[]).forEach((p, j) => {
      const path = keys(p, ['path', 'mountPath', 'permissions', 'readOnly', 'type', 'limit', 'optional'], `groups[${i}].paths[${j}]`);
      assert.match(String(path['path']), /^\/dev\//);
    });
  });
}

describe('the headless Service', () => {
  const service = find<IService>('Service', 'bledfu');

  it('has no cluster IP and publishes only ready pods, so DNS lists every station that has a dongle', () => {
    assert.equal(service.spec?.clusterIP, 'None');
    assert.equal(service.spec?.publishNotReadyAddresses, false);
  });

  it('selects the bledfu pods and nothing else of ours', () => {
    const selector = Object.entries(service.spec?.selector ?? {});
    assert.ok(selector.length > 0);
    const matches = (labels: Record<string, string> | undefined): boolean => selector.every(([k, v]) => labels?.[k] === v);
    assert.ok(matches(server.spec?.template.metadata?.labels), 'selects the DaemonSet pods');
    assert.ok(!matches(plugin.spec?.template.metadata?.labels), 'not the device plugin');
    const dsSelector = Object.entries(server.spec?.selector.matchLabels ?? {});
    assert.ok(dsSelector.every(([k, v]) => server.spec?.template.metadata?.labels?.[k] === v), "the DaemonSet's selector matches its own pods");
  });

  it("exposes the container's grpc and metrics ports under the same names and numbers", () => {
    const containerPorts = new Map((container.ports ?? []).map((p) => [p.name, p.containerPort]));
    const ports = service.spec?.ports ?? [];
    assert.deepEqual(ports.map((p) => p.name).sort(), ['grpc', 'metrics']);
    for (const p of ports) {
      assert.equal(p.targetPort, p.name);
      assert.equal(p.port, containerPorts.get(p.name as string), `${p.name}: the DNS name's port is the pod's`);
    }
    assert.equal(ports.find((p) => p.name === 'grpc')?.appProtocol, 'grpc');
  });

  it('is the name the CLI docs use', () => {
    assert.equal(`${service.metadata?.name}.${service.metadata?.namespace}.svc.cluster.local`, 'bledfu.bledfu.svc.cluster.local');
    const docs = readFileSync(join(root, 'docs', 'kubernetes.md'), 'utf8');
    assert.match(docs, /--server dns:\/\/\/bledfu\.bledfu\.svc\.cluster\.local:50051/);
  });
});
