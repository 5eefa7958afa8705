"""Which files in a watched folder are the watcher's to take.

Browsers, cameras and sync tools write under a temporary name and rename when done; those
names are never taken (the file is taken under its final name, once it has stopped
changing). Hidden files are not the user's photos, and the watcher's own temporary files
are hidden.
"""

from __future__ import annotations

from pathlib import Path

#: endings of files still being written by a browser, a downloader or a sync tool
TEMPORARY_SUFFIXES = (".part", ".partial", ".crdownload", ".download", ".opdownload", ".tmp", ".temp", ".!sync",
                      ".filepart", ".sb-")
#: the photos the companion reads (it checks the content itself; the name only sorts out the rest)
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".heif", ".avif")
#: the watcher's own temporary files (hidden, so never taken either)
OWN_TEMP_PREFIX = ".imageprotector-"


def is_temporary(name: str) -> bool:
    """A name that is not a finished file: hidden, an Office lock file, or a temporary ending."""
    lower = name.lower()
    return name.startswith(".") or name.startswith("~$") or lower.endswith("~") or lower.endswith(TEMPORARY_SUFFIXES)


def is_photo(name: str) -> bool:
    return Path(name).suffix.lower() in PHOTO_SUFFIXES


def mime_of(name: str) -> str:
    suffix = Path(name).suffix.lower().lstrip(".")
    return {"jpg": "image/jpeg", "jpeg": "image/jpeg", "tif": "image/tiff", "heif": "image/heic"}.get(
        suffix, f"image/{suffix}")


def output_name(original: str, returned: str) -> str:
    """The original's name with the extension of the format the protected photo is in."""
    return Path(original).stem + (Path(returned).suffix or Path(original).suffix)
