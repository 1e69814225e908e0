// `porthole doctor`: runs every diagnostic check and exits 1 when any check fails (0 otherwise, warnings
// included). `--json` prints { ok, checks } for scripts; `--send-test ADDRESS` also sends a real mail.
import { formatResults, runDoctorOnFile } from '../doctor/checks.js';
import { UsageError } from './errors.js';

export async function doctor(options: { config: string; json?: boolean; sendTest?: string }): Promise<void> {
  if (options.sendTest !== undefined && !/^[^\s@]{1,64}@[^\s@]{1,253}$/.test(options.sendTest)) {
    throw new UsageError(`--send-test needs an email address, got "${options.sendTest.slice(0, 80)}"`, 'e.g. --send-test you@example.org');
  }
  const results = await runDoctorOnFile(options.config, { sendTest: options.sendTest });
  const ok = !results.some((r) => r.verdict === 'fail');
  process.stdout.write(options.json ? `${JSON.stringify({ ok, config: options.config, checks: results }, null, 2)}\n` : `${formatResults(results)}\n`);
  process.exitCode = ok ? 0 : 1;
}
