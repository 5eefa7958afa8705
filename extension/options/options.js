/**
 * The settings page: strength (epsilon presets with what they cost), the failure policy,
 * and every known site with its switch and profile. Changes are saved as they are made.
 */

import { ACTIONS } from '../common/messages.js';
import { ask } from '../common/ask.js';
import { FAILURE_POLICIES, STRENGTHS } from '../common/settings.js';
import { DEFAULT_SITES, PROFILES, siteKey } from '../common/sites.js';

const $ = (id) => document.getElementById(id);

function saved(text = 'Saved') {
  $('saved').textContent = text;
}

function radio(name, value, checked, label, cost, onPick) {
  const wrap = document.createElement('label');
  wrap.className = 'choice';
  const input = document.createElement('input');
  Object.assign(input, { type: 'radio', name, value: String(value), checked });
  input.addEventListener('change', () => onPick(value).then(() => saved(), (e) => saved(`Not saved: ${e.message}`)));
  wrap.append(input, ` ${label}`);
  if (cost) {
    const note = document.createElement('span');
    note.className = 'cost';
    note.textContent = cost;
    wrap.append(note);
  }
  return wrap;
}

function siteRow(key, state) {
  const row = document.createElement('tr');
  row.dataset.site = key;
  const name = document.createElement('td');
  name.textContent = key.replace(/^https?:\/\//, '');
  const on = document.createElement('td');
  const toggle = document.createElement('input');
  Object.assign(toggle, { type: 'checkbox', checked: state.enabled });
  toggle.setAttribute('aria-label', `Protect photos on ${name.textContent}`);
  toggle.addEventListener('change', () => ask(ACTIONS.SET_SITE, { key, enabled: toggle.checked })
    .then(() => saved(), (e) => saved(`Not saved: ${e.message}`)));
  on.append(toggle);
  const profile = document.createElement('td');
  const select = document.createElement('select');
  select.setAttribute('aria-label', `Site profile for ${name.textContent}`);
  for (const p of PROFILES) select.append(new Option(p, p, false, p === state.profile));
  select.addEventListener('change', () => ask(ACTIONS.SET_SITE, { key, profile: select.value })
    .then(() => saved(), (e) => saved(`Not saved: ${e.message}`)));
  profile.append(select);
  row.append(name, on, profile);
  return row;
}

async function render() {
  const settings = await ask(ACTIONS.SETTINGS);
  $('strengths').replaceChildren(...STRENGTHS.map((s) => radio('strength', s.epsilon, s.epsilon === settings.epsilon,
    `${s.label} (${s.epsilon}/255)`, s.cost, (epsilon) => ask(ACTIONS.SAVE_SETTINGS, { epsilon }))));
  $('policies').replaceChildren(...Object.entries(FAILURE_POLICIES).map(([value, label]) => radio('policy', value,
    value === settings.onFailure, label, null, (onFailure) => ask(ACTIONS.SAVE_SETTINGS, { onFailure }))));
  const keys = [...new Set([...Object.keys(DEFAULT_SITES), ...Object.keys(settings.sites)])];
  const rows = await Promise.all(keys.map(async (key) => siteRow(key,
    await ask(ACTIONS.SITE_STATE, { url: key.includes('://') ? key : `https://${key}/` }))));
  $('sites').replaceChildren(...rows);
}

/** 'social.example' or 'https://social.example/home' -> 'https://social.example' (null if not a web address). */
function originOf(text) {
  try {
    const url = new URL(text.includes('://') ? text.trim() : `https://${text.trim()}`);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.origin : null;
  } catch {
    return null;
  }
}

$('add-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const note = $('add-note');
  const origin = originOf($('new-site').value);
  if (!origin) {
    note.textContent = 'That is not a web address.';
    return;
  }
  // asked here, in the click: browsers grant optional permissions only during a user gesture
  const granted = await chrome.permissions.request({ origins: [`${origin}/*`] });
  if (!granted) {
    note.textContent = `Permission not given: ImageProtector cannot see uploads on ${origin}.`;
    return;
  }
  await ask(ACTIONS.SET_SITE, { key: siteKey(origin) ?? origin, enabled: true });
  note.textContent = `${origin} added. Reload its open tabs to protect them.`;
  $('new-site').value = '';
  await render();
});

render().catch((error) => saved(`Could not load the settings: ${error.message}`))
  .finally(() => document.body.setAttribute('data-ready', 'true'));
