"""AUTO_BLOCK_* are read strictly: a value that could be misread stops the process."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def autoblock_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Import the base settings in a clean interpreter; print the three values."""
    shutil.copytree(REPO / "config", tmp_path / "config")
    code = (
        "import config.settings.base as s; "
        "print(s.AUTO_BLOCK_FLAGGED, s.AUTO_BLOCK_WINDOW, s.AUTO_BLOCK_FOR)"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path), "VAR_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_defaults_are_five_flagged_uploads_in_ten_minutes_for_an_hour(tmp_path):
    assert autoblock_settings(tmp_path).stdout.split() == ["5", "600", "3600"]


def test_durations_take_a_unit_and_zero_turns_off(tmp_path):
    result = autoblock_settings(
        tmp_path, AUTO_BLOCK_FLAGGED="3", AUTO_BLOCK_WINDOW="90s", AUTO_BLOCK_FOR="0"
    )

    assert result.stdout.split() == ["3", "90", "0"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUTO_BLOCK_WINDOW", "10"),
        ("AUTO_BLOCK_WINDOW", "10 minutes"),
        ("AUTO_BLOCK_FOR", "-1h"),
        ("AUTO_BLOCK_FOR", "1.5h"),
        ("AUTO_BLOCK_FLAGGED", "-1"),
        ("AUTO_BLOCK_FLAGGED", "five"),
    ],
)
def test_a_value_that_could_be_misread_stops_the_process(tmp_path, name, value):
    result = autoblock_settings(tmp_path, **{name: value})

    assert result.returncode != 0
    assert name in result.stderr or "invalid literal" in result.stderr
