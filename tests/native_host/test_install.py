"""`install-host` writes each browser's manifest where the browser looks, `doctor` checks the
chain it makes, and `--uninstall` leaves nothing behind."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from companion import cli
from native_host.install import BROWSERS, HOST_NAME, apply, callers_for, plan, remove
from native_host.origins import CHROMIUM_ID, FIREFOX_ID
from tests.server.conftest import RealServer, private_config

LINUX = {
    "chrome": ".config/google-chrome/NativeMessagingHosts",
    "chromium": ".config/chromium/NativeMessagingHosts",
    "edge": ".config/microsoft-edge/NativeMessagingHosts",
    "brave": ".config/BraveSoftware/Brave-Browser/NativeMessagingHosts",
    "vivaldi": ".config/vivaldi/NativeMessagingHosts",
    "firefox": ".mozilla/native-messaging-hosts",
}
MACOS = {
    "chrome": "Library/Application Support/Google/Chrome/NativeMessagingHosts",
    "chromium": "Library/Application Support/Chromium/NativeMessagingHosts",
    "edge": "Library/Application Support/Microsoft Edge/NativeMessagingHosts",
    "brave": "Library/Application Support/BraveSoftware/Brave-Browser/NativeMessagingHosts",
    "vivaldi": "Library/Application Support/Vivaldi/NativeMessagingHosts",
    "firefox": "Library/Application Support/Mozilla/NativeMessagingHosts",
}


@pytest.fixture(autouse=True)
def _private_config(tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGEPROTECTOR_LOG_DIR", str(tmp_path / "logs"))
    yield from private_config(tmp_path / "config", monkeypatch)


@pytest.mark.parametrize("platform, table", [("linux", LINUX), ("darwin", MACOS)])
def test_each_browser_gets_its_manifest_where_it_looks(platform, table, tmp_path):
    home = tmp_path / "home"
    install = plan(list(BROWSERS), platform, callers_for(None), home=home, data_dir=tmp_path / "data")
    for browser, folder in table.items():
        path = home / folder / f"{HOST_NAME}.json"
        manifest = json.loads(install.files[path][0])
        assert manifest["name"] == HOST_NAME and manifest["type"] == "stdio"
        assert manifest["path"] == str(tmp_path / "data" / "imageprotector-native-host")
        if browser == "firefox":
            assert manifest["allowed_extensions"] == [FIREFOX_ID] and "allowed_origins" not in manifest
        else:
            assert manifest["allowed_origins"] == [f"chrome-extension://{CHROMIUM_ID}/"]
    launcher = install.files[tmp_path / "data" / "imageprotector-native-host"]
    assert launcher[1] == 0o755 and f'"{sys.executable}" -m native_host.main' in launcher[0]


def test_system_wide_install_uses_the_documented_folders_and_refuses_where_there_is_none(tmp_path):
    install = plan(["chrome", "firefox"], "linux", callers_for(None), system=True, data_dir=tmp_path)
    assert Path("/etc/opt/chrome/native-messaging-hosts") / f"{HOST_NAME}.json" in install.files
    assert Path("/usr/lib/mozilla/native-messaging-hosts") / f"{HOST_NAME}.json" in install.files
    from companion.engine.errors import ProtectError

    with pytest.raises(ProtectError):
        plan(["brave"], "darwin", callers_for(None), system=True, data_dir=tmp_path)


def test_windows_writes_registry_keys_under_hkcu_and_a_bat_launcher(tmp_path, monkeypatch):
    written, deleted = {}, []

    class Key:
        def __init__(self, path):
            self.path = path

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    fake = types.SimpleNamespace(
        HKEY_CURRENT_USER="HKCU", HKEY_LOCAL_MACHINE="HKLM", REG_SZ=1,
        CreateKey=lambda hive, path: Key(f"{hive}\\{path}"),
        SetValueEx=lambda key, name, reserved, kind, value: written.__setitem__(key.path, value),
        DeleteKey=lambda hive, path: deleted.append(f"{hive}\\{path}"),
    )
    monkeypatch.setitem(sys.modules, "winreg", fake)
    install = plan(["chrome", "edge", "firefox"], "win32", callers_for(["abcdefghijklmnopabcdefghijklmnop"]),
                   data_dir=tmp_path)
    apply(install)
    assert written == {
        f"HKCU\\Software\\Google\\Chrome\\NativeMessagingHosts\\{HOST_NAME}": str(tmp_path / f"{HOST_NAME}.chrome.json"),
        f"HKCU\\Software\\Microsoft\\Edge\\NativeMessagingHosts\\{HOST_NAME}": str(tmp_path / f"{HOST_NAME}.edge.json"),
        f"HKCU\\Software\\Mozilla\\NativeMessagingHosts\\{HOST_NAME}": str(tmp_path / f"{HOST_NAME}.firefox.json"),
    }
    bat = (tmp_path / "imageprotector-native-host.bat").read_bytes()
    assert bat.startswith(b"@echo off\r\n") and b"-m native_host.main %*" in bat
    chrome = json.loads((tmp_path / f"{HOST_NAME}.chrome.json").read_text())
    assert chrome["allowed_origins"] == ["chrome-extension://abcdefghijklmnopabcdefghijklmnop/"]
    remove(install)
    assert sorted(deleted) == sorted(written) and not list(tmp_path.iterdir())


def test_dry_run_prints_every_file_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cli.main(["install-host", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(BROWSERS) + 2 and all(line.startswith("would write file ") for line in out)
    assert not (tmp_path / "home").exists() and not (tmp_path / "config").exists()


def test_install_into_a_profile_then_doctor_passes_then_uninstall_leaves_nothing(tmp_path, capsys):
    server = RealServer(tmp_path / "config")
    try:
        (tmp_path / "config" / "config.json").write_text(json.dumps({"port": server.port}))
        profile = tmp_path / "profile"
        assert cli.main(["install-host", "--user-data-dir", str(profile), "--browser", "chromium"]) == 0
        manifest = profile / "NativeMessagingHosts" / f"{HOST_NAME}.json"
        assert json.loads(manifest.read_text())["allowed_origins"] == [f"chrome-extension://{CHROMIUM_ID}/"]
        capsys.readouterr()
        code = cli.main(["doctor", "--user-data-dir", str(profile), "--json"])
        report = json.loads(capsys.readouterr().out)
        assert code == 0 and report["ok"], report
        names = [c["name"] for c in report["checks"]]
        assert names == ["manifest (profile)", "host answers ping", "token", "companion", "model", "one attack step"]
    finally:
        server.stop()
    before = {p for p in (tmp_path / "config").iterdir()}
    assert cli.main(["install-host", "--user-data-dir", str(profile), "--browser", "chromium", "--uninstall"]) == 0
    assert not manifest.exists() and not list((profile / "NativeMessagingHosts").iterdir())
    left = {p.name for p in (tmp_path / "config").iterdir()}
    assert "imageprotector-native-host" not in left and "native-host.json" not in left
    assert before - {p for p in (tmp_path / "config").iterdir()}


def test_doctor_says_what_to_do_when_nothing_is_installed(tmp_path, capsys):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.json").write_text(json.dumps({"port": 1, "autostart": False}))
    code = cli.main(["doctor", "--user-data-dir", str(tmp_path / "empty-profile")])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL  browser manifests" in out and "imageprotector install-host" in out
    assert "FAIL  companion" in out and "imageprotector serve" in out
