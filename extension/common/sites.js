/**
 * The sites protected out of the box, and the companion's site profile for each.
 *
 * A profile (`--site` on the command line) tells the companion how the site re-encodes an
 * upload, so that the perturbation is made to survive exactly that. Every other site the
 * user turns on gets `generic` unless they pick a profile in the options page.
 */

/** host (and its subdomains) -> site profile */
export const DEFAULT_SITES = Object.freeze({
  'instagram.com': 'instagram',
  'facebook.com': 'facebook',
  'x.com': 'x',
  'twitter.com': 'x',
  'reddit.com': 'reddit',
  'linkedin.com': 'linkedin',
  'bsky.app': 'bluesky',
  'mastodon.social': 'mastodon',
});

/** The profiles the companion knows (companion/engine/sites.py). */
export const PROFILES = Object.freeze(
  ['generic', 'instagram', 'facebook', 'x', 'reddit', 'linkedin', 'mastodon', 'bluesky']);

/** The match patterns for a host and its subdomains. */
export function matchPatterns(host) {
  return [`https://${host}/*`, `https://*.${host}/*`];
}

/** The default site a hostname belongs to ('www.instagram.com' -> 'instagram.com'), or null. */
export function defaultSiteOf(hostname) {
  const name = hostname.toLowerCase();
  for (const host of Object.keys(DEFAULT_SITES)) {
    if (name === host || name.endsWith(`.${host}`)) return host;
  }
  return null;
}

/**
 * The key a page's settings are stored under: its default site, or else its origin
 * ('https://social.example:8443'), since an added site's permission is per origin.
 */
export function siteKey(url) {
  const parsed = new URL(url);
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return null;
  return defaultSiteOf(parsed.hostname) ?? parsed.origin;
}
