/**
 * The one module that talks to the native host (connectNative).
 *
 * Every request carries an id; replies are matched to it. A protected photo comes back in
 * chunks below the browser's 1 MiB limit, which are joined and checked against the sha256
 * of the `done` reply. A host that disconnects, never starts, or goes silent turns into a
 * structured error `{code, message}` for each request in flight, never a throw into the
 * void. The port is opened on the first request and again after the service worker was
 * suspended (its module state is then new) or the host went away.
 */

import { base64ToBytes, sha256Hex } from '../common/bytes.js';
import { HOST_NAME } from '../common/messages.js';

/** Raw bytes per chunk sent to the host (the host accepts up to 64 MiB per message). */
const SEND_CHUNK = 6 * 2 ** 20;
/** A request with no reply at all for this long ends with `timeout` (progress resets it). */
const SILENCE_MS = 120_000;

export class HostError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }

  toJSON() {
    return { code: this.code, message: this.message };
  }
}

export class NativeHost {
  constructor(name = HOST_NAME, runtime = chrome.runtime) {
    this.name = name;
    this.runtime = runtime;
    this.port = null;
    this.pending = new Map(); // id -> {resolve, reject, onProgress, chunks, timer}
    this.nextId = 1;
  }

  connect() {
    if (this.port) return this.port;
    const port = this.runtime.connectNative(this.name);
    port.onMessage.addListener((message) => this.onMessage(message));
    port.onDisconnect.addListener(() => {
      const reason = this.runtime.lastError?.message || 'the native host closed the connection';
      const code = this.sawReply ? 'host_disconnected' : 'host_unreachable';
      if (this.port === port) this.port = null;
      this.failAll(new HostError(code, hostHint(code, reason)));
    });
    this.port = port;
    this.sawReply = false;
    return port;
  }

  /** Send one message; resolves with the final reply (or the joined photo), rejects with a HostError. */
  request(message, { onProgress, timeoutMs = SILENCE_MS } = {}) {
    const id = message.id ?? `r${this.nextId++}`;
    return new Promise((resolve, reject) => {
      const entry = { resolve, reject, onProgress, chunks: [], timeoutMs, timer: null };
      this.pending.set(id, entry);
      this.arm(id, entry);
      try {
        const port = this.connect();
        for (const part of outgoing({ ...message, id })) port.postMessage(part);
      } catch (error) {
        this.finish(id, new HostError('host_unreachable', hostHint('host_unreachable', String(error.message ?? error))));
      }
    });
  }

  cancel(id) {
    if (!this.pending.has(id)) return;
    try {
      this.port?.postMessage({ type: 'cancel', id });
    } catch {
      // the port is gone: the request fails through onDisconnect
    }
  }

  arm(id, entry) {
    clearTimeout(entry.timer);
    entry.timer = setTimeout(() => {
      this.cancel(id);
      this.finish(id, new HostError('timeout', `no answer from the native host in ${entry.timeoutMs / 1000} s`));
    }, entry.timeoutMs);
  }

  finish(id, error, value) {
    const entry = this.pending.get(id);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.pending.delete(id);
    if (error) entry.reject(error);
    else entry.resolve(value);
  }

  failAll(error) {
    for (const id of [...this.pending.keys()]) this.finish(id, error);
  }

  async onMessage(message) {
    this.sawReply = true;
    if (message.id === null || message.id === undefined) {
      // a host-wide error (for example `origin`): it concerns every request
      this.failAll(new HostError(message.code ?? 'protocol', message.message ?? 'the native host refused'));
      return;
    }
    const entry = this.pending.get(message.id);
    if (!entry) return;
    this.arm(message.id, entry);
    switch (message.type) {
      case 'progress':
        entry.onProgress?.(message);
        break;
      case 'chunk':
        entry.chunks[message.index] = message.data;
        break;
      case 'done':
        try {
          this.finish(message.id, null, await joined(message, entry.chunks));
        } catch (error) {
          this.finish(message.id, error);
        }
        break;
      case 'error':
        this.finish(message.id, new HostError(message.code ?? 'failed', message.message ?? 'the native host failed'));
        break;
      default: // pong, status: the reply itself
        this.finish(message.id, null, message);
    }
  }
}

/** The chunks of a `done` reply joined and checked: {data (base64), bytes, mime, name, sha256, receipt}. */
async function joined(done, chunks) {
  const count = chunks.length;
  if (count === 0 || chunks.some((c) => typeof c !== 'string')) {
    throw new HostError('bad_result', `the photo came back with ${count} chunks, some missing`);
  }
  // every chunk but the last is a multiple of 3 bytes (600 KiB), so their base64 joins as is
  const data = chunks.join('');
  const bytes = base64ToBytes(data);
  const sha256 = await sha256Hex(bytes);
  if (bytes.length !== done.size || sha256 !== done.sha256) {
    throw new HostError('bad_result', `the photo came back with ${bytes.length} bytes and sha256 ${sha256.slice(0, 12)}`
      + `, not ${done.size} bytes and ${String(done.sha256).slice(0, 12)}`);
  }
  return { data, bytes, mime: done.mime, name: done.name, sha256, receipt: done.receipt };
}

/** The messages for one request: a photo over SEND_CHUNK goes as chunks, then `protect` with `chunks`. */
function* outgoing(message) {
  if (message.type !== 'protect' || message.data.length <= (SEND_CHUNK * 4) / 3) {
    yield message;
    return;
  }
  const { data, ...rest } = message;
  const step = (SEND_CHUNK * 4) / 3; // base64 characters per chunk (SEND_CHUNK is a multiple of 3)
  const count = Math.ceil(data.length / step);
  for (let index = 0; index < count; index += 1) {
    yield { type: 'chunk', id: message.id, index, count, data: data.slice(index * step, (index + 1) * step) };
  }
  yield { ...rest, chunks: count };
}

function hostHint(code, reason) {
  if (code === 'host_unreachable') {
    return `${reason}. Install the native host: imageprotector install-host (then imageprotector doctor)`;
  }
  return reason;
}
