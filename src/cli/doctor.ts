// `porthole doctor`: runs the diagnostic checks and exits 1 when any check fails.
import { formatResults, runDoctor } from '../doctor/checks.js';
import { loadConfigOrExit } from './serve.js';

export async function doctor(configFile: string): Promise<void> {
  const config = loadConfigOrExit(configFile);
  const results = await runDoctor(config);
  process.stdout.write(`${formatResults(results)}\n`);
  process.exitCode = results.some((r) => r.verdict === 'fail') ? 1 : 0;
}
