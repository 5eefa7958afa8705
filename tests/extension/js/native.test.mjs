// The native host module on its own, with a fake chrome.runtime: replies matched by id,
// chunks joined and checked, disconnects and silence turned into structured errors, and a
// new port after the old one went away (as after a suspended service worker).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';

import { NativeHost } from '../../../extension/background/native.js';

/** A fake chrome.runtime whose connectNative ports record what was posted. */
function fakeRuntime() {
  const runtime = { ports: [], lastError: undefined };
  runtime.connectNative = (name) => {
    const listeners = { message: [], disconnect: [] };
    const port = {
      name,
      posted: [],
      postMessage: (m) => port.posted.push(m),
      onMessage: { addListener: (f) => listeners.message.push(f) },
      onDisconnect: { addListener: (f) => listeners.disconnect.push(f) },
      reply: (m) => listeners.message.forEach((f) => f(m)),
      drop: (why) => {
        runtime.lastError = why ? { message: why } : undefined;
        listeners.disconnect.forEach((f) => f());
        runtime.lastError = undefined;
      },
    };
    runtime.ports.push(port);
    return port;
  };
  return runtime;
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

function replyWithPhoto(port, id, bytes, { chunkBytes = 3, sha256 } = {}) {
  const count = Math.ceil(bytes.length / chunkBytes);
  for (let i = 0; i < count; i += 1) {
    port.reply({ type: 'chunk', id, index: i, count,
      data: bytes.subarray(i * chunkBytes, (i + 1) * chunkBytes).toString('base64') });
  }
  port.reply({ type: 'done', id, mime: 'image/jpeg', name: 'me.protected.jpg', size: bytes.length,
    sha256: sha256 ?? createHash('sha256').update(bytes).digest('hex'), receipt: { refusal_rate: 1 } });
}

test('a photo comes back joined from its chunks, after its progress', async () => {
  const runtime = fakeRuntime();
  const host = new NativeHost('org.imageprotector.native_host', runtime);
  const progress = [];
  const pending = host.request({ type: 'protect', id: 'a', data: 'AAAA' }, { onProgress: (p) => progress.push(p) });
  const [port] = runtime.ports;
  assert.equal(port.name, 'org.imageprotector.native_host');
  assert.deepEqual(port.posted, [{ type: 'protect', id: 'a', data: 'AAAA' }]);
  port.reply({ type: 'progress', id: 'a', fraction: 0.5 });
  port.reply({ type: 'progress', id: 'other', fraction: 0.9 }); // another request's: not ours
  const photo = Buffer.from('a protected photo, in several chunks');
  replyWithPhoto(port, 'a', photo);
  const result = await pending;
  assert.deepEqual(progress.map((p) => p.fraction), [0.5]);
  assert.equal(Buffer.from(result.data, 'base64').toString(), photo.toString());
  assert.equal(result.name, 'me.protected.jpg');
  assert.equal(result.receipt.refusal_rate, 1);
});

test('a photo whose bytes do not match the sha256 of done is refused as bad_result', async () => {
  const runtime = fakeRuntime();
  const host = new NativeHost('h', runtime);
  const pending = host.request({ type: 'protect', id: 'a', data: 'AAAA' });
  replyWithPhoto(runtime.ports[0], 'a', Buffer.from('photo bytes'), { sha256: '0'.repeat(64) });
  await assert.rejects(pending, (e) => e.code === 'bad_result' && /sha256/.test(e.message));
});

test('a missing chunk is refused as bad_result', async () => {
  const runtime = fakeRuntime();
  const host = new NativeHost('h', runtime);
  const pending = host.request({ type: 'protect', id: 'a', data: 'AAAA' });
  const [port] = runtime.ports;
  port.reply({ type: 'chunk', id: 'a', index: 1, count: 2, data: 'AAAA' });
  port.reply({ type: 'done', id: 'a', size: 6, sha256: 'x' });
  await assert.rejects(pending, (e) => e.code === 'bad_result');
});

test('a host that never starts reads host_unreachable with how to install it; the next request reconnects', async () => {
  const runtime = fakeRuntime();
  const host = new NativeHost('h', runtime);
  const first = host.request({ type: 'status' });
  runtime.ports[0].drop('Specified native messaging host not found.');
  await assert.rejects(first, (e) => e.code === 'host_unreachable' && /install-host/.test(e.message)
    && /not found/.test(e.message));
  const second = host.request({ type: 'ping', id: 'p' });
  assert.equal(runtime.ports.length, 2);
  runtime.ports[1].reply({ type: 'pong', id: 'p', version: '1' });
  assert.equal((await second).version, '1');
});

test('a host that stops with photos in flight fails each of them as host_disconnected', async () => {
  const runtime = fakeRuntime();
  const host = new NativeHost('h', runtime);
  const a = host.request({ type: 'protect', id: 'a', data: 'AAAA' });
  const b = host.request({ type: 'protect', id: 'b', data: 'AAAA' });
  runtime.ports[0].reply({ type: 'progress', id: 'a', fraction: 0.1 });
  runtime.ports[0].drop('Native host has exited.');
  await assert.rejects(a, (e) => e.code === 'host_disconnected');
  await assert.rejects(b, (e) => e.code === 'host_disconnected');
});

test('a host-wide error (no id) fails every request with its code', async () => {
  const runtime = fakeRuntime();
  const host = new NativeHost('h', runtime);
  const a = host.request({ type: 'status' });
  runtime.ports[0].reply({ type: 'error', id: null, code: 'origin', message: 'not allowed' });
  await assert.rejects(a, (e) => e.code === 'origin' && e.message === 'not allowed');
});

test('silence past the timeout reads timeout and cancels the request at the host', async () => {
  const runtime = fakeRuntime();
  const host = new NativeHost('h', runtime);
  const pending = host.request({ type: 'protect', id: 'slow', data: 'AAAA' }, { timeoutMs: 30 });
  await assert.rejects(pending, (e) => e.code === 'timeout');
  assert.deepEqual(runtime.ports[0].posted.at(-1), { type: 'cancel', id: 'slow' });
});

test('an error reply keeps its code and message', async () => {
  const runtime = fakeRuntime();
  const host = new NativeHost('h', runtime);
  const pending = host.request({ type: 'protect', id: 'a', data: 'AAAA' });
  runtime.ports[0].reply({ type: 'error', id: 'a', code: 'bad_image', message: 'not a photo' });
  await assert.rejects(pending, (e) => e.code === 'bad_image' && JSON.stringify(e) === '{"code":"bad_image","message":"not a photo"}');
});

test('a photo over 6 MiB goes to the host in chunks that join to it, then protect with their count', async () => {
  const runtime = fakeRuntime();
  const host = new NativeHost('h', runtime);
  const photo = Buffer.alloc(13 * 2 ** 20, 7);
  const data = photo.toString('base64');
  host.request({ type: 'protect', id: 'big', data, name: 'big.jpg' }, { timeoutMs: 20 }).catch(() => {});
  await tick();
  const posted = runtime.ports[0].posted;
  const chunks = posted.filter((m) => m.type === 'chunk');
  assert.equal(chunks.length, 3);
  assert.ok(chunks.every((c) => c.data.length <= (6 * 2 ** 20 * 4) / 3));
  assert.equal(Buffer.concat(chunks.map((c) => Buffer.from(c.data, 'base64'))).equals(photo), true);
  assert.deepEqual(posted.at(-1), { type: 'protect', id: 'big', name: 'big.jpg', chunks: 3 });
});
