import { describe, expect, it } from 'vitest';
import { formatFinding, formatText, summarise } from './report.js';
import type { Finding } from './types.js';

const finding: Finding = {
  file: 'gitops/vs.yaml',
  line: 12,
  doc: 1,
  kind: 'VirtualService',
  name: 'backend',
  path: '/spec/http/0/route',
  code: 'DT1001',
  severity: 'error',
  message: 'destination weights sum to 90, not 100',
};

describe('report rendering', () => {
  it('prints file:line doc#N Kind/name path: [CODE] message', () => {
    expect(formatFinding(finding)).toBe('gitops/vs.yaml:12 doc#1 VirtualService/backend /spec/http/0/route: [DT1001] destination weights sum to 90, not 100');
    expect(formatFinding({ file: 'x.yaml', path: '', code: 'DT0005', severity: 'skipped', message: 'm' })).toBe('x.yaml:0 /: [DT0005] skipped: m');
  });

  it('ends with a summary of errors, warnings, skipped and files', () => {
    const findings = [finding, { ...finding, severity: 'warning' as const }, { ...finding, severity: 'skipped' as const }];
    const summary = summarise(findings, 3, 5);
    expect(summary).toEqual({ errors: 1, warnings: 1, infos: 0, skipped: 1, files: 3, documents: 5 });
    expect(formatText({ findings, summary }).trim().split('\n').at(-1)).toBe('1 error(s), 1 warning(s), 1 skipped, 3 file(s), 5 document(s)');
  });
});
