"""Pillow's test-image corpus, read where it lies: ../shared/corpus/pillow (never copied here).

CORPUS_DIR overrides the location. `MANIFEST.tsv` lists each file with its
category, real format and expected outcome ("accept" or "reject").
"""

import csv
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("CORPUS_DIR", REPO.parent / "shared" / "corpus" / "pillow"))
MANIFEST = CORPUS / "MANIFEST.tsv"


def available() -> bool:
    """Whether the corpus is there (its manifest is)."""
    return MANIFEST.exists()


def manifest() -> list[dict]:
    """The manifest's rows as dicts (file, category, real_format, expected...); [] if absent."""
    if not MANIFEST.exists():
        return []
    with MANIFEST.open(newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def read(row: dict, corpus_dir: Path = CORPUS) -> bytes:
    """The bytes of a manifest row's file, as the corpus README says to send them."""
    data = (corpus_dir / row["file"]).read_bytes()
    if row["file"] == "pngtest_bad.png.bin":
        data = b"\x89" + data  # stored without its first byte (README step 6)
    return data
