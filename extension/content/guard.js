/**
 * Holding a file input's `input` and `change` events while its photos are protected, then
 * putting the protected files in the input (through a DataTransfer) and dispatching the
 * events again, so that the page's own handlers only ever see the protected photos.
 *
 * Runs in the page's world, where every interception path lives (file-input.js,
 * detached-input.js, drop.js, paste.js, upload-hook.js): that is where the page's events
 * are, including those of inputs never attached to the document. Protection itself and the
 * overlay live in the isolated world, reached through page-bridge.js.
 */
// `var` and `??`: injecting the file again (a site turned on in an open tab) keeps the first copy.
// eslint-disable-next-line no-var, no-unused-vars
var ImageProtectorGuard = globalThis.ImageProtectorGuard ?? (() => {
  const ours = new WeakSet(); // the events we dispatched: they pass
  const held = new WeakMap(); // input -> {types: [event types held], settled: Promise}

  /** Whether `file` is a photo the companion reads (not SVG, not an animation). */
  function isPhoto(file) {
    const type = (file.type || '').toLowerCase();
    if (type === 'image/svg+xml' || type === 'image/gif') return false;
    if (type.startsWith('image/')) return true;
    return !type && /\.(jpe?g|png|webp|bmp|tiff?|heic|heif|avif)$/i.test(file.name || '');
  }

  function dispatchOurs(target, event) {
    ours.add(event);
    target.dispatchEvent(event);
  }

  /**
   * Called from a capture listener for `input` and `change`. `protect(files)` resolves with
   * the files to hand the page, or null when the upload is dropped. Returns whether the
   * event was taken.
   */
  function onInputEvent(event, protect) {
    if (ours.has(event)) return false;
    const input = event.composedPath()[0];
    if (!(input instanceof HTMLInputElement) || input.type !== 'file') return false;
    const pending = held.get(input);
    if (pending) {
      event.stopImmediatePropagation();
      pending.types.push(event.type);
      return true;
    }
    const files = [...(input.files ?? [])];
    if (!files.some(isPhoto)) return false;
    event.stopImmediatePropagation();
    const entry = { types: [event.type] };
    held.set(input, entry);
    entry.settled = Promise.resolve(protect(files)).catch(() => null).then((replacement) => {
      held.delete(input);
      if (!replacement) {
        input.value = ''; // dropped: the page never sees this selection
        return;
      }
      const transfer = new DataTransfer();
      for (const file of replacement) transfer.items.add(file);
      input.files = transfer.files;
      for (const type of entry.types) dispatchOurs(input, new Event(type, { bubbles: true, composed: type === 'input' }));
    });
    return true;
  }

  return { isPhoto, dispatchOurs, onInputEvent, ours };
})();
