/**
 * Paste: a `paste` carrying photos is stopped in the capture phase and dispatched again on
 * the same target once they are protected, with the clipboard's text kept as it was.
 */
(() => {
  if (globalThis.ImageProtectorPaste) return;
  globalThis.ImageProtectorPaste = true;

  window.addEventListener('paste', (event) => {
    if (ImageProtectorGuard.ours.has(event) || ImageProtectorPage.enabled() === false) return;
    const clipboard = event.clipboardData;
    const files = [...(clipboard?.files ?? [])];
    if (!files.some(ImageProtectorGuard.isPhoto)) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    const target = event.composedPath()[0];
    const texts = [...clipboard.types].filter((t) => t !== 'Files').map((t) => [t, clipboard.getData(t)]);
    ImageProtectorPage.protect(files).then((replacement) => {
      if (!replacement) return;
      const transfer = new DataTransfer();
      for (const [type, text] of texts) transfer.setData(type, text);
      for (const file of replacement) transfer.items.add(file);
      const paste = new ClipboardEvent('paste', { bubbles: true, cancelable: true, composed: true,
        clipboardData: transfer });
      // Firefox gives a constructed paste an empty clipboardData of its own: hand the page ours
      if (paste.clipboardData?.files.length !== transfer.files.length) {
        Object.defineProperty(paste, 'clipboardData', { value: transfer });
      }
      ImageProtectorGuard.dispatchOurs(target, paste);
    });
  }, true);
})();
