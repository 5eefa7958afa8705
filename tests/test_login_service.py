"""`install-service`: the unit, agent or task each platform gets, the commands that start
it, and an uninstall that leaves nothing behind."""

from __future__ import annotations

import plistlib
import shlex
import sys

import pytest

from companion import cli
from companion.login_service import AGENT, TASK, UNIT, apply, plan, remove

PY = "/opt/ip env/bin/python"  # a space: quoting matters


def exec_start(body: str) -> list[str]:
    line = next(l for l in body.splitlines() if l.startswith("ExecStart="))
    return shlex.split(line.removeprefix("ExecStart="))


def test_linux_gets_a_systemd_user_unit_that_serves_the_watched_folders(tmp_path):
    service = plan("linux", ["/home/me/To Post", "/home/me/100%"], python=PY, home=tmp_path)
    [(path, body)] = service.files.items()
    assert path == tmp_path / ".config/systemd/user" / UNIT
    assert exec_start(body) == [PY, "-m", "companion.cli", "serve", "--watch", "/home/me/To Post", "--watch",
                                "/home/me/100%%"]  # systemd reads %% as %
    assert "Restart=on-failure" in body and "WantedBy=default.target" in body
    assert service.start == [["systemctl", "--user", "daemon-reload"],
                             ["systemctl", "--user", "enable", "--now", UNIT]]
    assert service.stop == [["systemctl", "--user", "disable", "--now", UNIT]]


def test_macos_gets_a_launchd_agent_started_in_the_users_session(tmp_path):
    service = plan("darwin", ["/Users/me/Camera"], python=PY, home=tmp_path, uid=501)
    [(path, body)] = service.files.items()
    assert path == tmp_path / "Library/LaunchAgents" / f"{AGENT}.plist"
    agent = plistlib.loads(body.encode())
    assert agent["ProgramArguments"] == [PY, "-m", "companion.cli", "serve", "--watch", "/Users/me/Camera"]
    assert agent["RunAtLoad"] is True and agent["KeepAlive"] == {"SuccessfulExit": False}
    assert service.start == [["launchctl", "bootstrap", "gui/501", str(path)]]
    assert service.stop == [["launchctl", "bootout", f"gui/501/{AGENT}"]]
    assert service.folders == [tmp_path / "Library/Logs/imageprotector"]  # launchd does not make it


def test_windows_gets_a_task_at_logon_run_without_a_console():
    service = plan("win32", [r"C:\Users\me\To Post"], python=r"C:\Python312\python.exe")
    assert service.files == {}
    create = service.start[0]
    assert create[:9] == ["schtasks", "/Create", "/F", "/TN", TASK, "/SC", "ONLOGON", "/RL", "LIMITED"]
    assert create[10] == r'C:\Python312\pythonw.exe -m companion.cli serve --watch "C:\Users\me\To Post"'
    assert service.stop[-1] == ["schtasks", "/Delete", "/F", "/TN", TASK]


def test_install_writes_and_starts_then_uninstall_stops_and_removes_everything(tmp_path):
    ran: list[list[str]] = []
    service = plan("linux", [], python=PY, home=tmp_path)
    assert apply(service, run=lambda c: ran.append(c) or 0) == []
    [path] = service.files
    assert path.read_text().startswith("[Unit]") and ran == service.start
    ran.clear()
    assert remove(service, run=lambda c: ran.append(c) or 1) == [str(path)]  # a failed stop still removes
    assert not path.exists() and ran == service.stop + service.after_remove


def test_a_failing_start_command_is_reported(tmp_path):
    service = plan("linux", [], python=PY, home=tmp_path)
    assert apply(service, run=lambda c: 1 if "enable" in c else 0) == [
        f"systemctl --user enable --now {UNIT}"]


def test_dry_run_prints_every_file_and_command_and_changes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    folder = tmp_path / "to-post"
    folder.mkdir()
    assert cli.main(["install-service", "--dry-run", "--watch", str(folder)]) == 0
    platform = sys.platform if sys.platform in ("darwin", "win32") else "linux"
    expected = [f"would {line}" for line in plan(platform, [str(folder.resolve())]).describe()]
    assert capsys.readouterr().out.splitlines() == expected
    assert expected[-1].startswith("would start at login: ") and str(folder.resolve()) in expected[-1]
    assert not (tmp_path / ".config").exists() and not (tmp_path / "Library").exists()


def test_a_folder_that_does_not_exist_is_refused_before_anything_is_written(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cli.main(["install-service", "--watch", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert not (tmp_path / ".config").exists()


@pytest.mark.parametrize("arg", ["%h", "quote\"d"])
def test_odd_characters_survive_the_unit_file(tmp_path, arg):
    body = plan("linux", [f"/tmp/{arg}"], python=PY, home=tmp_path).files.popitem()[1]
    assert exec_start(body)[-1].replace("%%", "%") == f"/tmp/{arg}"
