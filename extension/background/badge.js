/** The toolbar badge: how many photos are being protected in each tab. */

export class Badge {
  constructor(action = chrome.action) {
    this.action = action;
    this.counts = new Map(); // tabId -> photos in flight
  }

  start(tabId) {
    this.set(tabId, (this.counts.get(tabId) ?? 0) + 1);
  }

  end(tabId) {
    this.set(tabId, Math.max(0, (this.counts.get(tabId) ?? 1) - 1));
  }

  set(tabId, count) {
    if (tabId === undefined) return;
    if (count) this.counts.set(tabId, count);
    else this.counts.delete(tabId);
    const text = count ? String(count) : '';
    this.action.setBadgeBackgroundColor?.({ tabId, color: '#1a73e8' }).catch(() => {});
    this.action.setBadgeText({ tabId, text }).catch(() => {}); // the tab may have closed
    this.action.setTitle({ tabId, title: count ? `ImageProtector: protecting ${count} photo(s)` : 'ImageProtector' })
      .catch(() => {});
  }
}
