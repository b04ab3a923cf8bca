"""The reviewer's console in Debian's headless Chromium, against a live server.

Real uploads (good photos, bombs, spoofed types) reach the API over HTTP from
several addresses (through a trusted proxy's X-Forwarded-For); a reviewer
then opens the overview, blocks one offender from it and another from a
flagged upload in two clicks, and both offenders' next requests get 403
`blocked` while a bystander's do not. Every response is served with the
strict Content-Security-Policy the admin is meant to run under, and the test
fails on any violation Chromium reports.

The screenshots go to docs/img/, where docs/admin.md shows them.
"""

import io
from datetime import timedelta
from http import HTTPStatus
from pathlib import Path

import pytest
import requests
from django.utils import timezone
from PIL import Image

from inference_api.models import AuditLog, BlockedClient, FlaggedUpload
from inference_api.testing.factories import (
    REVIEWER_PERMISSIONS,
    audit_rows_create,
    reviewer_user,
    use_tmp_quarantine,
)
from inference_api.testing.images.uploads import png_declaring
from inference_api.testing.pages import chromium, log_in, with_policy
from inference_api.testing.servers import eventually

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
PASSWORD = "a-long-test-password-1"
CSP = "default-src 'self'; script-src 'self'; style-src 'self'"
BOMBER = "198.51.100.66"  # blocked from the overview
SPOOFER = "203.0.113.45"  # blocked from its flagged upload
BYSTANDER = "192.0.2.10"


def photo(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (224, 224), colour).save(buffer, "JPEG")
    return buffer.getvalue()


def upload(base_url: str, ip: str, payload: bytes, content_type: str) -> requests.Response:
    files = {"file": ("upload", payload, content_type)}
    headers = {"Connection": "close", "X-Forwarded-For": ip}
    return requests.post(f"{base_url}/api/v1/analyze/", files=files, headers=headers, timeout=60)


def send_traffic(base_url: str) -> None:
    """A mix of good and hostile uploads, from three addresses; returns once all are audited."""
    bomb = png_declaring(25_000, 25_000, zero_bytes=1_000_000)
    sent = []
    for n in range(4):
        ok = upload(base_url, BYSTANDER, photo((40 * n, 120, 200)), "image/jpeg")
        assert ok.status_code == HTTPStatus.OK, ok.text
        sent.append(ok)
    for _ in range(4):
        sent.append(upload(base_url, BOMBER, bomb, "image/png"))
        assert sent[-1].status_code == 422
    for n in range(2):
        sent.append(upload(base_url, SPOOFER, photo((n, 0, 0)), "image/png"))
        assert sent[-1].status_code == HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    ids = [response.headers["X-Request-ID"] for response in sent]
    assert eventually(lambda: AuditLog.objects.filter(request_id__in=ids).count() == len(ids))


def add_history() -> None:
    """Earlier traffic over the last day, so the 24-hour chart has bars to show."""
    now = timezone.now()
    outcomes = [(200, "ok")] * 6 + [
        (415, "unsupported_media_type"),
        (422, "invalid_image"),
        (429, "rate_limited"),
        (404, "not_found"),
        (503, "overloaded"),
    ]
    audit_rows_create(
        38,
        lambda n: {
            "created_at": now - timedelta(minutes=37 * n),
            "request_id": f"history-{n}",
            "client_ip": f"192.0.2.{100 + n % 5}",
            "status": outcomes[n % len(outcomes)][0],
            "outcome": outcomes[n % len(outcomes)][1],
            "count": 1 + n % 3,
        },
        latency_ms=40,
    )


def make_reviewer() -> None:
    # This reviewer may add a block but not edit one.
    reviewer_user(password=PASSWORD, permissions=REVIEWER_PERMISSIONS[:-1])


def review(browser, base_url: str, spoof_id: int) -> dict:
    """The reviewer's clicks; what the pages said, and every CSP violation reported."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.route("**/*", with_policy(CSP))
    page = context.new_page()
    violations = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    log_in(page, base_url, "reviewer", PASSWORD)
    seen = {"landing": page.inner_text(".review-queue"), "header": page.inner_text("#header")}
    page.click("a[href$='/auditlog/overview/']")
    page.wait_for_selector("svg.chart rect.bar")
    seen["bars"] = page.locator("svg.chart rect.bar").count()
    seen["legend"] = page.inner_text("ul.legend")
    page.screenshot(path=str(DOCS_IMG / "admin-overview.png"), full_page=True)

    # Block the bomber from the overview: its Block button, then the confirmation.
    page.click(f"#top-flagged a.block-button[href*='networks={BOMBER}']")
    page.wait_for_selector("input[name=confirm]")
    page.screenshot(path=str(DOCS_IMG / "admin-block-confirmation.png"), full_page=True)
    page.select_option("select[name=expires_in]", "1h")
    page.click("input[name=confirm]")
    page.wait_for_load_state()
    seen["from_overview"] = page.inner_text("ul.messagelist")

    # Block the spoofer from its flagged upload: two clicks.
    page.goto(f"{base_url}/admin/inference_api/flaggedupload/{spoof_id}/change/")
    page.screenshot(path=str(DOCS_IMG / "admin-flagged-upload.png"), full_page=True)
    page.click("a.block-button")
    page.click("input[name=confirm]")
    page.wait_for_load_state()
    seen["from_upload"] = page.inner_text("ul.messagelist")
    seen["violations"] = violations
    context.close()
    return seen


def test_a_reviewer_sees_the_overview_and_blocks_offenders_in_two_clicks(
    live_server, settings, tmp_path, require_chromium, exported_model
):
    use_tmp_quarantine(settings, tmp_path / "quarantine")
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    make_reviewer()
    send_traffic(live_server.url)
    add_history()
    spoof = FlaggedUpload.objects.filter(audit__client_ip=SPOOFER).first()
    DOCS_IMG.mkdir(parents=True, exist_ok=True)

    with chromium(require_chromium) as browser:
        seen = review(browser, live_server.url, spoof.pk)

    assert seen["violations"] == []
    assert "review console" in seen["header"]
    assert "6 flagged uploads await review" in seen["landing"]
    assert seen["bars"] > 10
    assert "accepted" in seen["legend"] and "422" in seen["legend"]
    assert f"Blocked 1 network(s): {BOMBER}/32" in seen["from_overview"]
    assert f"Blocked 1 network(s): {SPOOFER}/32" in seen["from_upload"]
    blocks = {b.network: b for b in BlockedClient.objects.all()}
    assert set(blocks) == {f"{BOMBER}/32", f"{SPOOFER}/32"}
    assert blocks[f"{SPOOFER}/32"].reason == f"flagged upload #{spoof.pk}: content_type_mismatch"
    for name in ("admin-overview", "admin-block-confirmation", "admin-flagged-upload"):
        assert (DOCS_IMG / f"{name}.png").stat().st_size > 10_000
    for ip in (BOMBER, SPOOFER):
        refused = upload(live_server.url, ip, photo((1, 2, 3)), "image/jpeg")
        assert (refused.status_code, refused.json()["code"]) == (HTTPStatus.FORBIDDEN, "blocked")
    assert upload(live_server.url, BYSTANDER, photo((9, 9, 9)), "image/jpeg").status_code == 200
