"""The extension in Debian's chromium, on a default site reached as https://www.instagram.com
(the name the extension protects out of the box): each way a page takes a photo hands the
site the companion's protected photo, and nothing else is touched."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from native_host.origins import CHROMIUM_ID
from tests.conftest import encode, natural_photo
from tests.extension.conftest import DEFAULT_HOST, screenshot_dir
from tests.server.conftest import free_port

SITE = f"https://{DEFAULT_HOST}/"
EXT = f"chrome-extension://{CHROMIUM_ID}"


def photo_file(tmp_path, name: str = "me.jpg", size=(96, 72), scene: str = "astronaut") -> tuple:
    data = encode(natural_photo(scene, size), "JPEG", quality=92)
    path = tmp_path / name
    path.write_bytes(data)
    return path, data


def results_sent(browser) -> list[str]:
    """The sha256 of each photo the native host sent back, from its own log."""
    return re.findall(r"sha256 ([0-9a-f]{64})\)", browser.host_log())


def open_site(browser, url: str = SITE) -> None:
    browser.run("await ctx.page.goto(args.url); await ctx.page.waitForLoadState('load');", url=url)


def assert_protected(browser, received: dict, original: bytes) -> None:
    data = received["data"]
    assert data != original
    assert hashlib.sha256(data).hexdigest() in results_sent(browser)
    assert data[:3] == b"\xff\xd8\xff"  # still a JPEG, as the original


def pick_with_chooser(browser, selector: str, path) -> None:
    """Click what opens a file chooser, and choose `path` in it (as the user would)."""
    browser.run("""
        const [chooser] = await Promise.all([ctx.page.waitForEvent('filechooser'), ctx.page.click(args.selector)]);
        await chooser.setFiles(args.path);
    """, selector=selector, path=str(path))


def dispatch_with_files(browser, kind: str, selector: str, name: str, data: bytes, mime: str = "image/jpeg") -> None:
    """A drop or a paste carrying one file, dispatched on `selector` in the page."""
    browser.run("""
        await ctx.page.evaluate(({ kind, selector, name, b64, mime }) => {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const transfer = new DataTransfer();
          transfer.items.add(new File([bytes], name, { type: mime }));
          const init = { bubbles: true, cancelable: true };
          const event = kind === 'drop' ? new DragEvent('drop', { ...init, dataTransfer: transfer })
            : new ClipboardEvent('paste', { ...init, clipboardData: transfer });
          if (kind === 'paste' && !event.clipboardData?.files.length) {
            Object.defineProperty(event, 'clipboardData', { value: transfer }); // Firefox: see content/paste.js
          }
          document.querySelector(selector).dispatchEvent(event);
        }, args);
    """, kind=kind, selector=selector, name=name, b64=base64.b64encode(data).decode(), mime=mime)


def open_extension_page(browser, path: str) -> None:
    """Open one of the extension's pages in a tab of its own as ctx.ext (the popup with
    ?tab= for the site's tab, which is how a test reaches what the toolbar button shows)."""
    browser.run("""
        if (args.popup) {
          const [tab] = await ctx.worker.evaluate((url) => chrome.tabs.query({ url }), args.match);
          args.url += `?tab=${tab.id}`;
        }
        ctx.ext = await ctx.context.newPage();
        if (args.popup) await ctx.ext.setViewportSize({ width: 320, height: 420 });
        await ctx.ext.goto(args.url);
        await ctx.ext.waitForSelector('body[data-ready=true]');
    """, url=f"{EXT}/{path}", popup=path.startswith("popup"), match=f"https://{DEFAULT_HOST}/*")


def overlay_card(browser, state: str | None = None, timeout: float = 120) -> dict:
    """The overlay's last card once it reaches `state`: {state, text}."""
    return browser.run("""
        const selector = args.state ? `imageprotector-overlay .card[data-state="${args.state}"]`
          : 'imageprotector-overlay .card';
        const card = ctx.page.locator(selector).last();
        await card.waitFor({ timeout: args.timeout * 1000 });
        return { state: await card.getAttribute('data-state'), text: await card.innerText() };
    """, state=state, timeout=timeout, timeout_=timeout + 10)


# -- each interception path ----------------------------------------------------------------
def test_a_picked_photo_reaches_the_site_protected_with_its_name(chromium, site, tmp_path):
    path, data = photo_file(tmp_path)
    open_site(chromium)
    chromium.run("await ctx.page.setInputFiles('#picker', args.path);", path=str(path))
    [received] = site.wait_upload("picker")["files"]
    assert_protected(chromium, received, data)
    assert received["name"] == "me.jpg"
    card = overlay_card(chromium, "done")
    assert "Protected: refused" in card["text"] and "PSNR" in card["text"], card


@pytest.mark.parametrize("opener, path", [("#detached", "detached"), ("shadow-picker button", "shadow")])
def test_an_input_never_attached_or_inside_an_open_shadow_root_is_protected(chromium, site, tmp_path, opener, path):
    """Both picked through the file chooser their button opens, as a user does."""
    photo, data = photo_file(tmp_path, f"{path}.jpg")
    open_site(chromium)
    pick_with_chooser(chromium, opener, photo)
    [received] = site.wait_upload(path)["files"]
    assert_protected(chromium, received, data)


@pytest.mark.parametrize("kind, selector", [("drop", "#drop"), ("paste", "#paste")])
def test_a_dropped_or_pasted_photo_is_protected(chromium, site, tmp_path, kind, selector):
    _, data = photo_file(tmp_path)
    open_site(chromium)
    dispatch_with_files(chromium, kind, selector, f"{kind}.jpg", data)
    [received] = site.wait_upload(kind)["files"]
    assert_protected(chromium, received, data)


def test_a_photo_the_page_uploads_with_fetch_is_protected_by_the_fallback_hook(chromium, site, tmp_path):
    _, data = photo_file(tmp_path)
    site.original = data
    open_site(chromium)
    chromium.run("await ctx.page.click('#fetch');")
    [received] = site.wait_upload("fetch")["files"]
    assert_protected(chromium, received, data)


def test_several_photos_at_once_are_protected_together_and_shown_in_one_card(chromium, site, tmp_path):
    first, first_data = photo_file(tmp_path, "one.jpg")
    second, second_data = photo_file(tmp_path, "two.jpg", scene="chelsea")
    open_site(chromium)
    chromium.run("await ctx.page.setInputFiles('#picker', args.paths);", paths=[str(first), str(second)])
    files = site.wait_upload("picker")["files"]
    assert [f["name"] for f in files] == ["one.jpg", "two.jpg"]
    assert_protected(chromium, files[0], first_data)
    assert_protected(chromium, files[1], second_data)
    card = overlay_card(chromium, "done")
    assert "2 photos protected" in card["text"] and card["text"].count("Protected: refused") == 2, card
    assert chromium.run("return await ctx.page.locator('imageprotector-overlay .card').count();") == 1


def test_other_files_pass_unchanged_beside_a_protected_photo(chromium, site, tmp_path):
    path, data = photo_file(tmp_path)
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"not a photo\n")
    icon = tmp_path / "logo.svg"
    icon.write_bytes(b'<svg xmlns="http://www.w3.org/2000/svg"/>')
    open_site(chromium)
    chromium.run("await ctx.page.setInputFiles('#picker', args.paths);", paths=[str(notes), str(path), str(icon)])
    files = site.wait_upload("picker")["files"]
    assert [f["name"] for f in files] == ["notes.txt", "me.jpg", "logo.svg"]
    assert files[0]["data"] == b"not a photo\n" and files[2]["data"] == icon.read_bytes()
    assert_protected(chromium, files[1], data)


def test_a_photo_it_just_protected_passes_through_rather_than_being_protected_again(chromium, site, tmp_path):
    path, data = photo_file(tmp_path)
    open_site(chromium)
    chromium.run("await ctx.page.setInputFiles('#picker', args.path);", path=str(path))
    [first] = site.wait_upload("picker")["files"]
    # the page hands the protected photo back in (here: as the file it imports with fetch)
    site.original = first["data"]
    before = len(site.uploads)
    chromium.run("await ctx.page.click('#fetch');")
    [again] = site.wait_upload("fetch", after=before)["files"]
    assert again["data"] == first["data"]
    assert len(results_sent(chromium)) == 1  # the companion was asked once


# -- switches and failures -------------------------------------------------------------------
def test_with_the_site_switched_off_in_the_popup_the_original_passes_untouched(chromium, site, tmp_path):
    path, data = photo_file(tmp_path)
    open_site(chromium)
    chromium.run("await ctx.page.setInputFiles('#picker', args.path);", path=str(path))
    site.wait_upload("picker")  # one result for the popup's list
    open_extension_page(chromium, "popup/popup.html")
    status = chromium.run("""
        await ctx.ext.waitForSelector('#companion-status .ok, #companion-status .bad');
        return await ctx.ext.innerText('body');
    """)
    assert "instagram.com" in status and "Protected (instagram profile)" in status and "Running on cpu" in status
    assert "Model: demo" in status
    assert re.search(r"me\.jpg\s+www\.instagram\.com: refused 100%, PSNR \d+\.\d dB", status), status
    site.uploads.clear()
    chromium.run("await ctx.ext.screenshot({ path: args.path });", path=str(screenshot_dir() / "popup.png"))
    chromium.run("""
        await ctx.ext.click('#site-toggle');
        await ctx.ext.waitForFunction(() => document.getElementById('site-detail').textContent === 'Not protected');
    """)
    chromium.run("await ctx.page.bringToFront(); await ctx.page.setInputFiles('#picker', args.path);", path=str(path))
    [received] = site.wait_upload("picker")["files"]
    assert received["data"] == data
    assert len(results_sent(chromium)) == 1  # only the photo before the switch
    # and on again: protected once more
    chromium.run("""
        await ctx.ext.click('#site-toggle');
        await ctx.ext.waitForFunction(() => document.getElementById('site-detail').textContent.startsWith('Protected'));
    """)
    before = len(site.uploads)
    open_site(chromium)
    chromium.run("await ctx.page.setInputFiles('#picker', args.path);", path=str(path))
    [again] = site.wait_upload("picker", after=before)["files"]
    assert_protected(chromium, again, data)


def test_companion_stopped_holds_the_upload_until_the_user_sends_the_original(chromium_for, site, tmp_path):
    browser = chromium_for(free_port(), autostart=False)  # nothing listens there; no auto-start
    path, data = photo_file(tmp_path)
    open_site(browser)
    browser.run("await ctx.page.setInputFiles('#picker', args.path);", path=str(path))
    card = overlay_card(browser, "held")
    assert "Upload held" in card["text"] and "companion is not running" in card["text"], card
    assert "Upload original anyway" in card["text"]
    assert not [u for u in site.uploads if u["path"] == "picker"]  # nothing went up
    browser.run("await ctx.page.screenshot({ path: args.path });", path=str(screenshot_dir() / "overlay-failed.png"))
    browser.run("await ctx.page.click('imageprotector-overlay button[data-choice=original]');")
    [received] = site.wait_upload("picker")["files"]
    assert received["data"] == data


def test_the_warn_policy_chosen_in_the_options_uploads_the_original_and_says_so(chromium_for, site, tmp_path):
    browser = chromium_for(free_port(), autostart=False)
    path, data = photo_file(tmp_path)
    open_site(browser)
    open_extension_page(browser, "options/options.html")
    browser.run("await ctx.ext.check('input[name=policy][value=warn]'); await ctx.ext.waitForSelector('#saved:text(\"Saved\")');")
    browser.run("await ctx.page.bringToFront(); await ctx.page.setInputFiles('#picker', args.path);", path=str(path))
    [received] = site.wait_upload("picker")["files"]
    assert received["data"] == data
    card = overlay_card(browser, "warned")
    assert "Uploaded without protection" in card["text"], card


def test_a_12_mp_photo_comes_through_in_chunks_while_the_page_stays_responsive(chromium, site, tmp_path):
    """With the generic profile (picked in the options page) the photo keeps its 12 MP, so
    the host's reply comes in many chunks."""
    path, data = photo_file(tmp_path, "big.jpg", (4000, 3000), scene="coffee")
    open_site(chromium)
    open_extension_page(chromium, "options/options.html")
    chromium.run("""
        await ctx.ext.selectOption('tr[data-site="instagram.com"] select', 'generic');
        await ctx.ext.waitForSelector('#saved:text("Saved")');
        await ctx.ext.screenshot({ path: args.path, fullPage: true });
    """, path=str(screenshot_dir() / "options.png"))
    chromium.run("await ctx.page.bringToFront(); await ctx.page.setInputFiles('#picker', args.path);", path=str(path))
    overlay_card(chromium, "working")
    typed = chromium.run("""
        await ctx.page.locator('imageprotector-overlay .status', { hasText: /[1-9]\d*%/ }).first()
          .waitFor({ timeout: 120000 });
        await ctx.page.screenshot({ path: args.shot });
        const started = Date.now();
        await ctx.page.click('#typing');
        await ctx.page.keyboard.type('still typing while it works');
        const state = await ctx.page.locator('imageprotector-overlay .card').last().getAttribute('data-state');
        return { value: await ctx.page.inputValue('#typing'), ms: Date.now() - started, state };
    """, shot=str(screenshot_dir() / "overlay-progress.png"))
    assert typed["value"] == "still typing while it works"
    assert typed["state"] == "working"  # the typing happened while the photo was being protected
    badge = chromium.run("""
        const [tab] = await ctx.worker.evaluate((url) => chrome.tabs.query({ url }), args.match);
        return await ctx.worker.evaluate((id) => chrome.action.getBadgeText({ tabId: id }), tab.id);
    """, match=f"https://{DEFAULT_HOST}/*")
    assert badge == "1"  # the toolbar shows the photo in progress
    [received] = site.wait_upload("picker", timeout=600)["files"]
    assert_protected(chromium, received, data)
    assert re.search(r"\(\d+ bytes in (\d+) chunks", chromium.host_log()).group(1) not in ("0", "1")
    overlay_card(chromium, "done")
    chromium.run("await ctx.page.screenshot({ path: args.path });", path=str(screenshot_dir() / "overlay-done.png"))


def test_after_the_service_worker_was_stopped_the_next_photo_still_gets_through(chromium, site, tmp_path):
    """The browser stops an idle service worker (30 s in Chromium); here it is stopped at
    once. The page's port and the native host's port die with it; the next photo wakes a
    new worker, which connects to the host again."""
    path, data = photo_file(tmp_path)
    open_site(chromium)
    chromium.run("await ctx.page.setInputFiles('#picker', args.path);", path=str(path))
    site.wait_upload("picker")
    chromium.run("""
        ctx.cdp = await ctx.context.newCDPSession(ctx.page);
        ctx.statuses = [];
        const stopped = new Promise((resolve) => {
          ctx.cdp.on('ServiceWorker.workerVersionUpdated', ({ versions }) => {
            for (const v of versions) {
              ctx.statuses.push(v.runningStatus);
              if (v.runningStatus === 'stopped') resolve();
            }
          });
        });
        await ctx.cdp.send('ServiceWorker.enable');
        await ctx.cdp.send('ServiceWorker.stopAllWorkers');
        await stopped;
    """)
    before = len(site.uploads)
    other, other_data = photo_file(tmp_path, "second.jpg", scene="chelsea")
    chromium.run("await ctx.page.setInputFiles('#picker', args.path);", path=str(other))
    [received] = site.wait_upload("picker", after=before)["files"]
    assert_protected(chromium, received, other_data)
    assert len(results_sent(chromium)) == 2
    statuses = chromium.run("return ctx.statuses;")
    assert statuses[statuses.index("stopped"):].count("running") >= 1  # a new worker did the second photo
