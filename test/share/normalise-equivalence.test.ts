// The share host's target validator (src/share/normalise.ts) is written as single table-driven scans for speed.
// This test keeps the rules in their plainest form, as regular expressions, and checks on a seeded corpus of
// hostile targets that both accept exactly the same targets and decode them to the same path and parameters.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeComponent, parseTarget, TARGET_LIMITS } from '../../src/share/normalise.js';
import { prng } from '../prng.js';

const NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
const VALUE = /^(?:[A-Za-z0-9._~!$'()*,:@/?+-]|%[0-9A-Fa-f]{2})*$/;
const PATH_CHARS = /^(?:[A-Za-z0-9._~!$'()*,:@=+&/-]|%[0-9A-Fa-f]{2})*$/;
const FORBIDDEN_ENCODED = new Set([0x2f, 0x5c, 0x2e, 0x25, 0x3f, 0x23, 0x3b, 0x7f]);

/** The rules, spelled out: null when refused, else the path and decoded parameters. */
function reference(raw: string): { path: string; query: [string, string][] } | null {
  if (!raw || raw.length > TARGET_LIMITS.target || raw[0] !== '/') return null;
  if (/[\u0000-\u0020\u007f-\uffff\\#]/.test(raw)) return null;
  const mark = raw.indexOf('?');
  const path = mark === -1 ? raw : raw.slice(0, mark);
  if (path.length > TARGET_LIMITS.path || !PATH_CHARS.test(path) || path.includes('//')) return null;
  if (path.split('/').some((s) => s === '.' || s === '..')) return null;
  for (const m of path.matchAll(/%([0-9A-Fa-f]{2})/g)) {
    const byte = parseInt(m[1]!, 16);
    if (byte < 0x20 || FORBIDDEN_ENCODED.has(byte)) return null;
  }
  const query: [string, string][] = [];
  if (mark === -1) return { path, query };
  const rawQuery = raw.slice(mark + 1);
  if (rawQuery.length === 0 || rawQuery.length > TARGET_LIMITS.query) return null;
  const pairs = rawQuery.split('&');
  if (pairs.length > TARGET_LIMITS.params) return null;
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) return null;
    const name = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (name.length > TARGET_LIMITS.name || !NAME.test(name) || !VALUE.test(value)) return null;
    if (query.some(([n]) => n === name)) return null;
    const decoded = decodeComponent(value, true);
    if (decoded === null || /[\u0000-\u001f\u007f-\u009f]/.test(decoded)) return null;
    query.push([name, decoded]);
  }
  return { path, query };
}

const PIECES = [
  '/',
  '/',
  '/',
  'api',
  'assets',
  'share',
  's',
  '_app',
  'a',
  'Z9',
  '.',
  '..',
  '...',
  '.x',
  'x.',
  '?',
  '?',
  '&',
  '&',
  '=',
  '=',
  'key',
  'slug',
  'size',
  'k_1',
  '1a',
  '_a',
  '%',
  '%2',
  '%2e',
  '%2E',
  '%2f',
  '%2F',
  '%5c',
  '%25',
  '%3f',
  '%23',
  '%3b',
  '%00',
  '%1f',
  '%7f',
  '%7F',
  '%41',
  '%20',
  '%C3%A9',
  '%E0%80',
  '%C2%85',
  '%F0%9F%98%80',
  '%zz',
  '%g0',
  '+',
  ' ',
  '\t',
  '\\',
  '#',
  ';',
  '@',
  ':',
  "'",
  '(',
  ')',
  '*',
  ',',
  '!',
  '$',
  '~',
  '-',
  'é',
  '\u0000',
  '\u007f',
  '[',
  ']',
  '"',
  '<',
  '|',
  '^',
  '`',
  '{',
];

const pick = <T>(random: () => number, list: readonly T[]): T => list[Math.floor(random() * list.length)]!;

/** Half free-form strings of pieces, half shaped like real targets (segments, then name=value pairs). */
function randomTarget(random: () => number): string {
  let raw: string;
  if (random() < 0.5) {
    raw = random() < 0.95 ? '/' : '';
    const parts = 1 + Math.floor(random() * 14);
    for (let i = 0; i < parts; i++) raw += pick(random, PIECES);
  } else {
    raw = '';
    const segments = 1 + Math.floor(random() * 4);
    for (let i = 0; i < segments; i++) raw += '/' + (random() < 0.7 ? pick(random, ['api', 'assets', 's', 'x.y', 'a%20b']) : pick(random, PIECES));
    const pairs = Math.floor(random() * 5);
    for (let i = 0; i < pairs; i++) {
      raw += i === 0 ? '?' : '&';
      raw += random() < 0.8 ? pick(random, ['key', 'slug', 'size', 'k_1', 'c']) : pick(random, PIECES);
      raw += '=' + (random() < 0.6 ? pick(random, ['abc', 'a+b', '%2Fx', '', '1,2']) : pick(random, PIECES));
    }
  }
  if (random() < 0.02) raw += 'a'.repeat(Math.floor(random() * 5000));
  if (random() < 0.02) raw += '&a=1'.repeat(Math.floor(random() * 30));
  return raw;
}

test('the table-driven validator accepts and decodes exactly what the plain rules do (200,000 seeded targets)', () => {
  const random = prng(20261127);
  let accepted = 0;
  for (let i = 0; i < 200_000; i++) {
    const raw = randomTarget(random);
    const expected = reference(raw);
    const actual = parseTarget(raw);
    assert.equal(actual.ok, expected !== null, `${JSON.stringify(raw)}: ${actual.ok ? 'accepted' : actual.reason}`);
    if (actual.ok && expected) {
      accepted++;
      assert.equal(actual.target.path, expected.path, raw);
      assert.deepEqual([...actual.target.query], expected.query, raw);
    }
  }
  // Both outcomes must be well represented, or the comparison proves little.
  assert.ok(accepted > 10_000, `only ${accepted} accepted targets`);
  assert.ok(accepted < 180_000, `only ${200_000 - accepted} refused targets`);
});
