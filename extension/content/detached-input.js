/**
 * File inputs that are never attached to the document (made on the fly, `click()`ed, and
 * dropped): their events reach no listener on the document, so this page-world hook on
 * `click()` and `showPicker()` guards such an input just before its picker opens.
 */
(() => {
  if (globalThis.ImageProtectorDetached) return;
  globalThis.ImageProtectorDetached = true;
  const guarded = new WeakSet();

  function onEvent(event) {
    ImageProtectorGuard.onInputEvent(event, ImageProtectorPage.protect);
  }

  function guard(input) {
    if (input.type !== 'file' || input.isConnected || guarded.has(input)) return;
    guarded.add(input);
    input.addEventListener('input', onEvent, true);
    input.addEventListener('change', onEvent, true);
  }

  for (const name of ['click', 'showPicker']) {
    const original = HTMLInputElement.prototype[name];
    if (typeof original !== 'function') continue;
    Object.defineProperty(HTMLInputElement.prototype, name, {
      configurable: true,
      writable: true,
      value: function guardedPicker(...args) {
        guard(this);
        return original.apply(this, args);
      },
    });
  }
})();
