"""What gunicorn and the app believe of a request's headers, through a real gunicorn.

gunicorn takes no SCRIPT_NAME or PATH_INFO from a header, believes
X-Forwarded-Proto only from TRUSTED_PROXIES, and the app's middleware decides
on `path_info`, the path it routes on, whatever SCRIPT_NAME the deployment has.
"""

import http.client
import json
from http import HTTPStatus

import pytest

from inference_api.testing.http import ANALYZE
from inference_api.testing.servers import (
    LiveServer,
    eventually,
    gunicorn_server,
    wait_for_fresh_window,
)
from tests.e2e.test_gunicorn import printed_config, setting
from tests.e2e.test_nginx import production_env


def get(server: LiveServer, path: str, headers: dict, source: str = "127.0.0.1"):
    connection = http.client.HTTPConnection(
        "127.0.0.1", server.port, timeout=30, source_address=(source, 0)
    )
    connection.request("GET", path, headers={"Connection": "close", **headers})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


@pytest.mark.slow  # gunicorn loads its whole config twice: 9 s on an idle machine
def test_gunicorn_takes_no_path_headers_and_trusts_the_app_s_proxies():
    out = printed_config(TRUSTED_PROXIES="10.0.0.1/8, fd00::/8").stdout
    assert setting(out, "forwarder_headers") == "[]"
    assert setting(out, "forwarded_allow_ips") == "['10.0.0.0/8', 'fd00::/8']"
    assert setting(printed_config().stdout, "forwarded_allow_ips") == "[]"


def test_a_malformed_trusted_proxies_stops_gunicorn():
    result = printed_config(TRUSTED_PROXIES="10.0.0.0/33")
    assert result.returncode != 0
    assert "TRUSTED_PROXIES" in result.stderr


@pytest.mark.live
@pytest.mark.slow
def test_under_a_script_name_prefix_the_api_is_still_guarded_and_audited(exported_model):
    env = {"SCRIPT_NAME": "/prefix", "RATE_LIMIT_PER_IP": "2/m", "LOG_FORMAT": "json"}
    with gunicorn_server(env=env, workers=1) as app:
        wait_for_fresh_window(["ip:127.0.0.1"], 60, needed=10)  # the three in one window
        statuses = [get(app, f"/prefix{ANALYZE}", {}).status for _ in range(3)]
        # Each line is written once its answer is sent.
        eventually(lambda: app.log().count('"name": "inference_api.requests"') >= 3)
        log = app.log()
    assert statuses == [
        HTTPStatus.METHOD_NOT_ALLOWED,
        HTTPStatus.METHOD_NOT_ALLOWED,
        HTTPStatus.TOO_MANY_REQUESTS,
    ]
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    audited = [line for line in lines if line.get("name") == "inference_api.requests"]
    assert [line["status"] for line in audited] == statuses


@pytest.mark.live
@pytest.mark.slow
def test_forwarded_headers_are_believed_only_from_a_trusted_proxy(exported_model):
    env = production_env(TRUSTED_PROXIES="127.0.0.1/32")
    https = {"X-Forwarded-Proto": "https"}
    with gunicorn_server(env=env, workers=1) as app:
        from_proxy = get(app, "/healthz", https, source="127.0.0.1")
        from_client = get(app, "/healthz", https, source="127.0.0.2")
        # A proxy is trusted with the scheme, never with how the path is split.
        script_name = get(app, f"/x{ANALYZE}", {"SCRIPT_NAME": "/x", **https})
    # Django sends HSTS only on a request it believes was HTTPS.
    assert from_proxy.getheader("Strict-Transport-Security")
    assert from_client.status == HTTPStatus.OK
    assert from_client.getheader("Strict-Transport-Security") is None
    assert script_name.status == HTTPStatus.NOT_FOUND
