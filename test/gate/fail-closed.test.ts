// Rate limits fail closed on the real gateway: when the store cannot count (here its limiter tables are dropped
// by another connection, so every count is an SQLite error, as with a damaged or unreachable store), a code
// request is refused with a 503 page in the visitor's language and no mail goes out, a wrong device token is
// refused with 503 rather than waved on to the 401 path uncounted, and the failure is logged once a minute per
// limit, not once per request.
import assert from 'node:assert/strict';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { newDeviceToken } from '../../src/gate/devices.js';
import { createLogger } from '../../src/log.js';
import { CookieJar, startTestGate, type TestGate } from './harness.js';

let gate: TestGate;
const logLines: Array<{ msg: string; limit?: string }> = [];

before(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) logLines.push(JSON.parse(line) as { msg: string; limit?: string });
      done();
    },
  });
  gate = await startTestGate({}, { logger: createLogger('info', sink) });
  // Another connection takes the counters away under the running gateway.
  const db = new Database(path.join(gate.dataDir, 'porthole.db'));
  for (const name of ['gate_code_ip', 'gate_code_address_client', 'gate_device_ip']) db.exec(`DROP TABLE ratelimit_${name}`);
  db.close();
});
after(() => gate?.close());

const failureLines = (limit: string) => logLines.filter((line) => line.limit === limit && /rate limit could not be checked/.test(line.msg));

test('a code request whose limit cannot be counted is refused with 503, in German when asked, and no mail goes out', async () => {
  const mailsBefore = gate.mailsHandedOver.length;
  for (let i = 0; i < 3; i++) {
    const refused = await gate.submit('/.porthole/login', { email: 'alice@example.com' }, new CookieJar(), { 'accept-language': 'de' });
    assert.equal(refused.status, 503);
    assert.ok(Number(refused.headers['retry-after']) > 0);
    assert.match(refused.body, /Vorübergehend nicht verfügbar/);
  }
  const api = await gate.submit('/.porthole/login', { email: 'alice@example.com' }, new CookieJar(), { accept: 'application/json' });
  assert.equal(api.status, 503);
  assert.equal(JSON.parse(api.body).error, 'store-unavailable');
  // The gateway runs in this process: whatever a handler scheduled has run one turn after its answer was read.
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(gate.mailsHandedOver.length, mailsBefore, 'nothing was mailed on a limit that could not be checked');
  assert.equal(gate.codesHandled('alice@example.com'), 0, 'no code was even made');
  assert.equal(failureLines('gate_code_ip').length, 1, 'four refusals, one log line');
});

test('a wrong device token whose count fails is refused with 503, never passed on uncounted', async () => {
  const statuses: number[] = [];
  for (let i = 0; i < 3; i++) statuses.push((await gate.request('GET', '/api/server/ping', { headers: { 'x-porthole-device': newDeviceToken() } })).status);
  assert.deepEqual(statuses, [503, 503, 503]);
  assert.equal(failureLines('gate_device_ip').length, 1);
});
