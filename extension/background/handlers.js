/**
 * The table of `{action, args}` handlers the popup, the options page and the content
 * scripts call. Each handler is `async (args, context) => result`; `context` holds the
 * sender and, on the photo port, `emit` for progress. A failing handler answers
 * `{ok: false, error: {code, message}}` (see main.js).
 */

import { base64ToBytes, sha256Hex } from '../common/bytes.js';
import { ACTIONS } from '../common/messages.js';
import { enabledSites, loadSettings, saveSettings, saveSite, siteState } from '../common/settings.js';
import { siteKey } from '../common/sites.js';
import { HostError } from './native.js';
import { syncRegistrations } from './registration.js';

export function makeHandlers({ host, results, badge }) {
  const inFlight = new Map(); // the content script's requestId -> the host request's id

  return {
    async [ACTIONS.SITE_STATE]({ url }) {
      const key = siteKey(url);
      if (!key) return { key: null, enabled: false };
      return siteState(await loadSettings(), key);
    },

    async [ACTIONS.SET_SITE]({ key, enabled, profile, tabId }) {
      const state = await saveSite(key, { enabled, profile });
      await syncRegistrations(enabledSites(await loadSettings()));
      if (enabled && !state.isDefault && tabId !== undefined) await injectNow(tabId);
      return state;
    },

    async [ACTIONS.SETTINGS]() {
      const settings = await loadSettings();
      return { ...settings, enabledSites: enabledSites(settings) };
    },

    async [ACTIONS.SAVE_SETTINGS](change) {
      return saveSettings(change);
    },

    async [ACTIONS.STATUS]() {
      try {
        return await host.request({ type: 'status' }, { timeoutMs: 15_000 });
      } catch (error) {
        return { reachable: false, code: error.code ?? 'failed', message: error.message };
      }
    },

    async [ACTIONS.RECENT]() {
      return results.recent();
    },

    async [ACTIONS.PROTECT]({ name, mime, data, requestId }, { sender, emit }) {
      const url = sender.url ?? sender.tab?.url; // the frame's page, as the content script asked siteState for it
      const key = url ? siteKey(url) : null;
      const state = key ? siteState(await loadSettings(), key) : { enabled: false };
      if (!state.enabled) return { passthrough: 'disabled' };
      if (await results.isKnown(await sha256Hex(base64ToBytes(data)))) return { passthrough: 'already_protected' };
      const tabId = sender.tab?.id;
      const id = `p${crypto.randomUUID()}`;
      inFlight.set(requestId, id);
      badge.start(tabId);
      try {
        const result = await host.request(
          { type: 'protect', id, data, name, mime, site: state.profile, options: { epsilon: state.epsilon } },
          { onProgress: (p) => emit?.({ type: 'progress', fraction: p.fraction, step: p.step, maxSteps: p.max_steps,
            eta: p.eta, state: p.state, phase: p.phase }) },
        );
        await results.add({ sha256: result.sha256, name, site: state.profile, receipt: result.receipt,
          tabUrl: url });
        return { name: result.name, mime: result.mime, data: result.data, sha256: result.sha256,
          receipt: result.receipt };
      } finally {
        inFlight.delete(requestId);
        badge.end(tabId);
      }
    },

    async [ACTIONS.CANCEL]({ requestId }) {
      const id = inFlight.get(requestId);
      if (id) host.cancel(id);
      return null;
    },
  };
}

/** Start protecting in a tab that was open before its site was turned on. */
async function injectNow(tabId) {
  const manifest = chrome.runtime.getManifest();
  for (const entry of manifest.content_scripts) {
    await chrome.scripting.executeScript({ target: { tabId, allFrames: true }, files: entry.js,
      world: entry.world ?? 'ISOLATED' });
  }
}

/** Run one handler; the answer every caller gets. */
export async function dispatch(handlers, message, context) {
  const handler = handlers[message?.action];
  if (!handler) return { ok: false, error: { code: 'protocol', message: `no action ${message?.action}` } };
  try {
    return { ok: true, result: await handler(message.args ?? {}, context) };
  } catch (error) {
    const code = error instanceof HostError || error.code ? error.code : 'failed';
    return { ok: false, error: { code, message: String(error.message ?? error) } };
  }
}
