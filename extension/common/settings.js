/**
 * The user's settings, in storage.sync (they follow the user's browser profile; nothing in
 * them is secret), with their defaults.
 */

import { DEFAULT_SITES, PROFILES } from './sites.js';

/**
 * Strength presets: epsilon (/255) and what it costs in picture quality, as measured with
 * the demo model on 8 photos (`python benchmarks/protect_photos.py --epsilon E --quick`,
 * README "Strength"). The attack stops once the model refuses, so a preset is a ceiling.
 */
export const STRENGTHS = Object.freeze([
  { epsilon: 4, label: 'Light', cost: 'PSNR 38-45 dB; weaker: the demo model refused 85% of test questions' },
  { epsilon: 8, label: 'Standard', cost: 'PSNR 36-44 dB: invisible at normal viewing size; refused 100%' },
  { epsilon: 16, label: 'Strong', cost: 'PSNR 35 dB and up where 8 would do; down to 24 dB where a model takes it all' },
]);

export const FAILURE_POLICIES = Object.freeze({
  hold: 'Hold the upload and ask me (default)',
  warn: 'Upload the original and warn me',
});

export const DEFAULTS = Object.freeze({
  epsilon: 8,
  onFailure: 'hold',
  /** site key -> {enabled: bool, profile: string}; missing keys take the defaults */
  sites: {},
});

/** The settings with defaults filled in. */
export async function loadSettings(storage = chrome.storage.sync) {
  const stored = await storage.get(Object.keys(DEFAULTS));
  return { ...DEFAULTS, ...stored, sites: { ...(stored.sites ?? {}) } };
}

/** Validate and store a change to the top-level settings; returns the new settings. */
export async function saveSettings(change, storage = chrome.storage.sync) {
  const update = {};
  if (change.epsilon !== undefined) {
    if (!STRENGTHS.some((s) => s.epsilon === change.epsilon)) throw new SettingsError(`no strength ${change.epsilon}`);
    update.epsilon = change.epsilon;
  }
  if (change.onFailure !== undefined) {
    if (!(change.onFailure in FAILURE_POLICIES)) throw new SettingsError(`no failure policy ${change.onFailure}`);
    update.onFailure = change.onFailure;
  }
  await storage.set(update);
  return loadSettings(storage);
}

/** What the settings say about one site key (see sites.js siteKey). */
export function siteState(settings, key) {
  const isDefault = key in DEFAULT_SITES;
  const own = settings.sites[key] ?? {};
  return {
    key,
    isDefault,
    enabled: own.enabled ?? isDefault,
    profile: own.profile ?? (isDefault ? DEFAULT_SITES[key] : 'generic'),
    epsilon: settings.epsilon,
    onFailure: settings.onFailure,
  };
}

/** Store a site's switch and (optionally) its profile. */
export async function saveSite(key, { enabled, profile }, storage = chrome.storage.sync) {
  if (profile !== undefined && !PROFILES.includes(profile)) throw new SettingsError(`no site profile ${profile}`);
  const settings = await loadSettings(storage);
  const own = { ...(settings.sites[key] ?? {}) };
  if (enabled !== undefined) own.enabled = Boolean(enabled);
  if (profile !== undefined) own.profile = profile;
  settings.sites[key] = own;
  await storage.set({ sites: settings.sites });
  return siteState(settings, key);
}

/** The site keys that are on: the defaults not switched off, and the added ones switched on. */
export function enabledSites(settings) {
  const keys = new Set([...Object.keys(DEFAULT_SITES), ...Object.keys(settings.sites)]);
  return [...keys].filter((key) => siteState(settings, key).enabled);
}

export class SettingsError extends Error {
  constructor(message) {
    super(message);
    this.code = 'bad_option';
  }
}

