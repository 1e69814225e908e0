// What one doctor check reports: shared by the general checks (checks.ts) and the deployment checks
// (deploy-checks.ts), which therefore need not import each other both ways.
export type Verdict = 'pass' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  name: string;
  verdict: Verdict;
  detail: string;
  fix?: string;
}
