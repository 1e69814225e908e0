// One link, many spellings of its key: Immich decodes keys leniently (hex in any letter case, base64url
// ignoring the last character's unused bits), so every spelling opens the same link. Limits that belong to
// the link must count them together.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startShare } from './harness.js';

const json = { 'content-type': 'application/json' };
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Other spellings Immich reads as the same 50 bytes: the 67th character carries only 4 of its 6 bits. */
function base64Spellings(key: string): string[] {
  const last = B64URL.indexOf(key.at(-1)!);
  return [0, 1, 2, 3].map((low) => key.slice(0, -1) + B64URL[(last & ~3) | low]!);
}

/** Hex keys in other letter cases. */
function hexSpellings(key: string, count: number): string[] {
  const letters = [...key].flatMap((c, i) => (/[a-f]/.test(c) ? [i] : []));
  return Array.from({ length: count }, (_, n) => [...key].map((c, i) => (letters.indexOf(i) !== -1 && (n >> letters.indexOf(i)) & 1 ? c.toUpperCase() : c)).join(''));
}

for (const legacyHexKey of [false, true]) {
  test(`password failures per link and client count every spelling of its ${legacyHexKey ? 'hex' : 'base64url'} key together`, async () => {
    const s = await startShare({ share: { rateLimits: { passwordFreeFailures: 3, passwordFailuresPerClient: 3, passwordFailuresPerIp: 1000 } } });
    try {
      const link = s.origin.library.createLink({ password: 'correct', legacyHexKey });
      const spellings = legacyHexKey ? hexSpellings(link.key, 4) : base64Spellings(link.key);
      assert.equal(new Set(spellings).size, 4);
      // Immich opens the link with each spelling (directly, /me answers "Password required", not "Invalid").
      for (const key of spellings) assert.equal((await s.direct(`/api/shared-links/me?key=${key}`)).json().message, 'Password required');
      const statuses: number[] = [];
      for (const key of spellings) {
        for (let i = 0; i < 2; i++) {
          const r = await s.share(`/api/shared-links/login?key=${key}`, { method: 'POST', headers: json, body: JSON.stringify({ password: `wrong-${i}` }) });
          statuses.push(r.status);
        }
      }
      assert.deepEqual(statuses, [401, 401, 401, 429, 429, 429, 429, 429]);
      const tried = s.origin.received.filter((r) => r.url.startsWith('/api/shared-links/login')).length;
      assert.equal(tried, 3);
    } finally {
      await s.close();
    }
  });
}
