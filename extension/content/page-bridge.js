/**
 * The page's world's end of the bridge (see bridge.js): `ImageProtectorPage.protect(files)`
 * resolves with the files to use, or null when the user dropped the upload. Without the
 * bridge after a few seconds (the extension was just updated, say) the files pass as they are.
 */
// eslint-disable-next-line no-var, no-unused-vars
var ImageProtectorPage = globalThis.ImageProtectorPage ?? (() => {
  const WAIT_MS = 5000;
  let port = null;
  let enabled = null;
  let ready;
  const ready$ = new Promise((resolve) => {
    ready = resolve;
  });
  const waiting = new Map();
  let nextId = 1;

  window.addEventListener('message', (event) => {
    if (event.source !== window || event.data?.imageprotector !== 'bridge' || port || !event.ports[0]) return;
    port = event.ports[0];
    enabled = event.data.enabled;
    port.onmessage = ({ data }) => {
      if (data?.kind === 'state') enabled = data.enabled;
      else waiting.get(data?.id)?.(data.files);
    };
    ready();
  });
  window.postMessage({ imageprotector: 'hello' }, '*');

  async function protect(files) {
    const timer = new Promise((resolve) => {
      setTimeout(resolve, WAIT_MS);
    });
    await Promise.race([ready$, timer]);
    if (!port) {
      console.warn('ImageProtector: the extension did not answer; files pass unprotected');
      return files;
    }
    if (enabled === false) return files;
    const id = nextId++;
    return new Promise((resolve) => {
      waiting.set(id, (result) => {
        waiting.delete(id);
        resolve(result);
      });
      port.postMessage({ kind: 'protect', id, files, photos: files.map(ImageProtectorGuard.isPhoto) });
    });
  }

  return { protect, enabled: () => enabled };
})();
