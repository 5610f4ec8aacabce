"""Give an existing gallery its evidence thumbnails and portable paths, without re-embedding.

    python benchmarks/zoo/add_thumbnails.py aidetect/bundled/default/gallery.npz \
        --root /work/zoo/train --root-label zoo-train [--size 32] [--dry-run]

For galleries built before galleries kept thumbnails (the bundled one): each row whose source
file is found under ``--root`` AND still has the SHA-256 the gallery recorded gets a small
lossless thumbnail; the paths under ``--root`` are stored relative to it, labelled
``--root-label``, so reports show the evidence on any machine and name the file portably.
Rows whose file is missing or changed keep no thumbnail (counted). Content and fingerprint
are unchanged; the file is rewritten atomically.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gallery", type=Path)
    parser.add_argument("--root", type=Path, required=True, help="the folder the gallery's source files sit in")
    parser.add_argument("--root-label", required=True, help="the name stored for that folder, e.g. zoo-train")
    parser.add_argument("--size", type=int, default=32, help="thumbnail side in pixels (32: about 2.4 KB a row)")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    if not args.gallery.is_file():
        parser.error(f"{args.gallery} is not a file; give a gallery .npz")
    if not args.root.is_dir():
        parser.error(f"--root {args.root} is not a folder")

    from aidetect.fileio import sha256_file
    from aidetect.gallery import Gallery
    from aidetect.gallery.thumbnails import make_thumbnail

    gallery = Gallery.load(args.gallery)
    before = gallery.fingerprint
    rows, thumbs, missing, changed = [], [], 0, 0
    for i, (path, digest) in enumerate(zip(gallery.paths, gallery.sha256s)):
        file = Path(path)
        if not file.is_file():
            missing += 1
            continue
        if sha256_file(file) != digest:
            changed += 1
            continue
        rows.append(i)
        thumbs.append(make_thumbnail(file, args.size))
    print(f"{len(rows)} of {len(gallery)} rows get a thumbnail; {missing} source files missing, {changed} changed since enrollment")
    if args.dry_run:
        return 0
    if rows:
        gallery.set_thumbnails(rows, thumbs)
    moved = gallery.set_source_root(str(args.root), args.root_label)
    assert gallery.fingerprint == before
    gallery.save(args.gallery)
    print(f"{moved} paths now relative to {args.root_label}; wrote {args.gallery} ({args.gallery.stat().st_size / 2**20:.1f} MB), fingerprint {before}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
