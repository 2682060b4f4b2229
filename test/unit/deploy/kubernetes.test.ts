import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigMap, PersistentVolumeClaim, Service } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { parseAllDocuments } from 'yaml';
import { parseConfig } from '../../../src/config/load.js';

const DIR = join(import.meta.dirname, '../../../deploy/kubernetes');
// Each kind with its model, which validates against the bundled Kubernetes JSON schema (offline).
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

const manifests = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
  .flatMap((f) =>
    parseAllDocuments(readFileSync(join(DIR, f), 'utf8')).map((d) => ({
      file: f,
      doc: d.toJSON() as { apiVersion: string; kind: string; metadata: { name: string }; [k: string]: unknown },
    })),
  );
const byKind = (kind: string) => manifests.filter((m) => m.doc.kind === kind).map((m) => m.doc);

test('every manifest validates against the Kubernetes schema of its kind', () => {
  assert.ok(manifests.length >= 5);
  for (const { file, doc } of manifests) {
    const Model = MODELS[`${doc.apiVersion}/${doc.kind}`];
    assert.ok(Model, `${file}: ${doc.apiVersion} ${doc.kind} has a model`);
    assert.doesNotThrow(() => new Model(doc as never).validate(), `${file} is a valid ${doc.kind}`);
  }
  const kustomization = parseAllDocuments(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8'))[0].toJSON() as { resources: string[] };
  assert.deepEqual([...kustomization.resources].sort(), [...new Set(manifests.map((m) => m.file))].sort());
});

test('the schema check catches a broken manifest', () => {
  const broken = structuredClone(byKind('Deployment')[0]) as unknown as { spec: { replicas: unknown } };
  broken.spec.replicas = 'two';
  assert.throws(() => new Deployment(broken as never).validate());
});

test('the Deployment: 2 replicas, probes, resources, non-root read-only root, drain-friendly, no secret values', () => {
  const [deployment] = byKind('Deployment') as unknown as Deployment[];
  const spec = deployment.spec!;
  assert.equal(spec.replicas, 2);
  const pod = spec.template.spec!;
  const [c] = pod.containers;
  assert.equal(c.readinessProbe?.httpGet?.path, '/readyz');
  assert.equal(c.livenessProbe?.httpGet?.path, '/healthz');
  assert.ok(c.resources?.requests?.cpu && c.resources.requests.memory && c.resources.limits?.memory);
  assert.equal(pod.securityContext?.runAsNonRoot, true);
  assert.equal(c.securityContext?.readOnlyRootFilesystem, true);
  const mounts = new Map(c.volumeMounts!.map((m) => [m.name, m.mountPath]));
  const volumes = new Map(pod.volumes!.map((v) => [v.name, v]));
  for (const name of mounts.keys()) assert.ok(volumes.has(name), `volume ${name} is defined`);
  assert.equal(mounts.get('tmp'), '/tmp');
  assert.ok(volumes.get('tmp')?.emptyDir && volumes.get('data')?.emptyDir, '/tmp and the data dir are emptyDirs');
  for (const e of c.env ?? []) assert.ok(e.valueFrom?.secretKeyRef, `${e.name} comes from a Secret reference, not a value`);
  const [configMap] = byKind('ConfigMap') as unknown as { data: Record<string, string> }[];
  const config = parseConfig(parseAllDocuments(configMap.data['gatehouse.yaml'])[0].toJSON(), {
    env: { REDIS_URL: 'redis://redis:6379', AUDIT_POSTGRES_URL: 'postgres://gatehouse@postgres/gatehouse', OIDC_CLIENT_SECRET: 'dummy' },
  });
  assert.ok(config.server.drain_delay > 0, 'drain_delay is set');
  assert.ok((pod.terminationGracePeriodSeconds ?? 30) * 1000 > config.server.drain_delay + 10_000, 'the grace period outlasts drain_delay');
  assert.equal(config.state.data_dir, mounts.get('data'));
  assert.equal(config.recordings.dir, mounts.get('recordings'));
  assert.ok(config.state.redis_url, 'replicas share Redis');
  assert.equal(config.audit.backend, 'postgres');
  const env = new Set(c.env!.map((e) => e.name));
  for (const ref of configMap.data['gatehouse.yaml'].matchAll(/\$\{([A-Z0-9_]+)\}/g)) assert.ok(env.has(ref[1]), `\${${ref[1]}} is set in the Deployment`);
  const [pdb] = byKind('PodDisruptionBudget') as unknown as PodDisruptionBudget[];
  assert.deepEqual(pdb.spec?.selector?.matchLabels, spec.selector.matchLabels);
  const [svc] = byKind('Service') as unknown as Service[];
  assert.deepEqual(svc.spec?.selector, spec.selector.matchLabels);
});
