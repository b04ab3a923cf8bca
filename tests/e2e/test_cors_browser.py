"""CORS in Debian's headless Chromium: the browser enforces what the API declares.

The same page is served from two origins (two tiny http.servers on two
ports); the API (gunicorn, another port) allows only the first. From it,
fetch() gets the JSON (with or without an API key, which needs a preflight);
from the other, the browser blocks the answer. Non-API paths allow no origin.
"""

import subprocess
import sys
from http import HTTPStatus
from pathlib import Path

import pytest
from PIL import Image
from skimage import data

from inference_api.testing.pages import chromium, page_server
from inference_api.testing.servers import REPO, gunicorn_server

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.slow]

PAGE = """<!doctype html>
<meta charset="utf-8"><title>API client</title>
<script>
async function callApi(url, key) {
  const image = await (await fetch("/cat.jpg")).blob();
  const form = new FormData();
  form.append("file", image, "cat.jpg");
  const headers = key ? {"X-Api-Key": key} : {};
  try {
    const response = await fetch(url, {method: "POST", body: form, headers});
    return {reached: true, status: response.status, body: await response.json(),
            requestId: response.headers.get("X-Request-ID")};
  } catch (error) {
    return {reached: false, error: String(error)};
  }
}
async function getPath(url) {
  try {
    const response = await fetch(url);
    return {reached: true, status: response.status};
  } catch (error) {
    return {reached: false, error: String(error)};
  }
}
</script>
"""


def write_site(root: Path) -> Path:
    root.mkdir()
    (root / "index.html").write_text(PAGE)
    Image.fromarray(data.chelsea()).save(root / "cat.jpg", "JPEG", quality=85)
    return root


def create_key(env: dict) -> str:
    """An API key issued in the live server's own database."""
    result = subprocess.run(
        [sys.executable, "manage.py", "create_api_key", "browser-test"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture
def browser(require_chromium):
    with chromium(require_chromium) as browser:
        yield browser


def open_page(browser, origin: str):
    page = browser.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.goto(f"{origin}/index.html")
    return page, console


def test_only_an_allowed_origin_can_call_the_api_from_a_browser(browser, exported_model, tmp_path):
    site = write_site(tmp_path / "site")
    with page_server(site) as allowed, page_server(site) as other:
        env = {"CORS_ALLOWED_ORIGINS": allowed}
        with gunicorn_server(env=env, workers=1) as api:
            key = create_key(api.env)
            analyze = f"{api.url}/api/v1/analyze/"
            page, _ = open_page(browser, allowed)
            anonymous = page.evaluate("([u]) => callApi(u, null)", [analyze])
            keyed = page.evaluate("([u, k]) => callApi(u, k)", [analyze, key])
            health = page.evaluate("([u]) => getPath(u)", [f"{api.url}/healthz"])
            page.close()
            page, console = open_page(browser, other)
            blocked = page.evaluate("([u]) => callApi(u, null)", [analyze])
            blocked_keyed = page.evaluate("([u, k]) => callApi(u, k)", [analyze, key])
            page.close()

    assert anonymous["reached"], anonymous
    assert anonymous["status"] == HTTPStatus.OK
    assert anonymous["body"]["predictions"][0]["label"] in {"tabby", "tiger cat", "Egyptian cat"}
    # The request id is an exposed header, readable by the page.
    assert anonymous["requestId"] == anonymous["body"]["request_id"]
    assert keyed["reached"] and keyed["status"] == HTTPStatus.OK, keyed

    assert not health["reached"], "CORS must be limited to the API paths"
    assert not blocked["reached"], blocked
    assert "Failed to fetch" in blocked["error"]
    assert not blocked_keyed["reached"], blocked_keyed
    assert any("blocked by CORS policy" in line for line in console), console
