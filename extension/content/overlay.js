/**
 * The in-page overlay: one card per batch of photos (several photos picked or dropped at
 * once are queued and shown together), each photo with its progress, then its receipt or
 * why it failed; for a held upload, the buttons that decide it. Drawn in a shadow root so
 * that the page's styles neither break it nor read it by accident.
 */
// eslint-disable-next-line no-var, no-unused-vars
var ImageProtectorOverlay = globalThis.ImageProtectorOverlay ?? (() => {
  const STYLE = `
    :host { all: initial; }
    .panel { position: fixed; right: 16px; bottom: 16px; z-index: 2147483647; width: 340px;
      font: 13px/1.4 system-ui, sans-serif; color: #202124; display: flex; flex-direction: column; gap: 8px; }
    .card { background: #fff; border-radius: 10px; box-shadow: 0 4px 18px rgba(0,0,0,.25); padding: 12px 14px; }
    .title { font-weight: 600; margin-bottom: 6px; display: flex; gap: 6px; align-items: center; }
    .shield { width: 16px; height: 16px; }
    .item { margin: 6px 0; }
    .name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; color: #5f6368; }
    .status { margin-top: 2px; }
    .bar { height: 4px; background: #e8eaed; border-radius: 2px; margin-top: 4px; overflow: hidden; }
    .fill { height: 100%; width: 0; background: #1a73e8; transition: width .3s; }
    .done .fill { background: #188038; } .failed .fill { background: #d93025; width: 100% !important; }
    .done .status { color: #188038; } .failed .status, .warning { color: #d93025; }
    .message { margin-top: 8px; }
    .buttons { display: flex; gap: 8px; margin-top: 10px; justify-content: flex-end; }
    button { font: inherit; border-radius: 6px; padding: 6px 10px; cursor: pointer; border: 1px solid #dadce0;
      background: #fff; color: #1a73e8; }
    button.primary { background: #1a73e8; color: #fff; border-color: #1a73e8; }
  `;
  const SHIELD = '<svg class="shield" viewBox="0 0 24 24"><path fill="#1a73e8" d="M12 2 4 5v6c0 5 3.4 9.7 8 11 '
    + '4.6-1.3 8-6 8-11V5l-8-3z"/><path fill="#fff" d="m10.5 15.5-3-3 1.4-1.4 1.6 1.6 4.6-4.6 1.4 1.4z"/></svg>';
  let root = null;

  function panel() {
    if (root?.host.isConnected) return root.querySelector('.panel');
    const host = document.createElement('imageprotector-overlay');
    root = host.attachShadow({ mode: 'open' });
    root.innerHTML = `<style>${STYLE}</style><div class="panel" role="status" aria-live="polite"></div>`;
    (document.body ?? document.documentElement).appendChild(host);
    return root.querySelector('.panel');
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function percent(x) {
    return `${Math.round(100 * x)}%`;
  }

  /** The receipt in words: "Protected: refused 100% of test questions, PSNR 38.2 dB". */
  function describe(receipt) {
    if (!receipt) return 'Protected';
    const rates = [receipt.refusal_rate, receipt.site_refusal_rate].filter((r) => typeof r === 'number');
    const parts = [];
    if (rates.length) parts.push(`refused ${percent(Math.min(...rates))} of test questions`);
    if (receipt.psnr) parts.push(`PSNR ${receipt.psnr.toFixed(1)} dB`);
    const head = receipt.protected === false ? 'Protected weakly' : 'Protected';
    return parts.length ? `${head}: ${parts.join(', ')}` : head;
  }

  const REASONS = {
    companion_unreachable: 'The ImageProtector companion is not running.',
    host_unreachable: 'The ImageProtector native host is not installed (run: imageprotector install-host).',
    host_disconnected: 'The native host stopped.',
    worker_stopped: 'The extension stopped.',
    timeout: 'Protection took too long.',
    busy: 'The companion is busy.',
    bad_image: 'This file is not a photo the companion can read.',
    too_large: 'The photo is too large.',
    unauthorized: 'The companion does not accept this browser (run: imageprotector doctor).',
  };

  function reason(error) {
    const detail = String(error?.message ?? '').trim();
    const sentence = detail ? `${detail[0].toUpperCase()}${detail.slice(1)}${/[.!?]$/.test(detail) ? '' : '.'}` : '';
    return `${REASONS[error?.code] ?? 'Protection failed.'} ${sentence}`.trim();
  }

  function batch(names) {
    const card = element('div', 'card');
    card.dataset.state = 'working';
    const title = element('div', 'title');
    title.innerHTML = SHIELD;
    title.append(element('span', '', names.length > 1 ? `Protecting ${names.length} photos` : 'Protecting photo'));
    card.append(title);
    const items = names.map((name) => {
      const row = element('div', 'item');
      const status = element('div', 'status', 'Waiting...');
      const fill = element('div', 'fill');
      const bar = element('div', 'bar');
      bar.append(fill);
      row.append(element('div', 'name', name), status, bar);
      card.append(row);
      return {
        progress({ fraction, phase }) {
          const f = Math.max(0, Math.min(1, fraction ?? 0));
          const doing = { queued: 'Waiting for the companion', encoding: 'Saving the protected photo',
            verifying: 'Checking the protection' }[phase] ?? 'Protecting photo';
          status.textContent = `${doing}... ${percent(f)}`;
          fill.style.width = percent(f);
        },
        done(receipt) {
          row.classList.add('done');
          fill.style.width = '100%';
          status.textContent = describe(receipt);
        },
        passed(why) {
          row.classList.add('done');
          fill.style.width = '100%';
          status.textContent = why === 'already_protected' ? 'Already protected' : 'Not protected: protection is off here';
        },
        failed(error) {
          row.classList.add('failed');
          status.textContent = reason(error);
          row.dataset.code = error?.code ?? 'failed';
        },
      };
    });
    panel().append(card);

    function close(after) {
      setTimeout(() => card.remove(), after);
    }

    function heading(text) {
      title.lastChild.textContent = text;
    }

    return {
      items,
      card,
      finished() {
        card.dataset.state = 'done';
        heading(names.length > 1 ? `${names.length} photos protected` : 'Photo protected');
        close(10_000);
      },
      warnOriginal() {
        card.dataset.state = 'warned';
        heading('Uploaded without protection');
        card.append(element('div', 'message warning', names.length > 1
          ? 'Some photos could not be protected; their originals were uploaded (your setting).'
          : 'This photo could not be protected; the original was uploaded (your setting).'));
        close(30_000);
        return 'original';
      },
      ask() {
        card.dataset.state = 'held';
        heading('Upload held');
        card.append(element('div', 'message', names.length > 1
          ? 'Some photos could not be protected, so none was uploaded yet.'
          : 'This photo could not be protected, so it was not uploaded.'));
        const buttons = element('div', 'buttons');
        const cancel = element('button', '', "Don't upload");
        const original = element('button', 'primary', 'Upload original anyway');
        cancel.dataset.choice = 'cancel';
        original.dataset.choice = 'original';
        buttons.append(cancel, original);
        card.append(buttons);
        return new Promise((resolve) => {
          for (const button of [cancel, original]) {
            button.addEventListener('click', (event) => {
              event.stopPropagation();
              card.dataset.state = button.dataset.choice === 'original' ? 'sent-original' : 'dropped';
              buttons.remove();
              close(3_000);
              resolve(button.dataset.choice);
            });
          }
        });
      },
    };
  }

  return { batch, describe };
})();
