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
from inference_api.testing.servers import (
    MALLOC_TUNED,
    gunicorn_server,
    minor_faults,
    status_kb,
    worker_pids,
)

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


def test_an_ordinary_large_upload_leaves_the_forward_pass_its_memory():
    """A 3 MB PNG is followed by no trim: the next request faults nothing back in.

    A trim after it handed the forward pass's activations back to the kernel
    too, and the next photo faulted them in again (~16 MB, 4-6 ms of a ~14 ms
    forward pass). Counted in page faults, not time: the worker's minor faults
    while serving a photo right after the PNG, against a photo after a photo.
    """
    png = wire.multipart(photos.png((1632, 1224)), "image/png", "photo.png")
    photo = wire.multipart(photos.jpeg((640, 480)), "image/jpeg", "photo.jpg")
    assert len(png) > 3_000_000
    with gunicorn_server(env=MALLOC_TUNED, workers=1) as server:
        (worker,) = worker_pids(server.process.pid)
        for body in (png, photo) * 3:  # the working set of both
            assert wire.post(server.url, body).status == 200
        after_photo = _faults_serving(server, worker, photo, before=photo)
        after_png = _faults_serving(server, worker, photo, before=png)
    print(f"minor faults serving a photo: {after_photo} after a photo, {after_png} after a PNG")
    assert after_png < after_photo + 500  # 500 pages: 2 MB, a fifth of the activations


def _faults_serving(server, worker: int, body: bytes, before: bytes) -> int:
    """The worker's minor page faults while it serves `body`, right after `before`."""
    faults = []
    for _ in range(3):
        assert wire.post(server.url, before).status == 200
        time.sleep(0.2)  # the answer's close and its audit are done
        start = minor_faults(worker)
        assert wire.post(server.url, body).status == 200
        time.sleep(0.2)
        faults.append(minor_faults(worker) - start)
    return sorted(faults)[1]
