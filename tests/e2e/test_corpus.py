"""Pillow's test-image corpus against the API: every file gets its expected outcome.

`../shared/corpus/pillow/MANIFEST.tsv` (read by inference_api.testing.corpus)
lists 204 files: 71 valid images of the allowed formats (accept: 200 with
predictions) and 133 crashers, bombs, truncated, corrupt and disallowed files
(reject: a 4xx JSON error). Each is
uploaded on its own under its original name, declared as the corpus README
says. A 5xx, a dropped connection or a timeout is always a failure.

The whole corpus also goes through ONE real gunicorn worker, which must
serve all of it and still be the same process at the end. Spoofs of the
valid files (another declared type, another extension) must all be refused.

Sent with no type (an untyped part, or the raw body) every file gets the
answer it gets declared: the bytes decide. Only files that are not JPEG, PNG
or WebP by their magic bytes differ, refused as unsupported, not as a lie.
"""

import mimetypes
from collections import Counter
from http import HTTPStatus
from pathlib import Path

import pytest
import requests

from inference_api.imaging.formats import sniff_format
from inference_api.testing import corpus
from inference_api.testing.http import ANALYZE, MULTIPART_TYPE, multipart
from inference_api.testing.servers import gunicorn_server, status_kb, worker_pids

ALLOWED = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
# For the spoofs: a type and an extension each valid format is not.
OTHER_TYPE = {"JPEG": "image/png", "PNG": "image/webp", "WEBP": "image/jpeg"}
OTHER_EXTENSION = {"JPEG": ".png", "PNG": ".jpg", "WEBP": ".jpg"}
CLIENT_TIMEOUT = 10
# A worker serving the corpus holds the model, torch and one decoded image at a time.
WORKER_PEAK_RSS_LIMIT = 2 * 1024**3


ROWS = corpus.manifest()
VALID = [row for row in ROWS if row["expected"] == "accept"]


def rows_or_missing(rows: list[dict]) -> list:
    """Parameters for the rows; one placeholder when the corpus is absent, so corpus_dir decides."""
    return [pytest.param(row, id=row["file"]) for row in rows] or [pytest.param(None, id="corpus")]


def real_format(row: dict) -> str:
    return row["real_format"].split()[0]


def declared_type(row: dict) -> str:
    """Step 2 of the corpus README: the type matching the real bytes."""
    fmt = real_format(row)
    if fmt in ALLOWED:
        return ALLOWED[fmt]
    return mimetypes.guess_type(row["file"])[0] or "application/octet-stream"


def check_outcome(row: dict, status: int, body: dict, request_id: str) -> str | None:
    """What is wrong with this answer for this row, or None."""
    if row["expected"] == "accept":
        if status != HTTPStatus.OK or not body.get("predictions"):
            return f"expected 200 with predictions, got {status} {body}"
        return None
    if not 400 <= status < 500:
        return f"expected a 4xx, got {status} {body}"
    if set(body) != {"error", "code", "request_id"} or body["request_id"] != request_id:
        return f"not the error contract: {body}"
    return None


# The whole corpus decoded twice (typed and untyped) is ~20 s: in `make test`, not the quick lane.
@pytest.mark.slow
@pytest.mark.django_db
@pytest.mark.parametrize("row", rows_or_missing(ROWS))
def test_each_corpus_file_gets_its_expected_outcome(post_upload, corpus_dir, exported_model, row):
    response = post_upload(corpus.read(row, corpus_dir), row["file"], declared_type(row))
    problem = check_outcome(row, response.status_code, response.json(), response["X-Request-ID"])
    assert problem is None, f"{row['file']} ({row['category']}): {problem}"


def undeclared_outcome(payload: bytes, declared: tuple[int, str]) -> tuple[int, str]:
    """The answer a file sent with no type must get, from the one it gets declared.

    What starts like an accepted format gets the same answer; the rest are
    refused as unsupported (the manifest's real format is Pillow's verdict,
    which may name no format for a file that starts with a PNG signature).
    """
    if sniff_format(payload) is not None:
        return declared
    return HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"


def status_and_code(response) -> tuple[int, str]:
    return response.status_code, response.json().get("code", "")


@pytest.mark.slow
@pytest.mark.django_db
@pytest.mark.parametrize("row", rows_or_missing(ROWS))
def test_each_corpus_file_sent_with_no_type_gets_the_declared_answer(
    client, post_upload, corpus_dir, exported_model, row
):
    payload = corpus.read(row, corpus_dir)
    declared = post_upload(payload, row["file"], declared_type(row))
    untyped_part = client.post(
        ANALYZE, data=multipart(payload, None, row["file"]), content_type=MULTIPART_TYPE
    )
    raw_body = client.post(ANALYZE, data=payload, content_type="application/octet-stream")
    expected = undeclared_outcome(payload, status_and_code(declared))
    for how, response in (("untyped part", untyped_part), ("raw body", raw_body)):
        body, request_id = response.json(), response["X-Request-ID"]
        problem = check_outcome(row, response.status_code, body, request_id)
        assert problem is None, f"{row['file']} as {how}: {problem}"
        assert status_and_code(response) == expected, f"{row['file']} as {how}"


@pytest.mark.django_db
@pytest.mark.parametrize("row", rows_or_missing(VALID))
def test_a_valid_file_declared_as_another_type_is_refused(post_upload, corpus_dir, row):
    fmt = real_format(row)
    response = post_upload(corpus.read(row, corpus_dir), row["file"], OTHER_TYPE[fmt])
    assert response.status_code == HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    assert response.json()["code"] == "content_type_mismatch"


@pytest.mark.django_db
@pytest.mark.parametrize("row", rows_or_missing(VALID))
def test_a_valid_file_named_with_another_extension_is_refused(post_upload, corpus_dir, row):
    fmt = real_format(row)
    name = Path(row["file"]).stem + OTHER_EXTENSION[fmt]
    response = post_upload(corpus.read(row, corpus_dir), name, ALLOWED[fmt])
    assert response.status_code == HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    assert response.json()["code"] == "content_type_mismatch"


def post_live(session: requests.Session, url: str, row: dict, data: bytes) -> str | None:
    """Upload one file to the live server; what went wrong, or None."""
    files = {"file": (row["file"], data, declared_type(row))}
    try:
        response = session.post(url, files=files, timeout=CLIENT_TIMEOUT)
    except requests.RequestException as exc:
        return f"no answer: {type(exc).__name__}: {exc}"
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code} with a body that is not JSON"
    return check_outcome(row, response.status_code, body, response.headers.get("X-Request-ID"))


@pytest.mark.live
@pytest.mark.slow
def test_the_whole_corpus_through_one_gunicorn_worker(corpus_dir, exported_model):
    with gunicorn_server(workers=1, threads=1) as server:
        (worker,) = worker_pids(server.process.pid)
        problems = {}
        with requests.Session() as session:
            for row in ROWS:
                data = corpus.read(row, corpus_dir)
                problem = post_live(session, server.url + ANALYZE, row, data)
                if problem:
                    problems[row["file"]] = problem
        assert worker_pids(server.process.pid) == [worker], "the worker died and was replaced"
        rss = status_kb(worker, "VmHWM") * 1024
        log = server.log()
    assert problems == {}
    assert "WORKER TIMEOUT" not in log and "Traceback" not in log
    assert rss < WORKER_PEAK_RSS_LIMIT, f"worker peak RSS {rss / 2**20:.0f} MiB"


@pytest.mark.live
@pytest.mark.slow
def test_every_rejected_file_sent_untyped_is_refused_by_a_live_worker(corpus_dir, exported_model):
    rejects = [row for row in ROWS if row["expected"] == "reject"]
    outcomes: Counter[str] = Counter()
    problems = {}
    with gunicorn_server(workers=1, threads=1) as server, requests.Session() as session:
        url = server.url + ANALYZE
        for row in rejects:
            payload = corpus.read(row, corpus_dir)
            forms = {
                "untyped part": {"files": {"file": (row["file"], payload)}},
                "raw body": {"data": payload},
            }
            for how, sent in forms.items():
                response = session.post(url, timeout=CLIENT_TIMEOUT, **sent)
                outcomes[f"{response.status_code // 100}xx"] += 1
                try:
                    body = response.json()
                except ValueError:
                    body = {}
                problem = check_outcome(
                    row, response.status_code, body, response.headers.get("X-Request-ID")
                )
                if problem:
                    problems[f"{row['file']} as {how}"] = problem
        log = server.log()
    print(f"{len(rejects)} rejected files, each sent twice untyped: {dict(outcomes)}")
    assert problems == {}
    assert outcomes == {"4xx": 2 * len(rejects)}
    assert "Traceback" not in log
