"""The same extension in Debian's firefox-esr, driven over WebDriver BiDi: picked, dropped
and pasted photos reach the site protected, through the same native host and companion.

Not automated in Firefox: the popup and the options page. WebDriver BiDi in firefox-esr
153 refuses to navigate to moz-extension:// pages and does not list tabs the extension
opens, so they are tested in Chromium only.
"""

from __future__ import annotations

import pytest

from tests.extension.conftest import DEFAULT_HOST
from tests.extension.test_chromium import assert_protected, dispatch_with_files, photo_file


def goto(browser, url: str) -> None:
    browser.run("await ctx.page.goto(args.url, { waitUntil: 'load' });", url=url)


def test_a_picked_photo_reaches_the_site_protected_in_firefox(firefox, site, tmp_path):
    path, data = photo_file(tmp_path)
    goto(firefox, f"https://{DEFAULT_HOST}:{firefox.port}/")
    firefox.run("const input = await ctx.page.$('#picker'); await input.uploadFile(args.path);", path=str(path))
    [received] = site.wait_upload("picker")["files"]
    assert_protected(firefox, received, data)


@pytest.mark.parametrize("kind, selector", [("drop", "#drop"), ("paste", "#paste")])
def test_a_dropped_or_pasted_photo_is_protected_in_firefox(firefox, site, tmp_path, kind, selector):
    _, data = photo_file(tmp_path)
    goto(firefox, f"https://{DEFAULT_HOST}:{firefox.port}/")
    dispatch_with_files(firefox, kind, selector, f"{kind}.jpg", data)
    [received] = site.wait_upload(kind)["files"]
    assert_protected(firefox, received, data)
