/**
 * The toolbar popup: the switch for the current tab's site, the companion's status, the
 * last results with their receipts, and a link to the settings.
 *
 * Turning on a site that is not a default one asks for that origin's permission right
 * here, in the click (browsers grant optional permissions only during a user gesture).
 */

import { ACTIONS } from '../common/messages.js';
import { ask } from '../common/ask.js';
import { siteKey } from '../common/sites.js';

const $ = (id) => document.getElementById(id);

/** The tab the popup is about: the active one, or `?tab=ID` (how the tests open it in a tab). */
async function currentTab() {
  const id = Number(new URLSearchParams(location.search).get('tab'));
  if (id) return chrome.tabs.get(id);
  const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
  return tab;
}

function percent(x) {
  return typeof x === 'number' ? `${Math.round(100 * x)}%` : '?';
}

async function showSite(tab) {
  const toggle = $('site-toggle');
  const key = tab?.url ? siteKey(tab.url) : null;
  if (!key) {
    $('site-name').textContent = 'No site in this tab';
    toggle.disabled = true;
    return;
  }
  const state = await ask(ACTIONS.SITE_STATE, { url: tab.url });
  $('site-name').textContent = key.replace(/^https?:\/\//, '');
  const render = (s) => {
    toggle.checked = s.enabled;
    $('site-detail').textContent = s.enabled ? `Protected (${s.profile} profile)` : 'Not protected';
  };
  render(state);
  toggle.addEventListener('change', async () => {
    const note = $('site-note');
    note.hidden = true;
    const enabled = toggle.checked;
    try {
      if (enabled && !state.isDefault) {
        const granted = await chrome.permissions.request({ origins: [`${key}/*`] });
        if (!granted) {
          toggle.checked = false;
          note.textContent = 'Permission not given: ImageProtector cannot see uploads on this site.';
          note.hidden = false;
          return;
        }
      }
      render(await ask(ACTIONS.SET_SITE, { key, enabled, tabId: tab.id }));
      if (!state.isDefault && enabled) {
        note.textContent = 'On. Photos you pick from now on are protected.';
        note.hidden = false;
      }
    } catch (error) {
      toggle.checked = !enabled;
      note.textContent = `Could not change this site: ${error.message}`;
      note.hidden = false;
    }
  });
}

async function showCompanion() {
  const box = $('companion-status');
  const status = await ask(ACTIONS.STATUS).catch((error) => ({ reachable: false, message: error.message }));
  box.replaceChildren();
  const line = document.createElement('div');
  if (status.reachable) {
    line.className = 'ok';
    line.textContent = `Running on ${status.device ?? '?'}`;
    const models = document.createElement('div');
    models.className = 'detail';
    models.textContent = `Model: ${(status.models ?? []).map((m) => m.name ?? m).join(', ') || 'none loaded'}`
      + (status.queue_length ? `, ${status.queue_length} queued` : '');
    box.append(line, models);
  } else {
    line.className = 'bad';
    line.textContent = `Not reachable: ${status.message ?? status.code}`;
    box.append(line);
  }
}

async function showRecent() {
  const recent = await ask(ACTIONS.RECENT);
  if (!recent.length) return;
  const list = $('recent');
  list.replaceChildren(...recent.slice(0, 5).map((entry) => {
    const item = document.createElement('li');
    const name = document.createElement('div');
    name.className = 'name';
    name.textContent = entry.name;
    const detail = document.createElement('div');
    detail.className = 'detail';
    const r = entry.receipt ?? {};
    const rates = [r.refusal_rate, r.site_refusal_rate].filter((x) => typeof x === 'number');
    detail.textContent = `${entry.page ?? entry.site}: refused ${percent(Math.min(...rates))}, `
      + `PSNR ${r.psnr?.toFixed(1) ?? '?'} dB, ${new Date(entry.at).toLocaleTimeString()}`;
    item.append(name, detail);
    return item;
  }));
}

$('options').addEventListener('click', (event) => {
  event.preventDefault();
  chrome.runtime.openOptionsPage();
});

currentTab().then((tab) => Promise.all([showSite(tab), showCompanion(), showRecent()]))
  .catch((error) => {
    $('site-detail').textContent = `Error: ${error.message}`;
  })
  .finally(() => document.body.setAttribute('data-ready', 'true'));
