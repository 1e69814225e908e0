// What every `porthole doctor` check reports (checks.ts, deploy-checks.ts).
export type Verdict = 'pass' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  name: string;
  verdict: Verdict;
  detail: string;
  fix?: string;
}
