// Content scripts for added sites: registered for each added origin that is on and whose
// permission was granted, in both worlds as the manifest lists them; dropped when turned off.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { syncRegistrations } from '../../../extension/background/registration.js';

const manifest = JSON.parse(readFileSync(new URL('../../../extension/manifest.json', import.meta.url)));

function fakeScripting() {
  const registered = new Map();
  return {
    registered,
    async getRegisteredContentScripts() {
      return [...registered.values()];
    },
    async registerContentScripts(scripts) {
      for (const s of scripts) registered.set(s.id, s);
    },
    async unregisterContentScripts({ ids }) {
      for (const id of ids) registered.delete(id);
    },
  };
}

const permitted = (origins) => ({ contains: async ({ origins: [pattern] }) => origins.includes(pattern) });

test('an added origin that is on and permitted gets both worlds of content scripts; a default site none', async () => {
  const scripting = fakeScripting();
  const ids = await syncRegistrations(['instagram.com', 'https://social.example', 'https://no-permission.example'],
    { scripting, permissions: permitted(['https://social.example/*']), manifest });
  assert.equal(ids.length, manifest.content_scripts.length);
  const scripts = [...scripting.registered.values()];
  assert.deepEqual(scripts.map((s) => s.world).sort(), ['ISOLATED', 'MAIN']);
  for (const script of scripts) {
    assert.deepEqual(script.matches, ['https://social.example/*']);
    assert.equal(script.runAt, 'document_start');
    assert.equal(script.persistAcrossSessions, true);
  }
  assert.deepEqual(scripts.find((s) => s.world === 'MAIN').js, manifest.content_scripts.find((e) => e.world === 'MAIN').js);
});

test('an origin turned off loses its scripts; syncing twice registers nothing twice', async () => {
  const scripting = fakeScripting();
  const permissions = permitted(['https://a.example/*', 'https://b.example/*']);
  await syncRegistrations(['https://a.example', 'https://b.example'], { scripting, permissions, manifest });
  await syncRegistrations(['https://b.example'], { scripting, permissions, manifest });
  await syncRegistrations(['https://b.example'], { scripting, permissions, manifest });
  const matches = [...scripting.registered.values()].map((s) => s.matches[0]);
  assert.deepEqual(matches, Array(manifest.content_scripts.length).fill('https://b.example/*'));
});
