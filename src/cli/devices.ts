// `porthole devices add | list | revoke`: device tokens for the Immich mobile app. `add` prints the token
// once, with the header line to paste into the app; `list` never shows tokens; `revoke` takes effect on a
// running gateway within a fraction of a second.
import { Command } from 'commander';
import { parseRevokeTarget } from './revoke-target.js';
import { addDevice, DEVICE_HEADER_NAME, DeviceInputError, isDeviceId, revokeDevices, type DeviceRevokeTarget } from '../gate/devices.js';
import type { DeviceRecord } from '../store/store.js';

/** Reads revoke's arguments (exactly one of: an id, --email, --all); throws InvalidArgumentError. */
export function parseDeviceRevokeTarget(id: string | undefined, email: string | undefined, all: boolean): DeviceRevokeTarget {
  return parseRevokeTarget('device', isDeviceId, id, email, all);
}

const iso = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z'));

export function formatDevices(devices: DeviceRecord[], includeRevoked = false): string {
  if (devices.length === 0) return includeRevoked ? 'No devices.\n' : 'No active devices.\n';
  const head = ['ID', 'EMAIL', 'CREATED', 'LAST USED', 'LAST IP'];
  if (includeRevoked) head.push('REVOKED');
  head.push('NAME');
  const rows = [head];
  for (const d of devices) {
    const row = [d.id, d.email, iso(d.createdAt), iso(d.lastUsedAt), d.lastIp ?? '-'];
    if (includeRevoked) row.push(iso(d.revokedAt));
    row.push(d.name);
    rows.push(row);
  }
  const widths = head.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

/** What `devices add` prints: the token once, exactly what to type into the app, and how to undo it. */
export function formatNewDevice(device: DeviceRecord, token: string, configFile: string): string {
  return [
    `Added device ${device.id} "${device.name}" for ${device.email}.`,
    '',
    'In the Immich app: Settings > Advanced > Custom proxy headers, add one header:',
    `  Header name:  ${DEVICE_HEADER_NAME}`,
    `  Header value: ${token}`,
    '',
    'As a header line:',
    `  ${DEVICE_HEADER_NAME}: ${token}`,
    '',
    'This token is shown only now; Porthole keeps only its hash. Treat it like a password.',
    `It works only while ${device.email} is on gate.allow in the gateway's config.`,
    `Lost the phone? porthole devices revoke ${device.id} --config ${configFile}`,
    '',
  ].join('\n');
}

const errorOutput = { outputError: (text: string, write: (s: string) => void) => write(`porthole: ${text.replace(/^error: /, '')}`) };

export function devicesCommand(): Command {
  const devices = new Command('devices').description('device tokens that let the Immich mobile app through the gate').configureOutput(errorOutput);
  devices
    .command('add')
    .description('add a device for an address on gate.allow and print its token (once)')
    .requiredOption('-e, --email <address>', 'whose device it is (must be on gate.allow)')
    .requiredOption('-n, --name <label>', `a label to recognise it by, e.g. "Alice's phone" (1 to 64 characters)`)
    .requiredOption('-c, --config <file>', 'path to porthole.yaml')
    .option('--json', 'print JSON (id, email, name, header, token) instead of instructions')
    .action(async (options: { email: string; name: string; config: string; json?: boolean }, command: Command) => {
      const { loadConfigOrExit } = await import('./serve.js');
      const { openStoreForCli } = await import('./store-access.js');
      const config = loadConfigOrExit(options.config);
      const store = await openStoreForCli(options.config);
      try {
        const { record, token } = addDevice(store, config.gate.allow, { email: options.email, name: options.name });
        process.stdout.write(
          options.json
            ? `${JSON.stringify({ id: record.id, email: record.email, name: record.name, header: DEVICE_HEADER_NAME, token })}\n`
            : formatNewDevice(record, token, options.config),
        );
      } catch (error) {
        if (error instanceof DeviceInputError) return command.error(error.message, { exitCode: 2 });
        throw error;
      } finally {
        store.close();
      }
    });
  devices
    .command('list')
    .description('show devices: id, email, created, last used, last IP, name (never the token)')
    .requiredOption('-c, --config <file>', 'path to porthole.yaml')
    .option('--revoked', 'include revoked devices')
    .option('--json', 'print JSON instead of a table')
    .action(async (options: { config: string; revoked?: boolean; json?: boolean }) => {
      const { openStoreForCli } = await import('./store-access.js');
      const store = await openStoreForCli(options.config);
      try {
        const list = store.devices.list({ includeRevoked: options.revoked === true });
        process.stdout.write(
          options.json
            ? `${JSON.stringify(
                list.map(({ tokenHash: _, ...rest }) => rest),
                null,
                2,
              )}\n`
            : formatDevices(list, options.revoked === true),
        );
      } finally {
        store.close();
      }
    });
  devices
    .command('revoke')
    .description('revoke one device (by id), every device of an address, or --all; a running gateway refuses it at once')
    .argument('[id]', 'a device id from `porthole devices list`')
    .option('-e, --email <address>', 'revoke every device of this address')
    .option('--all', 'revoke every device')
    .requiredOption('-c, --config <file>', 'path to porthole.yaml')
    .action(async (id: string | undefined, options: { config: string; email?: string; all?: boolean }, command: Command) => {
      let target: DeviceRevokeTarget;
      try {
        target = parseDeviceRevokeTarget(id, options.email, options.all === true);
      } catch (error) {
        return command.error((error as Error).message, { exitCode: 2 });
      }
      const { openStoreForCli } = await import('./store-access.js');
      const store = await openStoreForCli(options.config);
      try {
        const revoked = revokeDevices(store, target);
        if ('id' in target && revoked.length === 0) {
          return command.error(`no active device with id ${target.id} (see \`porthole devices list\`)`, { exitCode: 1 });
        }
        const who = 'all' in target ? '' : 'id' in target ? ` ("${revoked[0]!.name}", ${revoked[0]!.email})` : ` of ${target.email}`;
        process.stdout.write(`Revoked ${revoked.length} device${revoked.length === 1 ? '' : 's'}${who}.\n`);
      } finally {
        store.close();
      }
    });
  return devices;
}
