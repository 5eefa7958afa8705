"""The watched folders as the command line and the config file give them."""

from __future__ import annotations

import pytest

from companion.engine.errors import ProtectError
from companion.server.config import ServerConfig
from watcher.folders import Folder
from watcher.run import folders_from, status_lines
from watcher.state import State


def test_the_config_files_watch_list_gives_folders_with_their_options(tmp_path):
    (tmp_path / "camera").mkdir()
    (tmp_path / "post").mkdir()
    config = ServerConfig(watch=[{"path": str(tmp_path / "camera"), "recursive": True, "out_dir": str(tmp_path / "out")},
                                 {"path": str(tmp_path / "post"), "site": "instagram"}])
    camera, post = folders_from(config, None)
    assert camera == Folder(tmp_path / "camera", tmp_path / "out", True, None)
    assert post == Folder(tmp_path / "post", tmp_path / "post" / "protected", False, "instagram")
    # folders on the command line replace the config's
    [only] = folders_from(config, [str(tmp_path / "post")], site="x")
    assert only.site == "x"


@pytest.mark.parametrize("entry, message", [
    ({"recursive": True}, "needs a 'path'"),
    ({"path": "PLACE", "colour": "red"}, "unknown settings in 'watch': colour"),
    ({"path": "PLACE", "site": "myspace"}, "myspace"),
    ({"path": "PLACE/missing"}, "is not a folder"),
    ({"path": "PLACE", "out_dir": "PLACE"}, "cannot be the watched folder"),
])
def test_a_bad_watch_entry_is_one_clear_error(tmp_path, entry, message):
    entry = {k: v.replace("PLACE", str(tmp_path)) if isinstance(v, str) else v for k, v in entry.items()}
    with pytest.raises(ProtectError, match=message):
        folders_from(ServerConfig(watch=[entry]), None)


def test_status_before_any_photo_says_so(tmp_path):
    state = State(tmp_path / "w.sqlite3")
    try:
        assert status_lines(state) == ["no photo seen yet"]
    finally:
        state.close()
