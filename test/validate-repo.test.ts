// The repository's own GitOps tree must validate with zero errors: what CI runs on every change.
import { describe, expect, it } from 'vitest';
import { formatFinding, validatePaths } from '../src/validate/index.js';

describe('promoter validate gitops argocd (the real repository)', () => {
  it('finds no errors', async () => {
    const report = await validatePaths(['gitops', 'argocd']);
    const errors = report.findings.filter((f) => f.severity === 'error').map(formatFinding);
    expect(errors).toEqual([]);
    expect(report.summary.files).toBeGreaterThan(0);
  });
});
