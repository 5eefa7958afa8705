// The settings and the site list, against an in-memory storage area.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { enabledSites, loadSettings, saveSettings, saveSite, siteState } from '../../../extension/common/settings.js';
import { siteKey } from '../../../extension/common/sites.js';

function memoryStorage() {
  const data = {};
  return {
    data,
    async get(keys) {
      return Object.fromEntries([keys].flat().filter((k) => k in data).map((k) => [k, structuredClone(data[k])]));
    },
    async set(items) {
      Object.assign(data, structuredClone(items));
    },
  };
}

test('a default site and its subdomains share one key; another site is keyed by its origin', () => {
  assert.equal(siteKey('https://www.instagram.com/p/1'), 'instagram.com');
  assert.equal(siteKey('https://old.reddit.com/'), 'reddit.com');
  assert.equal(siteKey('https://notinstagram.com/'), 'https://notinstagram.com');
  assert.equal(siteKey('https://social.example:8443/home'), 'https://social.example:8443');
  assert.equal(siteKey('chrome://extensions/'), null);
});

test('default sites are on with their profile; others are off with generic until turned on', async () => {
  const storage = memoryStorage();
  const settings = await loadSettings(storage);
  assert.deepEqual(siteState(settings, 'bsky.app'), { key: 'bsky.app', isDefault: true, enabled: true,
    profile: 'bluesky', epsilon: 8, onFailure: 'hold' });
  assert.equal(siteState(settings, 'https://social.example').enabled, false);
  assert.equal(siteState(settings, 'https://social.example').profile, 'generic');
  await saveSite('https://social.example', { enabled: true }, storage);
  await saveSite('x.com', { enabled: false }, storage);
  const after = await loadSettings(storage);
  assert.ok(enabledSites(after).includes('https://social.example'));
  assert.ok(!enabledSites(after).includes('x.com'));
  assert.ok(enabledSites(after).includes('twitter.com'));
});

test('settings outside the presets and profiles are refused, and nothing is stored', async () => {
  const storage = memoryStorage();
  await assert.rejects(saveSettings({ epsilon: 3 }, storage), /no strength 3/);
  await assert.rejects(saveSettings({ onFailure: 'ignore' }, storage), /no failure policy/);
  await assert.rejects(saveSite('x.com', { profile: 'myspace' }, storage), /no site profile myspace/);
  assert.deepEqual(storage.data, {});
  assert.equal((await saveSettings({ epsilon: 16, onFailure: 'warn' }, storage)).epsilon, 16);
});
