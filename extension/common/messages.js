/**
 * The names shared by every part of the extension.
 *
 * Popup, options and content scripts send `{action, args}` to the service worker, whose
 * handler table (background/handlers.js) answers `{ok: true, result}` or
 * `{ok: false, error: {code, message}}`. Photos travel on a long-lived port named PHOTO_PORT,
 * so that progress can come back before the result.
 */

export const ACTIONS = Object.freeze({
  SITE_STATE: 'siteState', // {url} -> {key, enabled, profile, isDefault, epsilon, onFailure}
  SET_SITE: 'setSite', // {key, enabled, profile?} -> siteState
  STATUS: 'status', // {} -> the native host's status reply, or {reachable: false, code, message}
  RECENT: 'recent', // {} -> the last results [{name, site, receipt, at}]
  PROTECT: 'protect', // {name, mime, data (base64), site, requestId} -> {name, mime, data, sha256, receipt}
  CANCEL: 'cancel', // {requestId} -> null
  SETTINGS: 'settings', // {} -> the settings, defaults filled in
  SAVE_SETTINGS: 'saveSettings', // {epsilon?, onFailure?, profiles?} -> settings
});

export const PHOTO_PORT = 'imageprotector-photos';

/** The native host's name (native_host/install.py HOST_NAME). */
export const HOST_NAME = 'org.imageprotector.native_host';

/** Codes the extension adds to the host's own (README, "Native messaging protocol"). */
export const EXTENSION_ERRORS = Object.freeze({
  host_unreachable: 'the native host is not installed or could not be started',
  host_disconnected: 'the native host stopped while a photo was in flight',
  bad_result: 'the photo that came back does not match its checksum',
  disabled: 'protection is off for this site',
});
