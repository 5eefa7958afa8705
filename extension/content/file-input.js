/**
 * File pickers (page world): `input` and `change` of <input type=file>, caught in the capture phase on
 * the window before any handler of the page. Inputs inside open shadow roots are reached by
 * listening on each shadow root seen on the path of a click (opening a picker always takes
 * one: the user's, or the page's `input.click()`), since those events do not leave the root.
 */
(() => {
  if (globalThis.ImageProtectorFileInput) return;
  globalThis.ImageProtectorFileInput = true;
  const guarded = new WeakSet();

  function onEvent(event) {
    if (ImageProtectorPage.enabled() === false) return;
    ImageProtectorGuard.onInputEvent(event, ImageProtectorPage.protect);
  }

  function guard(target) {
    if (guarded.has(target)) return;
    guarded.add(target);
    target.addEventListener('input', onEvent, true);
    target.addEventListener('change', onEvent, true);
  }

  guard(window);
  for (const type of ['click', 'pointerdown', 'focusin']) {
    window.addEventListener(type, (event) => {
      for (const node of event.composedPath()) {
        if (node instanceof ShadowRoot) guard(node);
      }
    }, true);
  }
})();
