import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { parsePromoterConfig, remoteUrlWithToken } from './config.js';

describe('promoter config', () => {
  it('the in-cluster ConfigMap in gitops/apps/promoter holds a valid config', () => {
    const configMap = parseDocument(readFileSync(new URL('../../gitops/apps/promoter/configmap.yaml', import.meta.url), 'utf8')).toJS() as { data: Record<string, string> };
    const [key, text] = Object.entries(configMap.data)[0] ?? [];
    expect(key).toBeDefined();
    const config = parsePromoterConfig(parseDocument(text ?? '').toJS(), `configmap ${key}`);
    expect(config).toMatchObject({ argocd: { inCluster: true }, http: { listen: '127.0.0.1:8080' }, policies: ['gitops/apps/*/canary.yaml'] });
    expect(config.prometheus.settle).toBe(30);
  });

  it('fills defaults and names every bad field', () => {
    expect(parsePromoterConfig({ git: { url: '/srv/gitops.git' }, prometheus: { url: 'http://127.0.0.1:9090' } }, 'x')).toMatchObject({
      git: { branch: 'main', tokenEnv: 'GIT_TOKEN' },
      prometheus: { timeout: 10, settle: 30 },
      schedule: '*/30 * * * * *',
      maxPushAttempts: 3,
    });
    try {
      parsePromoterConfig({ git: {}, prometheus: { url: 'not a url', timeout: 'soon' }, extra: 1 }, 'promoter.yaml');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const text = (error as ConfigError).issues.join('\n');
      for (const field of ['git.url', 'prometheus.url', 'prometheus.timeout', '(root)']) expect(text).toContain(field);
    }
  });

  it('reads delivery: push by default, pull-request with its GitHub repository, merge and rollback choices', () => {
    const base = { git: { url: '/srv/gitops.git' }, prometheus: { url: 'http://p:9090' } };
    expect(parsePromoterConfig(base, 'x').delivery).toEqual({ mode: 'push', merge: 'api', rollbacks: 'direct', links: {} });
    const pr = parsePromoterConfig(
      {
        ...base,
        delivery: {
          mode: 'pull-request',
          merge: 'auto-merge',
          rollbacks: 'pull-request',
          github: { owner: 'docuthinker', repo: 'gitops', app: { appId: 12345, privateKeyFile: '/etc/promoter/app.pem', installationId: 42 } },
          links: { argocd: 'https://argocd.example.test', grafana: 'https://grafana.example.test/d/canary' },
        },
      },
      'x',
    );
    expect(pr.delivery).toMatchObject({
      mode: 'pull-request',
      merge: 'auto-merge',
      rollbacks: 'pull-request',
      github: { apiUrl: 'https://api.github.com', owner: 'docuthinker', repo: 'gitops', tokenEnv: 'GITHUB_TOKEN', app: { appId: '12345', installationId: 42 } },
    });
    expect(() => parsePromoterConfig({ ...base, delivery: { mode: 'pull-request' } }, 'x')).toThrow(/delivery\.github: pull-request delivery needs delivery\.github/);
    expect(() => parsePromoterConfig({ ...base, delivery: { mode: 'pr' } }, 'x')).toThrow(/delivery\.mode/);
  });

  it('puts the token from the environment into HTTPS remotes only', () => {
    const config = parsePromoterConfig({ git: { url: 'https://github.com/docuthinker/gitops.git' }, prometheus: { url: 'http://p:9090' } }, 'x');
    expect(remoteUrlWithToken(config, { GIT_TOKEN: 's3cret' })).toBe('https://x-access-token:s3cret@github.com/docuthinker/gitops.git');
    expect(remoteUrlWithToken(config, {})).toBe('https://github.com/docuthinker/gitops.git');
    const local = parsePromoterConfig({ git: { url: '/srv/gitops.git' }, prometheus: { url: 'http://p:9090' } }, 'x');
    expect(remoteUrlWithToken(local, { GIT_TOKEN: 's3cret' })).toBe('/srv/gitops.git');
  });
});
