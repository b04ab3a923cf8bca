"""The paths the guides name exist: a module moved or removed fails here until the docs follow."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDES = ["README.md", "docs/architecture.md", "docs/deploy.md", "docs/admin.md", "bench/README.md"]
# A backticked path of the repository: a top-level folder, then a file or folder name.
TOP = "inference_api|analysis|config|tests|bench|deploy|docs|requirements|\\.ci"
PATH = re.compile(rf"`((?:{TOP})/[\w./-]*)`")
# Folders of the app named without their package (`upload/checks.py`), as the guides write them.
APP_PATH = re.compile(r"`((?:admission|audit|console|imaging|operations|probes|sandbox|upload|"
                      r"testing|management)/[\w./-]*)`")


# Made when the service or the bench runs, not kept in the repository.
GENERATED = ("bench/results/", "deploy/.env")
FILE = re.compile(r"(\.(py|md|sh|conf|txt|html|yaml|yml|toml|png|tmpl|json)|/)$")


def named_paths(text: str) -> set[str]:
    named = set(PATH.findall(text)) | {f"inference_api/{p}" for p in APP_PATH.findall(text)}
    return {p for p in named if FILE.search(p) and not p.startswith(GENERATED)}


@pytest.mark.parametrize("guide", [g for g in GUIDES if (ROOT / g).exists()])
def test_every_path_a_guide_names_exists(guide):
    missing = sorted(
        path for path in named_paths((ROOT / guide).read_text())
        if not (ROOT / path).exists()
    )
    assert missing == []


def test_a_missing_path_is_found():
    assert named_paths("see `upload/gone.py` and `inference_api/x.py`") == {
        "inference_api/upload/gone.py", "inference_api/x.py"
    }
