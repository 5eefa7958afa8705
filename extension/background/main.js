/**
 * The service worker: one native host connection, one handler table, two ways in
 * (one-shot runtime messages, and the photo port that carries progress).
 */

import { ACTIONS, PHOTO_PORT } from '../common/messages.js';
import { enabledSites, loadSettings } from '../common/settings.js';
import { Badge } from './badge.js';
import { dispatch, makeHandlers } from './handlers.js';
import { NativeHost } from './native.js';
import { syncRegistrations } from './registration.js';
import { Results } from './results.js';

const host = new NativeHost();
const handlers = makeHandlers({ host, results: new Results(), badge: new Badge() });

chrome.runtime.onMessage.addListener((message, sender, sendResponse) => {
  dispatch(handlers, message, { sender }).then(sendResponse);
  return true; // the answer comes asynchronously
});

chrome.runtime.onConnect.addListener((port) => {
  if (port.name !== PHOTO_PORT) return;
  let open = true;
  const active = new Set(); // this page's photos in flight: cancelled if the page goes away
  port.onDisconnect.addListener(() => {
    open = false;
    for (const requestId of active) dispatch(handlers, { action: ACTIONS.CANCEL, args: { requestId } }, {});
  });
  const post = (message) => {
    if (open) port.postMessage(message);
  };
  port.onMessage.addListener(async (message) => {
    const requestId = message.args?.requestId;
    const emit = (event) => post({ requestId, ...event });
    active.add(requestId);
    const answer = await dispatch(handlers, message, { sender: port.sender, emit });
    active.delete(requestId);
    post({ requestId, type: 'answer', ...answer });
  });
});

async function start() {
  await syncRegistrations(enabledSites(await loadSettings()));
}

chrome.runtime.onInstalled.addListener(() => start().catch((e) => console.error('ImageProtector start:', e)));
chrome.runtime.onStartup.addListener(() => start().catch((e) => console.error('ImageProtector start:', e)));
