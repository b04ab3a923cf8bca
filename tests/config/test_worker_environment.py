"""What config/gunicorn.conf.py sets in the environment before the app is imported."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHOW = (
    "import os, runpy; runpy.run_path('config/gunicorn.conf.py'); "
    "print(os.environ['OPENBLAS_NUM_THREADS'])"
)


def read_after_the_conf(**env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    environ.update(env)
    done = subprocess.run(
        [sys.executable, "-c", SHOW], cwd=ROOT, env=environ, capture_output=True, text=True,
        check=True,
    )
    return done.stdout.strip()


def test_numpys_blas_gets_one_thread_in_each_worker_unless_the_operator_says_otherwise():
    assert read_after_the_conf() == "1"
    assert read_after_the_conf(OPENBLAS_NUM_THREADS="2") == "2"
