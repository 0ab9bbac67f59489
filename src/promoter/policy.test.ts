import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { canaryPolicySchemaText } from '../commands/schema.js';
import { ConfigError } from '../errors.js';
import { gatedApplications, parseCanaryPolicy, policyClusters, primaryApplication, writablePaths } from './policy.js';

const repoPolicy = (name: string) => readFileSync(new URL(`../../gitops/apps/${name}/canary.yaml`, import.meta.url), 'utf8');

function configError(text: string, file = 'gitops/apps/backend/canary.yaml'): ConfigError {
  try {
    parseCanaryPolicy(text, file);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('CanaryPolicy', () => {
  it.each(['frontend', 'backend', 'ai-service'])('the repository policy for %s parses, with defaults filled in', (name) => {
    const policy = parseCanaryPolicy(repoPolicy(name), `gitops/apps/${name}/canary.yaml`);
    expect(policy.metadata.name).toBe(name);
    expect(policy.spec.steps.map((s) => s.weight)).toEqual([5, 10, 50, 100]);
    expect(policy.spec.analysis.sequential.alpha).toBe(0.05);
    expect(gatedApplications(policy)).toEqual(['docuthinker-mesh', 'docuthinker-apps']);
    expect(writablePaths(policy)).toHaveLength(3);
  });

  it('refuses spec.delivery, which moved to the promoter config, with where it went', () => {
    const withDelivery = `${repoPolicy('backend').trimEnd()}\n  delivery: { mode: push, branch: main }\n`;
    expect(configError(withDelivery).issues.join('\n')).toMatch(/spec\.delivery: moved to the promoter config \(delivery\.mode/);
  });

  it('names the file and every bad field', () => {
    const bad = repoPolicy('backend')
      .replace('interval: 1m', 'interval: soon')
      .replace('{ weight: 10, minDwell: 5m, maxDwell: 30m }', '{ weight: 3, minDwell: 5m, maxDwell: 30m }')
      .replace('route: primary', 'rout: primary');
    const error = configError(bad);
    expect(error.file).toBe('gitops/apps/backend/canary.yaml');
    expect(error.message).toMatch(/^gitops\/apps\/backend\/canary\.yaml: /);
    expect(error.issues.join('\n')).toMatch(/spec\.analysis\.interval: not a duration: "soon"/);
    expect(error.issues.join('\n')).toMatch(/spec\.steps: step weights must increase/);
    expect(error.issues.join('\n')).toMatch(/spec\.virtualService/);
  });

  it('reports malformed YAML as a config error, not a crash', () => {
    expect(configError('spec: [unclosed\n').issues[0]).toMatch(/^YAML: /);
  });

  it('refuses a policy whose VirtualService and Deployments share a file (edits would overwrite each other)', () => {
    const shared = repoPolicy('backend').replace('file: gitops/apps/backend/base/deployment-canary.yaml', 'file: gitops/apps/backend/base/deployment-stable.yaml');
    expect(configError(shared).issues.join()).toMatch(/spec\.deployments: the VirtualService and the two Deployments must be in three different files/);
  });

  it('refuses file references outside the repository', () => {
    const error = configError(repoPolicy('backend').replace('file: gitops/apps/backend/base/deployment-stable.yaml', 'file: ../etc/passwd'));
    expect(error.issues.join()).toMatch(/spec\.deployments\.stable\.file: must be a path inside the repository/);
  });

  it('the committed JSON Schema is the one generated from the zod schema', () => {
    const committed = readFileSync(new URL('../../schemas/canary-policy.schema.json', import.meta.url), 'utf8');
    expect(committed).toBe(canaryPolicySchemaText());
  });

  // Issue 11 item 11: the alias bomb was refused, but the message did not say which file.
  it('refuses an alias bomb with an error naming the file', () => {
    const bomb = [
      'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
      'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
      'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
      'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
      'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
      'f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]',
      'g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]',
    ].join('\n');
    const error = configError(`${repoPolicy('backend')}\n${bomb}\n`, 'gitops/apps/evil/canary.yaml');
    expect(error.file).toBe('gitops/apps/evil/canary.yaml');
    expect(error.message).toMatch(/^gitops\/apps\/evil\/canary\.yaml: YAML: .*alias/i);
  });

  describe('a multi-cluster policy (one Application per cluster, as an ApplicationSet generates them)', () => {
    const multi = (argocd: string) => repoPolicy('backend').replace(/^ {2}argocd: .*$/m, `  argocd: ${argocd}`);

    it('gates on every cluster\'s Applications and keeps the clusters in order', () => {
      const policy = parseCanaryPolicy(
        multi('{ clusters: [{ name: east, application: mesh-east, workloadsApplication: apps-east }, { name: west, application: mesh-west }] }'),
        'gitops/apps/backend/canary.yaml',
      );
      expect(policyClusters(policy).map((c) => c.name)).toEqual(['east', 'west']);
      expect(gatedApplications(policy)).toEqual(['mesh-east', 'apps-east', 'mesh-west']);
      expect(primaryApplication(policy)).toBe('mesh-east');
      expect(policy.spec.analysis.prometheus.clusterLabel).toBe('cluster');
    });

    it('refuses both application and clusters, neither, duplicate cluster names, and a bad cluster label', () => {
      expect(configError(multi('{ application: a, clusters: [{ name: east, application: b }] }')).issues.join()).toMatch(/spec\.argocd: name either application .* or clusters/);
      expect(configError(multi('{ namespace: argocd }')).issues.join()).toMatch(/spec\.argocd: name either application/);
      expect(configError(multi('{ clusters: [{ name: east, application: a }, { name: east, application: b }] }')).issues.join()).toMatch(/spec\.argocd\.clusters: cluster names must be unique/);
      expect(configError(multi('{ clusters: [{ name: east, application: a }], workloadsApplication: w }')).issues.join()).toMatch(/spec\.argocd\.workloadsApplication: with clusters/);
      const badLabel = multi('{ clusters: [{ name: east, application: a }] }').replace('    interval: 1m', '    interval: 1m\n    prometheus: { clusterLabel: "cluster}" }');
      expect(configError(badLabel).issues.join()).toMatch(/spec\.analysis\.prometheus\.clusterLabel: must be a Prometheus label name/);
    });
  });
});
