"""Plans over the wire: two gunicorn workers counting every key's plan in one Redis.

Three keys on three plans, created with `manage.py create_api_key --plan` in
the live server's own database, each sent a burst of concurrent uploads:
each gets exactly its rate or allowance, its own answer shape, the RateLimit
fields on every answer, and `manage.py usage_report` counts what was sent.
Uses Redis db 6 on 127.0.0.1:6379 (flushed here, never another db).
"""

import json
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus

import pytest
import redis
import requests

from inference_api.testing.http import ANALYZE
from inference_api.testing.servers import REPO, eventually, gunicorn_server

pytestmark = [pytest.mark.live, pytest.mark.redis, pytest.mark.slow]

REDIS_DB = 6
PLANS = """
from inference_api.models import Plan
Plan.objects.create(name="free", rate_per_minute=10, requests_per_day=100, top_k=1)
Plan.objects.create(name="pro", rate_per_minute=600, top_k=5, score_decimals=4)
Plan.objects.create(name="trial", rate_per_minute=600, requests_per_day=25, top_k=3,
                    score_decimals=2)
"""


def manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env,
        capture_output=True, text=True, check=True,
    )
    return result.stdout


def photo() -> bytes:
    import io

    from PIL import Image
    from skimage import data

    out = io.BytesIO()
    Image.fromarray(data.coffee()).save(out, "JPEG", quality=85)
    return out.getvalue()


@pytest.fixture
def redis_db6(require_redis) -> str:
    url = require_redis.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


def burst(url: str, key: str, count: int, payload: bytes) -> list[requests.Response]:
    def one(_):
        return requests.post(
            url, files={"file": ("coffee.jpg", payload)}, headers={"X-Api-Key": key}, timeout=60
        )

    with ThreadPoolExecutor(max_workers=6) as pool:
        return list(pool.map(one, range(count)))


def test_each_key_gets_exactly_its_plan_across_two_workers(exported_model, redis_db6):
    payload = photo()
    with gunicorn_server(env={"REDIS_URL": redis_db6}, workers=2) as server:
        manage(server.env, "shell", "-c", PLANS)
        keys = {
            plan: manage(server.env, "create_api_key", f"{plan}-customer", "--plan", plan)
            .strip().splitlines()[-1]
            for plan in ("free", "pro", "trial")
        }
        url = server.url + ANALYZE
        answers = {
            "free": burst(url, keys["free"], 30, payload),
            "pro": burst(url, keys["pro"], 20, payload),
            "trial": burst(url, keys["trial"], 40, payload),
        }
        expected_rows = sum(len(sent) for sent in answers.values())
        report = eventually(
            lambda: (lines := json.loads(manage(server.env, "usage_report", "--format", "json")))
            and sum(line["requests"] for line in lines) == expected_rows
            and lines,
            timeout=30,
        )

    outcomes = {
        plan: Counter(
            r.json().get("code", "ok") if r.status_code != HTTPStatus.OK else "ok" for r in sent
        )
        for plan, sent in answers.items()
    }
    print(f"answers by plan: {dict(outcomes)}")
    assert outcomes["free"] == {"ok": 10, "rate_limited": 20}
    assert outcomes["pro"] == {"ok": 20}
    assert outcomes["trial"] == {"ok": 25, "quota_exceeded": 15}

    for plan, sent in answers.items():
        for response in sent:
            assert response.headers["RateLimit-Policy"].startswith('"rate";q='), plan
            assert response.headers["RateLimit"].startswith('"rate";r='), plan
    refused = next(r for r in answers["trial"] if r.status_code == HTTPStatus.TOO_MANY_REQUESTS)
    assert 0 < int(refused.headers["Retry-After"]) <= 86400
    assert '"day";q=25;w=86400' in refused.headers["RateLimit-Policy"]
    assert '"day";r=0;' in refused.headers["RateLimit"]

    shapes = {
        plan: next(r for r in sent if r.status_code == HTTPStatus.OK).json()["predictions"]
        for plan, sent in answers.items()
    }
    assert shapes["free"] == [{"label": "espresso", "class_index": 967}]
    for plan, labels, decimals in (("pro", 5, 4), ("trial", 3, 2)):
        assert len(shapes[plan]) == labels
        assert all(p["score"] == round(p["score"], decimals) for p in shapes[plan])

    by_key = {line["key_name"]: line for line in report}
    assert by_key["free-customer"]["outcomes"] == {"ok": 10, "rate_limited": 20}
    assert by_key["pro-customer"]["outcomes"] == {"ok": 20}
    assert by_key["trial-customer"]["outcomes"] == {"ok": 25, "quota_exceeded": 15}
    assert by_key["pro-customer"]["megapixels"] == pytest.approx(20 * 0.24)
