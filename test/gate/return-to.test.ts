// safeReturnTo after URL normalisation: dot segments can collapse a harmless-looking path into a
// scheme-relative one ("/.//evil" becomes "//evil"), which a browser follows to another host.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { safeReturnTo } from '../../src/gate/return-to.js';
import { CookieJar, startTestGate, type TestGate } from './harness.js';

const DOT_SEGMENT_ATTACKS = ['/.//evil.example', '/..//evil.example', '/a/..//evil.example', '/%2e//evil.example', '/x/%2E%2E//evil.example/p', '/x/../.porthole/logout'];

let gate: TestGate;
let signedIn: CookieJar;
before(async () => {
  gate = await startTestGate();
  signedIn = await gate.signIn('alice@example.com');
});
after(() => gate.close());

test('safeReturnTo: dot segments never turn into a scheme-relative or gate path', () => {
  for (const attack of DOT_SEGMENT_ATTACKS) assert.equal(safeReturnTo(attack), '/', JSON.stringify(attack));
  assert.equal(safeReturnTo('/albums/./x/../y?z=1'), '/albums/y?z=1');
});

test('a signed-in login page never redirects to another host through dot segments in next=', async () => {
  for (const attack of DOT_SEGMENT_ATTACKS) {
    const res = await gate.request('GET', `/.porthole/login?next=${encodeURIComponent(attack)}`, { headers: { accept: 'text/html' }, jar: signedIn });
    assert.equal(res.status, 303, attack);
    assert.equal(res.headers.location, '/', attack);
  }
});
