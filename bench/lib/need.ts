// Makes sure a program the benchmark drives is installed: Debian's package if it is missing and this runs as
// root with apt-get at hand (said on stderr), otherwise a clear error naming the package to install.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

export function need(binary: string, debianPackage: string, purpose: string): string {
  if (fs.existsSync(binary)) return binary;
  const canInstall = process.getuid?.() === 0 && fs.existsSync('/usr/bin/apt-get');
  if (!canInstall) throw new Error(`${binary} is missing (${purpose}): install it with \`apt-get install -y ${debianPackage}\` and run the benchmark again`);
  process.stderr.write(`${binary} is missing (${purpose}): installing Debian's ${debianPackage}\n`);
  const install = () =>
    execFileSync('apt-get', ['install', '-y', '-qq', debianPackage], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  try {
    install();
  } catch {
    execFileSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'] });
    install();
  }
  if (!fs.existsSync(binary)) throw new Error(`installing ${debianPackage} did not provide ${binary}`);
  return binary;
}
