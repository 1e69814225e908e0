// Reading what a `revoke` subcommand should end: exactly one of an id, --email or --all. Shared by the commands
// that revoke per-person credentials (devices, passkeys), so they refuse the same mistakes with the same words.
import { InvalidArgumentError } from 'commander';
import { normalizeEmail } from '../gate/email.js';

export type RevokeTarget = { all: true } | { id: string } | { email: string };

/** `thing` names what is revoked ("device", "passkey"); `isId` checks an id after trimming and lower-casing. */
export function parseRevokeTarget(thing: string, isId: (id: string) => boolean, id: string | undefined, email: string | undefined, all: boolean): RevokeTarget {
  const given = [id !== undefined, email !== undefined, all].filter(Boolean).length;
  if (given === 0) throw new InvalidArgumentError(`say which ${thing}s to revoke: a ${thing} id, --email <address>, or --all`);
  if (given > 1) throw new InvalidArgumentError(`give only one of: a ${thing} id, --email <address>, --all`);
  if (all) return { all: true };
  if (email !== undefined) {
    const address = normalizeEmail(email);
    if (!address) throw new InvalidArgumentError(`"${email.slice(0, 80)}" is not an email address`);
    return { email: address };
  }
  const trimmed = id!.trim().toLowerCase();
  if (!isId(trimmed)) throw new InvalidArgumentError(`"${id!.slice(0, 80)}" is not a ${thing} id (16 hex characters, see \`porthole ${thing}s list\`)`);
  return { id: trimmed };
}
