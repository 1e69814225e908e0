// What an operator reads when the tunnel comes and goes: both ends log the connector attaching (info) and
// the link being lost (warn), with enough to tell which connector and why.
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { test } from 'node:test';
import { runConnector } from '../../src/tunnel/connector.js';
import type { TunnelLogger } from '../../src/tunnel/hub.js';
import { startGateway, tempDir } from './fixtures/gateway.js';
import { startOrigin } from './fixtures/origin.js';

interface Line {
  level: 'info' | 'warn';
  msg: string;
  obj: Record<string, unknown>;
}

/** Keeps every line and lets a test wait for one matching a message. */
function capturingLogger(): TunnelLogger & { lines: Line[]; next(level: Line['level'], msg: RegExp): Promise<Line> } {
  const lines: Line[] = [];
  const events = new EventEmitter();
  const add = (level: Line['level']) => (obj: object, msg: string) => {
    lines.push({ level, msg, obj: obj as Record<string, unknown> });
    events.emit('line');
  };
  return {
    lines,
    info: add('info'),
    warn: add('warn'),
    async next(level, msg) {
      for (;;) {
        const found = lines.find((l) => l.level === level && msg.test(l.msg));
        if (found) return found;
        await once(events, 'line');
      }
    },
  };
}

test('attach is logged at info and loss at warn, on the gateway and on the connector', { timeout: 60_000 }, async () => {
  const data = tempDir();
  const origin = await startOrigin();
  const gatewayLog = capturingLogger();
  const gateway = await startGateway({ dataDir: data.dir, logger: gatewayLog });
  const connectorLog = capturingLogger();
  const connector = runConnector({ token: gateway.newToken('kitchen').token, origin: origin.url, name: 'kitchen', logger: connectorLog });
  let gatewayClosed = false;
  try {
    const attached = await gatewayLog.next('info', /connector connected/);
    assert.equal(attached.obj.name, 'kitchen');
    const dialled = await connectorLog.next('info', /connected to the gateway/);
    assert.equal(dialled.obj.connector, attached.obj.connector, 'both ends name the same connector');

    // The gateway goes away: the connector warns that it lost the link.
    await gateway.close();
    gatewayClosed = true;
    const lost = await connectorLog.next('warn', /disconnected from the gateway/);
    assert.equal(lost.obj.connector, attached.obj.connector);
    const gatewaySide = await gatewayLog.next('warn', /connector disconnected/);
    assert.equal(gatewaySide.obj.connector, attached.obj.connector);
    assert.equal(gatewaySide.obj.connectorsLeft, 0);
    assert.equal(typeof gatewaySide.obj.why, 'string');
    assert.equal(gatewayLog.lines.filter((l) => l.level === 'info' && /disconnected/.test(l.msg)).length, 0, 'loss is never only info');
  } finally {
    await connector.stop();
    if (!gatewayClosed) await gateway.close();
    await origin.close();
    data.remove();
  }
});

test('a connector that stops is a warning on the gateway', { timeout: 60_000 }, async () => {
  const data = tempDir();
  const origin = await startOrigin();
  const gatewayLog = capturingLogger();
  const gateway = await startGateway({ dataDir: data.dir, logger: gatewayLog });
  const connector = runConnector({ token: gateway.newToken('hall').token, origin: origin.url, name: 'hall' });
  try {
    const attached = await gatewayLog.next('info', /connector connected/);
    await connector.stop();
    const lost = await gatewayLog.next('warn', /connector disconnected/);
    assert.equal(lost.obj.connector, attached.obj.connector);
    assert.equal(lost.obj.name, 'hall');
  } finally {
    await connector.stop();
    await gateway.close();
    await origin.close();
    data.remove();
  }
});
