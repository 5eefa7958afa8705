"""A watched folder: where it is, where its protected photos go, and how."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from companion.engine.errors import ProtectError

#: the output folder inside a watched folder, unless --out-dir says otherwise
DEFAULT_OUT = "protected"


@dataclass(frozen=True)
class Folder:
    path: Path
    out_dir: Path
    recursive: bool = False
    site: str | None = None

    @classmethod
    def make(cls, path: str | Path, out_dir: str | Path | None = None, recursive: bool = False,
             site: str | None = None) -> "Folder":
        """A folder from the command line or the config file, checked: it must exist, and the
        output folder must not be the watched folder itself."""
        folder = Path(path).expanduser().resolve()
        if not folder.is_dir():
            raise ProtectError("watch", f"{folder} is not a folder")
        out = Path(out_dir).expanduser().resolve() if out_dir else folder / DEFAULT_OUT
        if out == folder:
            raise ProtectError("watch", f"the output folder cannot be the watched folder itself ({folder})")
        if site is not None:
            from companion.engine.sites import get_site

            get_site(site)  # a ProtectError listing the known ones
        return cls(folder, out, recursive, site)

    def owns(self, path: Path) -> bool:
        """Whether `path` is this folder's to take: inside it (directly, or below with
        `recursive`), and not in its output folder."""
        try:
            relative = path.relative_to(self.path)
        except ValueError:
            return False
        if path == self.out_dir or self.out_dir in path.parents:
            return False
        return self.recursive or len(relative.parts) == 1
