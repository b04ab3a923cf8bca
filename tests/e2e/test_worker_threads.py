"""A worker's CPU goes to its requests: no library thread spins beside them between answers."""

import io
import os
from http import HTTPStatus
from pathlib import Path

import pytest
from PIL import Image

from inference_api.testing.http import post_file
from inference_api.testing.servers import gunicorn_server, worker_pids

pytestmark = [pytest.mark.live, pytest.mark.slow]


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU time of each thread of process `pid`."""
    times = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        times[int(tid)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return times


def photo() -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((640, 480), 40).convert("RGB").save(buffer, "JPEG")
    return buffer.getvalue()


def test_no_thread_but_the_main_one_spends_cpu_in_a_worker_under_steady_traffic(exported_model):
    data = photo()
    with gunicorn_server(workers=1) as server:
        for _ in range(100):  # the client's extraction window full (EXTRACTION_WINDOW)
            assert post_file(server.url, data, "image/jpeg").status_code == HTTPStatus.OK
        worker = worker_pids(server.process.pid)[0]
        before = thread_cpu_seconds(worker)
        count = 40
        for _ in range(count):
            assert post_file(server.url, data, "image/jpeg").status_code == HTTPStatus.OK
        after = thread_cpu_seconds(worker)
    beside = sum(after[t] - before.get(t, 0.0) for t in after if t != worker)
    # numpy's OpenBLAS, after the audit's float product, spun ~28 ms per answer here.
    assert beside / count < 0.003, (beside, count)
