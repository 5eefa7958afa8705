/**
 * The fallback for sites that read photos in ways the listeners miss (a photo read through
 * the File System Access API, fetched from a URL, or kept from an earlier selection): a
 * page-world hook on `fetch` and `XMLHttpRequest.send` that holds a request whose body
 * carries a photo (FormData or a Blob) until the photo is protected. Photos the extension
 * already protected pass at once (bridge.js recognises their bytes).
 */
(() => {
  if (globalThis.ImageProtectorUploadHook) return;
  globalThis.ImageProtectorUploadHook = true;
  const isPhoto = ImageProtectorGuard.isPhoto;

  /** The body with its photos protected; the same body when it has none; null when dropped. */
  async function protectBody(body) {
    if (body instanceof FormData) {
      const entries = [...body.entries()];
      const files = entries.map(([, v]) => v).filter((v) => v instanceof File && isPhoto(v));
      if (!files.length || ImageProtectorPage.enabled() === false) return body;
      const replaced = await ImageProtectorPage.protect(files);
      if (!replaced) return null;
      const swap = new Map(files.map((f, i) => [f, replaced[i]]));
      const out = new FormData();
      for (const [key, value] of entries) {
        if (swap.has(value)) out.append(key, swap.get(value), swap.get(value).name);
        else out.append(key, value);
      }
      return out;
    }
    if (hasPhoto(body)) {
      if (ImageProtectorPage.enabled() === false) return body;
      const file = body instanceof File ? body : new File([body], 'photo', { type: body.type });
      const replaced = await ImageProtectorPage.protect([file]);
      return replaced ? replaced[0] : null;
    }
    return body;
  }

  /** Whether a body carries a photo (checked at once, so other requests are not delayed). */
  function hasPhoto(body) {
    if (body instanceof FormData) return [...body.values()].some((v) => v instanceof File && isPhoto(v));
    return body instanceof Blob && isPhoto(body instanceof File ? body : { type: body.type, name: '' });
  }

  const held = () => new DOMException('ImageProtector did not upload this photo', 'AbortError');

  const originalFetch = window.fetch;
  window.fetch = async function guardedFetch(resource, init) {
    if (hasPhoto(init?.body)) {
      const body = await protectBody(init.body);
      if (!body) throw held();
      return originalFetch.call(this, resource, { ...init, body });
    }
    if (resource instanceof Request && !init && ['POST', 'PUT', 'PATCH'].includes(resource.method)) {
      const type = resource.headers.get('content-type') ?? '';
      if (type.startsWith('multipart/form-data') || type.startsWith('image/')) {
        const copy = resource.clone();
        const original = type.startsWith('image/') ? await copy.blob() : await copy.formData();
        const body = await protectBody(original);
        if (!body) throw held();
        if (body !== original) {
          const headers = new Headers(resource.headers);
          if (body instanceof FormData) headers.delete('content-type'); // a new boundary
          return originalFetch.call(this, new Request(resource, { body, headers }));
        }
      }
    }
    return originalFetch.call(this, resource, init);
  };

  const originalSend = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function guardedSend(body) {
    if (!hasPhoto(body)) return originalSend.call(this, body);
    protectBody(body).then((protectedBody) => {
      if (this.readyState !== XMLHttpRequest.OPENED) return; // aborted meanwhile
      if (protectedBody) originalSend.call(this, protectedBody);
      else this.abort();
    });
    return undefined;
  };
})();
