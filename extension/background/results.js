/**
 * What the extension has protected: the sha256 of every photo it received (so that a page
 * handing back one of them, for example by reading an input twice, does not get it protected
 * again), and the last few results with their receipts for the popup.
 *
 * Kept in storage.session: it outlives a suspended service worker, never reaches the disk,
 * and is gone when the browser closes.
 */

const KNOWN_KEY = 'knownResults';
const RECENT_KEY = 'recentResults';
const KEEP_KNOWN = 500;
const KEEP_RECENT = 8;

export class Results {
  constructor(storage = chrome.storage.session) {
    this.storage = storage;
  }

  async isKnown(sha256) {
    const { [KNOWN_KEY]: known = [] } = await this.storage.get(KNOWN_KEY);
    return known.includes(sha256);
  }

  async add({ sha256, name, site, receipt, tabUrl }) {
    const { [KNOWN_KEY]: known = [], [RECENT_KEY]: recent = [] } = await this.storage.get([KNOWN_KEY, RECENT_KEY]);
    const entry = { name, site, receipt, page: tabUrl ? new URL(tabUrl).hostname : null, at: Date.now() };
    await this.storage.set({
      [KNOWN_KEY]: [...known, sha256].slice(-KEEP_KNOWN),
      [RECENT_KEY]: [entry, ...recent].slice(0, KEEP_RECENT),
    });
  }

  async recent() {
    const { [RECENT_KEY]: recent = [] } = await this.storage.get(RECENT_KEY);
    return recent;
  }
}
