"""/metrics under gunicorn with several workers: one view of all of them.

With PROMETHEUS_MULTIPROC_DIR set, whichever worker answers the scrape
reports every worker's counts; gunicorn's config empties the folder at start.
"""

import re
import tempfile
from http import HTTPStatus
from pathlib import Path

import pytest
import requests

from inference_api.testing.servers import gunicorn_server

pytestmark = [pytest.mark.live, pytest.mark.slow]

REJECTED = 'inference_api_requests_total{outcome="no_file",status="400"}'


def scraped_value(text: str, sample: str) -> float:
    match = re.search(re.escape(sample) + r" ([0-9.e+]+)", text)
    return float(match.group(1)) if match else 0.0


def test_every_scrape_sums_all_workers(exported_model):
    with tempfile.TemporaryDirectory(prefix="prom-") as folder:
        stale = Path(folder) / "counter_4242.db"
        stale.write_bytes(b"")
        env = {"PROMETHEUS_MULTIPROC_DIR": folder}
        with gunicorn_server(env=env, workers=3) as app:
            assert not stale.exists(), "files of a previous run must not be summed in"
            for _ in range(12):
                form = {"note": (None, "no file")}
                response = requests.post(app.url + "/api/v1/analyze/", files=form, timeout=30)
                assert response.status_code == HTTPStatus.BAD_REQUEST
            scrapes = [requests.get(app.url + "/metrics", timeout=30) for _ in range(6)]
            pids = {p for p in re.findall(r"\[(\d+)\] \[INFO\] Booting worker", app.log())}
    assert len(pids) == 3
    for scrape in scrapes:
        assert scrape.status_code == HTTPStatus.OK
        assert scraped_value(scrape.text, REJECTED) == 12
        assert scraped_value(scrape.text, 'inference_api_rejections_total{reason="no_file"}') == 12
        assert scraped_value(scrape.text, "inference_api_inferences_in_flight") == 0
