// Bench connector: the real runConnector, configured from argv (token, origin URL).
import { runConnector } from '../../src/tunnel/connector.js';

const connector = runConnector({ token: process.argv[2]!, origin: new URL(process.argv[3]!), gateway: process.argv[4], name: 'bench' });
connector.on('connected', () => process.stdout.write(JSON.stringify({ connected: true }) + '\n'));
process.on('SIGTERM', () => void connector.stop().then(() => process.exit(0)));
// A bench that dies must not leave a connector retrying forever.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 500).unref();
