"""A worker's memory returns to its level after a series of bodies refused at the cap.

With the server's malloc settings (MALLOC_TUNED, as the Dockerfile sets them)
glibc kept up to 128 MiB of a refused body's free heap: eight 10 MiB bodies
refused 413 left a worker ~120 MiB larger. upload/memory.py trims the heap
after a large body.
"""

import time

import pytest

from inference_api.testing import http as wire
from inference_api.testing.bodies import over_cap_chunked, over_cap_sized
from inference_api.testing.http import exchange
from inference_api.testing.images import photos
from inference_api.testing.servers import MALLOC_TUNED, gunicorn_server, status_kb, worker_pids

pytestmark = [pytest.mark.live, pytest.mark.slow]

MIB_KB = 1024
MOST_KEPT_MIB = 20


@pytest.mark.parametrize("build", [over_cap_sized, over_cap_chunked])
def test_the_workers_rss_returns_after_a_series_of_bodies_refused_at_the_cap(build):
    photo = wire.multipart(photos.jpeg((640, 480)), "image/jpeg", "photo.jpg")
    body = build()
    with gunicorn_server(env=MALLOC_TUNED, workers=1) as server:
        (worker,) = worker_pids(server.process.pid)
        for _ in range(5):  # the worker's working set: model, decoders, one photo's buffers
            assert wire.post(server.url, photo).status == 200
        time.sleep(0.5)
        before = status_kb(worker, "VmRSS")
        for _ in range(8):
            reply = exchange(server.port, body)
            assert (reply.status, reply.json()["code"]) == (413, "file_too_large")
        time.sleep(0.5)
        kept_mib = (status_kb(worker, "VmRSS") - before) / MIB_KB
    print(f"{build.__name__}: the worker kept {kept_mib:.0f} MiB")
    assert kept_mib <= MOST_KEPT_MIB
