/**
 * Drag and drop: a `drop` carrying photos is stopped in the capture phase, and once they are
 * protected the same drop is dispatched again on the same target with a DataTransfer that
 * holds the protected photos (a dropped DataTransfer cannot be changed in place).
 */
(() => {
  if (globalThis.ImageProtectorDrop) return;
  globalThis.ImageProtectorDrop = true;

  window.addEventListener('drop', (event) => {
    if (ImageProtectorGuard.ours.has(event) || ImageProtectorPage.enabled() === false) return;
    const files = [...(event.dataTransfer?.files ?? [])];
    if (!files.some(ImageProtectorGuard.isPhoto)) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    const target = event.composedPath()[0];
    const init = { bubbles: true, cancelable: true, composed: true, clientX: event.clientX, clientY: event.clientY,
      screenX: event.screenX, screenY: event.screenY };
    ImageProtectorPage.protect(files).then((replacement) => {
      if (!replacement) return;
      const transfer = new DataTransfer();
      for (const file of replacement) transfer.items.add(file);
      ImageProtectorGuard.dispatchOurs(target, new DragEvent('drop', { ...init, dataTransfer: transfer }));
    });
  }, true);
})();
