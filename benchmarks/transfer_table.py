"""The README's transfer table: `imageprotector evaluate --transfer` on the acceptance photos.

    python benchmarks/transfer_table.py [--quick] [--model demo-families] [--site instagram]

Writes the acceptance photos of benchmarks/robust_photos.py (the --quick eight, or all 21)
to a temporary folder as the files a user would have, then runs

    imageprotector evaluate PHOTOS --transfer --model demo-families --site instagram

which protects each photo against each model alone and against all of them together (eps
8/255, robust, the defaults) and asks every model the 22 held-out questions about every
result, as written and after the site's pipeline. Prints the command's own tables.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.photos import encode_jpeg, encode_png, natural_photo  # noqa: E402
from benchmarks.protect_photos import CASES, QUICK  # noqa: E402
from companion import cli  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the 8 photos up to 1200 px")
    parser.add_argument("--model", action="append", help="models or presets (default: demo-families)")
    parser.add_argument("--site", default="instagram")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i, (name, size, fmt) in enumerate(QUICK if args.quick else CASES):
            image = natural_photo(name, size)
            path = Path(folder) / f"{i:02d}-{name}-{image.width}x{image.height}.{'png' if fmt == 'png' else 'jpg'}"
            path.write_bytes(encode_png(image) if fmt == "png" else encode_jpeg(image))
            paths.append(str(path))
        command = ["evaluate", *paths, "--transfer", "--site", args.site, "--device", args.device]
        for model in args.model or ["demo-families"]:
            command += ["--model", model]
        print("imageprotector " + " ".join(c if not c.startswith(folder) else Path(c).name for c in command))
        return cli.main(command)


if __name__ == "__main__":
    sys.exit(main())
