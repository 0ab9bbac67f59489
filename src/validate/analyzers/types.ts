// The shape of one Istio analyzer: a name (Istio's), the codes it can report, and a pure function
// from the run's context to findings.
import type { Code } from '../codes.js';
import type { Finding } from '../types.js';
import type { AnalyzerContext } from './context.js';

export interface Analyzer {
  /** Istio's analyzer name (istioctl analyze -L), e.g. virtualservice.GatewayAnalyzer. */
  name: string;
  codes: readonly Code[];
  analyze(ctx: AnalyzerContext): Finding[];
}
