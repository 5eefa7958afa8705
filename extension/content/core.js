/**
 * The content scripts' common part (isolated world): this page's settings, the port that
 * carries photos to the service worker, and `protectFiles`, the one way every interception
 * path gets protected photos (through bridge.js).
 *
 * `protectFiles(files, photos)` (`photos[i]`: whether files[i] is a photo) resolves with the files to hand the page: the protected photo in
 * place of each photo, other files unchanged; or null when the user dropped the upload.
 * When a photo cannot be protected, the failure policy decides: `hold` (default) waits for
 * the user's "Upload original anyway" or "Don't upload"; `warn` uploads the original and
 * says so.
 */
// eslint-disable-next-line no-var, no-unused-vars
var ImageProtector = globalThis.ImageProtector ?? (() => {
  const shared = Promise.all([
    import(chrome.runtime.getURL('common/messages.js')),
    import(chrome.runtime.getURL('common/bytes.js')),
  ]).then(([messages, bytes]) => ({ ...messages, ...bytes }));

  let stateReady = null; // this page's site state (background/handlers.js siteState), once asked

  async function refresh() {
    const { ACTIONS } = await shared;
    const answer = await chrome.runtime.sendMessage({ action: ACTIONS.SITE_STATE, args: { url: location.href } });
    return answer?.ok ? answer.result : { enabled: false };
  }

  function siteState() {
    stateReady ??= refresh();
    return stateReady;
  }

  chrome.storage.onChanged.addListener((changes, area) => {
    if (area === 'sync') stateReady = refresh();
  });

  // -- the photo port ------------------------------------------------------------------
  let port = null;
  const listeners = new Map(); // requestId -> callback(message)

  async function photoPort() {
    if (port) return port;
    const { PHOTO_PORT } = await shared;
    port = chrome.runtime.connect({ name: PHOTO_PORT });
    port.onMessage.addListener((message) => listeners.get(message.requestId)?.(message));
    port.onDisconnect.addListener(() => {
      port = null;
      for (const callback of [...listeners.values()]) {
        callback({ type: 'answer', ok: false,
          error: { code: 'worker_stopped', message: 'the extension stopped while the photo was in flight' } });
      }
    });
    return port;
  }

  const known = new Set(); // sha256 of the photos this page got back protected, or let go as they are

  async function hashOf(file) {
    const { sha256Hex } = await shared;
    return sha256Hex(new Uint8Array(await file.arrayBuffer()));
  }

  /** One photo to the service worker and back: {file} | {passthrough} | {error}. */
  async function protectOne(file, item) {
    const { ACTIONS, blobToBase64, base64ToBytes } = await shared;
    const requestId = crypto.randomUUID();
    const data = await blobToBase64(file);
    const answer = await new Promise((resolve) => {
      listeners.set(requestId, (message) => {
        if (message.type === 'progress') item.progress(message);
        else if (message.type === 'answer') resolve(message);
      });
      photoPort().then((p) => p.postMessage({ action: ACTIONS.PROTECT,
        args: { requestId, name: file.name || 'photo', mime: file.type, data } }))
        .catch((error) => resolve({ ok: false, error: { code: 'worker_stopped', message: String(error) } }));
    });
    listeners.delete(requestId);
    if (!answer.ok) return { error: answer.error };
    const result = answer.result;
    if (result.passthrough) return { passthrough: result.passthrough };
    const protectedFile = new File([base64ToBytes(result.data)], keepName(file.name, result.name),
      { type: result.mime, lastModified: Date.now() });
    return { file: protectedFile, receipt: result.receipt, sha256: result.sha256 };
  }

  /** The original's name with the protected file's extension (sites show the name). */
  function keepName(original, returned) {
    if (!original) return returned;
    const ext = (returned.match(/\.[^.]+$/) ?? [''])[0];
    return original.replace(/\.[^.]+$/, '') + ext;
  }

  async function protectFiles(files, isPhoto) {
    if (!isPhoto.some(Boolean)) return files;
    let site;
    try {
      stateReady = refresh(); // the switch as it is now, not as it was when the page loaded
      site = await stateReady;
    } catch (error) {
      // the extension was updated or reloaded under this page: this script can no longer reach it
      return held(files, isPhoto, { code: 'worker_stopped',
        message: 'ImageProtector was updated or restarted: reload this page to protect photos here' });
    }
    if (!site.enabled) return files;
    const photos = [];
    for (const file of files.filter((_, index) => isPhoto[index])) {
      if (!known.has(await hashOf(file))) photos.push(file); // ours already: it passes, silently
    }
    if (!photos.length) return files;
    const batch = ImageProtectorOverlay.batch(photos.map((f) => f.name || 'photo'));
    const outcomes = await Promise.all(photos.map(async (file, index) => {
      const item = batch.items[index];
      const outcome = await protectOne(file, item).catch((error) => ({
        error: { code: 'failed', message: String(error.message ?? error) } }));
      if (outcome.file) {
        known.add(outcome.sha256);
        item.done(outcome.receipt);
      }
      else if (outcome.passthrough) item.passed(outcome.passthrough);
      else item.failed(outcome.error);
      return outcome;
    }));
    const failed = outcomes.filter((o) => o.error);
    if (failed.length) {
      const choice = site.onFailure === 'warn' ? batch.warnOriginal() : await batch.ask();
      if (choice === 'cancel') return null;
      // the user let these originals go: the page's own upload of them (fetch) must not stop them again
      for (const [index, outcome] of outcomes.entries()) {
        if (outcome.error) known.add(await hashOf(photos[index]));
      }
    } else {
      batch.finished();
    }
    const replacement = new Map(photos.map((file, index) => [file, outcomes[index].file ?? file]));
    return files.map((file) => replacement.get(file) ?? file);
  }

  /** No way to protect: every photo failed with `error`; the user decides (the hold policy). */
  async function held(files, isPhoto, error) {
    const photos = files.filter((_, index) => isPhoto[index]);
    const batch = ImageProtectorOverlay.batch(photos.map((f) => f.name || 'photo'));
    for (const item of batch.items) item.failed(error);
    return (await batch.ask()) === 'original' ? files : null;
  }

  return { siteState, protectFiles };
})();
