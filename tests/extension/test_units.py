"""The extension's own modules under Node's test runner (tests/extension/js), and the
manifest checked against what the rest of the project expects of it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

from native_host.install import HOST_NAME
from native_host.origins import CHROMIUM_ID, FIREFOX_ID, extension_id
from tests.extension.conftest import EXTENSION, HERE, _require

MANIFEST = json.loads((EXTENSION / "manifest.json").read_text())


def test_the_extensions_modules_pass_their_node_tests():
    _require(shutil.which("node") is not None, "node")
    run = subprocess.run(["node", "--test", str(HERE / "js")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert re.search(r"^# pass [1-9]", run.stdout, re.M) and re.search(r"^# fail 0$", run.stdout, re.M)


def test_the_pinned_key_gives_the_id_install_host_allows_and_firefox_has_its_gecko_id():
    assert extension_id(MANIFEST["key"]) == CHROMIUM_ID
    assert MANIFEST["browser_specific_settings"]["gecko"]["id"] == FIREFOX_ID
    # one manifest for both: Chromium runs the service worker, Firefox the same file as a background script
    assert MANIFEST["background"]["scripts"] == [MANIFEST["background"]["service_worker"]]
    assert MANIFEST["manifest_version"] == 3


def test_the_manifest_names_the_host_and_files_that_exist():
    messages = (EXTENSION / "common" / "messages.js").read_text()
    assert f"HOST_NAME = '{HOST_NAME}'" in messages
    files = [MANIFEST["background"]["service_worker"], MANIFEST["action"]["default_popup"],
             MANIFEST["options_ui"]["page"], *MANIFEST["icons"].values()]
    files += [f for entry in MANIFEST["content_scripts"] for f in entry["js"]]
    files += [f for entry in MANIFEST["web_accessible_resources"] for f in entry["resources"]]
    assert [f for f in files if not (EXTENSION / f).is_file()] == []


def test_every_default_site_has_its_host_permissions_and_content_scripts():
    sites = dict(re.findall(r"'([a-z.]+)': '([a-z_]+)'", (EXTENSION / "common" / "sites.js").read_text()))
    assert len(sites) == 8 and sites["instagram.com"] == "instagram"
    for host in sites:
        for pattern in (f"https://{host}/*", f"https://*.{host}/*"):
            assert pattern in MANIFEST["host_permissions"]
            assert all(pattern in entry["matches"] for entry in MANIFEST["content_scripts"])
    assert "https://*/*" in MANIFEST["optional_host_permissions"]


def test_every_action_the_pages_and_content_scripts_send_has_a_handler():
    actions = dict(re.findall(r"(\w+): '(\w+)'", (EXTENSION / "common" / "messages.js").read_text().split("ACTIONS")[1]
                              .split("});")[0]))
    handlers = (EXTENSION / "background" / "handlers.js").read_text()
    assert actions and all(f"[ACTIONS.{name}]" in handlers for name in actions)
    used = set()
    for path in [*EXTENSION.glob("popup/*.js"), *EXTENSION.glob("options/*.js"), *EXTENSION.glob("content/*.js")]:
        used |= set(re.findall(r"ACTIONS\.(\w+)", path.read_text()))
    assert used and used <= set(actions)
