"""`make image-test` without a container engine: skipped locally, a failure in CI.

The build and the smoke checks themselves run in `make image-test` (CI runs
it before the suite); here only the decision the README promises is tested:
a user with no engine and no root gets a reason and a zero exit, CI does not.
"""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "image" / "image-test.sh"
NOBODY = 65534


def run_without_engine(ci: bool) -> subprocess.CompletedProcess:
    """The script as an unprivileged user whose `docker` finds no engine.

    It runs from a copy in a folder that user can read: the checkout may sit
    under a folder only root may enter (a CI runner's, or mktemp's).
    """
    prefix = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("setpriv (util-linux) is needed to drop root for this test")
        prefix = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    env = {"PATH": os.environ["PATH"], "DOCKER": "false", "CI": "true" if ci else ""}
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o755)  # noqa: S103 - the unprivileged user must read the copy
        copy = Path(folder) / "deploy" / "image" / SCRIPT.name
        copy.parent.mkdir(parents=True)
        shutil.copy(SCRIPT, copy)
        for path in (copy.parent, copy.parent.parent):
            path.chmod(0o755)
        return subprocess.run([*prefix, "bash", str(copy)], env=env, capture_output=True,
                              text=True, timeout=60, check=False)


def test_without_an_engine_it_is_skipped_with_the_reason():
    result = run_without_engine(ci=False)
    assert result.returncode == 0, result.stderr
    assert "image-test: SKIPPED: no container engine is running" in result.stdout


def test_in_ci_a_missing_engine_is_a_failure():
    result = run_without_engine(ci=True)
    assert result.returncode == 1
    assert "image-test: FAILED: no container engine is running" in result.stderr
