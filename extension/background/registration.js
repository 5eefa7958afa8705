/**
 * Content scripts for the sites the user added (the default sites have theirs in the
 * manifest). Registered with the scripting API once the user granted the origin's
 * permission in the popup, and kept in step with the settings when the worker starts.
 */

import { DEFAULT_SITES } from '../common/sites.js';

/** The manifest's content scripts, copied for an added origin (both worlds, same files). */
function scriptsFor(origin, manifest) {
  const pattern = `${origin}/*`;
  return manifest.content_scripts.map((entry, index) => ({
    id: `site-${index}-${origin}`,
    matches: [pattern],
    js: entry.js,
    runAt: entry.run_at,
    allFrames: entry.all_frames ?? false,
    world: entry.world ?? 'ISOLATED',
    persistAcrossSessions: true,
  }));
}

/** Register the scripts for every added origin that is on and permitted; drop the others. */
export async function syncRegistrations(enabledKeys, { scripting = chrome.scripting, permissions = chrome.permissions,
  manifest = chrome.runtime.getManifest() } = {}) {
  const wanted = [];
  for (const key of enabledKeys) {
    if (key in DEFAULT_SITES) continue;
    if (await permissions.contains({ origins: [`${key}/*`] })) wanted.push(...scriptsFor(key, manifest));
  }
  const existing = await scripting.getRegisteredContentScripts();
  const wantedIds = new Set(wanted.map((s) => s.id));
  const stale = existing.filter((s) => !wantedIds.has(s.id)).map((s) => s.id);
  if (stale.length) await scripting.unregisterContentScripts({ ids: stale });
  const have = new Set(existing.map((s) => s.id));
  const missing = wanted.filter((s) => !have.has(s.id));
  if (missing.length) await scripting.registerContentScripts(missing);
  return wanted.map((s) => s.id);
}
