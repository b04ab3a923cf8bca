"""The clients people really use, as their docs show them, against a real gunicorn.

Python requests, httpx, urllib3, Debian's curl, Chromium's fetch (FormData
and a Blob body, under the CORS settings) and a client generated from our
OpenAPI schema by openapi-python-client each upload a JPEG, a PNG and a WebP
photo, with and without a type, in a form and as the raw body. Every upload
gets 200 with the photo's right top label, and the audit counts each form.
"""

import json
import subprocess
import sys
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path

import httpx
import pytest
import requests
import urllib3
from PIL import Image
from skimage import data

from inference_api.testing.http import ANALYZE
from inference_api.testing.pages import chromium, page_server
from inference_api.testing.servers import BIN, database_rows, eventually, gunicorn_server

pytestmark = [pytest.mark.live, pytest.mark.slow]

CAT = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}
ROCKET = {"missile", "projectile", "space shuttle"}
# One photograph per format, named as a user's files are, and what each shows.
PHOTOS = {
    "photo.jpg": ("coffee", "JPEG", {"espresso"}),
    "photo.png": ("chelsea", "PNG", CAT),
    "photo.webp": ("rocket", "WEBP", ROCKET),
}
TYPES = {"photo.jpg": "image/jpeg", "photo.png": "image/png", "photo.webp": "image/webp"}

PAGE = """<!doctype html>
<meta charset="utf-8"><title>uploads</title>
<script>
async function upload(url, path, how) {
  const fetched = await (await fetch(path)).blob();
  const untyped = new Blob([await fetched.arrayBuffer()]);
  let body = fetched;
  if (how === "form") { body = new FormData(); body.append("file", fetched, path.slice(1)); }
  if (how === "form-untyped") { body = new FormData(); body.append("file", untyped); }
  if (how === "blob-untyped") { body = untyped; }
  try {
    const response = await fetch(url, {method: "POST", body});
    return {status: response.status, body: await response.json(), blobType: fetched.type};
  } catch (error) {
    return {status: 0, error: String(error)};
  }
}
</script>
"""


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """The three photos and the browser's page, in a folder a page server can serve."""
    folder = tmp_path_factory.mktemp("site")
    for name, (picture, fmt, _) in PHOTOS.items():
        Image.fromarray(getattr(data, picture)()).convert("RGB").save(folder / name, fmt)
    (folder / "index.html").write_text(PAGE)
    return folder


@pytest.fixture(scope="module")
def site(photos) -> Iterator[str]:
    with page_server(photos) as origin:
        yield origin


@pytest.fixture(scope="module")
def api(exported_model, site) -> Iterator:
    with gunicorn_server(env={"CORS_ALLOWED_ORIGINS": site}, workers=2) as server:
        yield server


def assert_classified(status: int, body: dict, name: str, how: str) -> None:
    _, fmt, labels = PHOTOS[name]
    assert status == HTTPStatus.OK, f"{how} {name}: {status} {body}"
    assert body["image"]["format"] == fmt, f"{how} {name}"
    assert body["predictions"][0]["label"] in labels, f"{how} {name}: {body['predictions'][0]}"


def audited_forms(server, request_ids: list[str]) -> list[tuple[str, str]]:
    """(upload_via, declared type) of each request's audit row, once all are written."""
    sql = "SELECT request_id, upload_via, declared_content_type FROM inference_api_auditlog"
    rows = eventually(
        lambda: (found := database_rows(server.env["DATABASE_URL"], sql))
        and len({r[0] for r in found} & set(request_ids)) == len(request_ids)
        and found
    )
    by_id = {row[0]: (row[1], row[2]) for row in rows}
    return [by_id[request_id] for request_id in request_ids]


@pytest.mark.parametrize("name", PHOTOS)
def test_python_requests_as_its_docs_show(api, photos, name):
    url, path = api.url + ANALYZE, photos / name
    sent = []
    with path.open("rb") as handle:  # the docs' own line: a part with no Content-Type
        sent.append(("multipart", "", requests.post(url, files={"file": handle}, timeout=30)))
    with path.open("rb") as handle:
        typed = {"file": (name, handle, TYPES[name])}
        sent.append(("multipart", TYPES[name], requests.post(url, files=typed, timeout=30)))
    with path.open("rb") as handle:
        raw = requests.post(url, data=handle, headers={"Content-Type": TYPES[name]}, timeout=30)
        sent.append(("raw", TYPES[name], raw))
    with path.open("rb") as handle:  # a file as the body, and no type at all
        sent.append(("raw", "", requests.post(url, data=handle, timeout=30)))
    for via, _, response in sent:
        assert_classified(response.status_code, response.json(), name, f"requests {via}")
    ids = [response.headers["X-Request-ID"] for *_, response in sent]
    assert audited_forms(api, ids) == [(via, declared) for via, declared, _ in sent]


@pytest.mark.parametrize("name", PHOTOS)
def test_httpx_with_and_without_a_type(api, photos, name):
    url, payload = api.url + ANALYZE, (photos / name).read_bytes()
    with httpx.Client(timeout=30) as client:
        answers = [
            client.post(url, files={"file": (name, payload)}),
            client.post(url, files={"file": (name, payload, "application/octet-stream")}),
            client.post(url, content=payload, headers={"Content-Type": TYPES[name]}),
            client.post(url, content=payload),
        ]
    for response in answers:
        assert_classified(response.status_code, response.json(), name, "httpx")


@pytest.mark.parametrize("name", PHOTOS)
def test_urllib3_with_and_without_a_type(api, photos, name):
    url, payload = api.url + ANALYZE, (photos / name).read_bytes()
    answers = [
        urllib3.request("POST", url, fields={"file": (name, payload)}),
        urllib3.request("POST", url, fields={"file": ("blob", payload)}),
        urllib3.request("POST", url, body=payload, headers={"Content-Type": TYPES[name]}),
        urllib3.request("POST", url, body=payload),
    ]
    for response in answers:
        assert_classified(response.status, response.json(), name, "urllib3")


def curl(*args: str) -> tuple[int, dict]:
    """Run Debian's curl; the answer's status and JSON body."""
    result = subprocess.run(
        ["curl", "-sS", "-w", "\n%{http_code}", *args], capture_output=True, text=True, check=True
    )
    body, _, status = result.stdout.rpartition("\n")
    return int(status), json.loads(body)


@pytest.mark.parametrize("name", PHOTOS)
def test_curl_as_its_users_write_it(api, photos, name):
    url, path = api.url + ANALYZE, str(photos / name)
    alias = {"photo.jpg": "image/jpg", "photo.png": "image/x-png"}.get(name, TYPES[name])
    commands = {
        "-F": ["-F", f"file=@{path}"],
        "-F;type=alias": ["-F", f"file=@{path};type={alias}"],
        "--data-binary typed": ["--data-binary", f"@{path}", "-H", f"Content-Type: {TYPES[name]}"],
        "--data-binary octet": [
            "--data-binary",
            f"@{path}",
            "-H",
            "Content-Type: application/octet-stream",
        ],
    }
    for how, args in commands.items():
        status, body = curl(*args, url)
        assert_classified(status, body, name, f"curl {how}")


def test_curl_data_binary_without_a_type_is_told_how_to_send(api, photos):
    # curl's default for --data-binary is a urlencoded form: not an image, and said so.
    status, body = curl("--data-binary", f"@{photos / 'photo.jpg'}", api.url + ANALYZE)
    assert (status, body["code"]) == (HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    assert "as the request body with its type" in body["error"]


@pytest.mark.browser
def test_chromium_fetch_with_formdata_and_a_blob_under_cors(api, site, require_chromium):
    with chromium(require_chromium) as browser:
        page = browser.new_page()
        page.goto(f"{site}/index.html")
        results = {
            (name, how): page.evaluate(
                "([u, p, h]) => upload(u, p, h)", [api.url + ANALYZE, f"/{name}", how]
            )
            for name in PHOTOS
            for how in ("form", "form-untyped", "blob", "blob-untyped")
        }
        page.close()
    for (name, how), result in results.items():
        assert_classified(result["status"], result.get("body", result), name, f"fetch {how}")


def generated_client(schema: Path, folder: Path):
    """The client openapi-python-client generates from the served schema, imported."""
    config = folder / "generator.yaml"
    config.write_text("post_hooks: []\n")
    subprocess.run(
        [
            str(BIN / "openapi-python-client"), "generate", "--path", str(schema),
            "--config", str(config), "--meta", "none",
            "--output-path", str(folder / "analyze_api_client"),
        ],
        check=True, capture_output=True,
    )
    sys.path.insert(0, str(folder))
    try:
        import analyze_api_client
        from analyze_api_client.api.v1 import v1_analyze_create
        from analyze_api_client.models import V1AnalyzeCreateFilesBody
        from analyze_api_client.types import File
    finally:
        sys.path.remove(str(folder))
    return analyze_api_client, v1_analyze_create, V1AnalyzeCreateFilesBody, File


def test_a_client_generated_from_the_schema_uploads_both_ways(api, photos, tmp_path):
    schema = tmp_path / "schema.yaml"
    schema.write_bytes(requests.get(api.url + "/api/schema/", timeout=30).content)
    package, endpoint, form_body, file_type = generated_client(schema, tmp_path)
    client = package.Client(base_url=api.url, raise_on_unexpected_status=True)
    for name in PHOTOS:
        payload = (photos / name).read_bytes()
        as_form = form_body(file=file_type(payload=payload, file_name=name))
        as_body = file_type(payload=payload, file_name=name)
        for how, body in (("form", as_form), ("raw", as_body)):
            answer = endpoint.sync(client=client, body=body)
            assert type(answer).__name__ == "AnalyzeResponse", f"{how} {name}: {answer}"
            assert_classified(HTTPStatus.OK, answer.to_dict(), name, f"generated {how}")
