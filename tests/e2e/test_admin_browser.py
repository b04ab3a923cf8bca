"""The review workflow in Debian's headless Chromium against a live server.

A hostile upload is sent over HTTP to the API; a reviewer then logs in to the
admin, finds it, marks it malicious, blocks its client and downloads it as an
attachment. A non-staff user and an anonymous visitor reach none of it.

Django's ORM is used only before and after the browser runs: Playwright's
sync API keeps an event loop in this thread, where Django refuses ORM calls.
"""

import io
from http import HTTPStatus
from pathlib import Path

import pytest
import requests
from django.contrib.auth.models import Permission, User
from PIL import Image

from inference_api.models import BlockedClient, FlaggedUpload
from inference_api.testing.factories import use_tmp_quarantine
from inference_api.testing.servers import eventually
from inference_api.testing.services import CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
PASSWORD = "a-long-test-password-1"


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 200, 10)).save(buffer, "PNG")
    return buffer.getvalue()


def send_spoofed_upload(base_url: str, payload: bytes) -> requests.Response:
    """A PNG declared as JPEG: refused (415) and quarantined."""
    files = {"file": ("holiday.jpg", payload, "image/jpeg")}
    # Connection: close, so the server's thread is done before the test ends
    # (a keep-alive thread outliving the test would touch a torn-down database).
    headers = {"Connection": "close"}
    return requests.post(f"{base_url}/api/v1/analyze/", files=files, headers=headers, timeout=30)


def make_users() -> None:
    reviewer = User.objects.create_user("reviewer", password=PASSWORD, is_staff=True)
    codenames = ["view_auditlog", "view_flaggedupload", "change_flaggedupload", "add_blockedclient"]
    reviewer.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    customer = User.objects.create_user("customer", password=PASSWORD)
    customer.user_permissions.set(Permission.objects.filter(codename__in=codenames))


def log_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_load_state()


def apply_action(page, upload_id: int, action: str) -> str:
    page.check(f"input[name=_selected_action][value='{upload_id}']")
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")
    page.wait_for_load_state()
    return page.inner_text("ul.messagelist")


def review_as_staff(browser, base_url: str, upload_id: int, payload: bytes, shot: Path) -> dict:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1600, "height": 900})
    page = context.new_page()
    log_in(page, base_url, "reviewer")
    page.click("a[href$='/admin/inference_api/flaggedupload/']")
    page.wait_for_selector(f"input[name=_selected_action][value='{upload_id}']")
    page.screenshot(path=str(shot), full_page=True)
    seen = {"malicious": apply_action(page, upload_id, "mark_malicious")}
    page.check(f"input[name=_selected_action][value='{upload_id}']")
    page.select_option("select[name=action]", "block_client")
    page.click("button[name=index]")
    page.click("input[name=confirm]")  # the confirmation page: networks, expiry, reason
    page.wait_for_load_state()
    seen["blocked"] = page.inner_text("ul.messagelist")
    page.click(f"a[href$='/admin/inference_api/flaggedupload/{upload_id}/change/']")
    link = page.locator("a", has_text="the raw bytes (.bin)")
    href = link.get_attribute("href")
    link.click()  # a page that says what the bytes are; only its button sends them
    page.wait_for_selector("input[name=confirm]")
    seen["warning"] = page.inner_text("#content")
    with page.expect_download() as info:
        page.click("input[name=confirm]")
    download = info.value
    seen["filename"] = download.suggested_filename
    seen["downloaded"] = Path(download.path()).read_bytes()
    seen["get"] = context.request.get(f"{base_url}{href}").headers["content-type"]
    token = page.context.cookies(base_url)
    csrf = next(c["value"] for c in token if c["name"] == "csrftoken")
    response = context.request.post(
        f"{base_url}{href}", headers={"X-CSRFToken": csrf, "Referer": f"{base_url}{href}"}
    )
    seen["headers"] = response.headers
    seen["body"] = response.body()
    context.close()
    return seen


def probe_as_outsider(browser, base_url: str, upload_id: int, username: str | None) -> list:
    """Where each admin URL left a visitor who is not staff: (url, final url, status)."""
    context = browser.new_context(accept_downloads=False)
    page = context.new_page()
    if username:
        log_in(page, base_url, username)
    landed = []
    for path in [
        f"/admin/inference_api/flaggedupload/{upload_id}/download/",
        "/admin/inference_api/flaggedupload/",
        f"/admin/inference_api/flaggedupload/{upload_id}/change/",
        "/admin/inference_api/auditlog/",
    ]:
        response = page.goto(f"{base_url}{path}")
        landed.append((path, page.url, response.status, page.content()))
    context.close()
    return landed


def test_a_reviewer_reviews_blocks_and_downloads_and_outsiders_cannot(
    live_server, settings, tmp_path, require_chromium, record_property
):
    from playwright.sync_api import sync_playwright

    use_tmp_quarantine(settings, tmp_path / "quarantine")
    make_users()
    payload = png_bytes()
    refused = send_spoofed_upload(live_server.url, payload)
    assert refused.status_code == HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    assert eventually(FlaggedUpload.objects.exists)  # audited once the answer is sent
    upload = FlaggedUpload.objects.select_related("audit").get()
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "admin-flagged-uploads.png"

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=require_chromium, headless=True, args=list(CHROMIUM_ARGS)
        )
        staff = review_as_staff(browser, live_server.url, upload.pk, payload, shot)
        outsiders = probe_as_outsider(browser, live_server.url, upload.pk, "customer")
        outsiders += probe_as_outsider(browser, live_server.url, upload.pk, None)
        browser.close()
    record_property("screenshot", str(shot))
    print(f"screenshot of the flagged-upload list: {shot}")

    assert shot.stat().st_size > 0
    assert "marked reviewed-malicious" in staff["malicious"]
    assert "Blocked 1 network(s)" in staff["blocked"]
    assert "only in a sandbox" in staff["warning"]
    assert staff["get"].startswith("text/html")  # following the link alone sends no bytes
    assert staff["downloaded"] == payload and staff["body"] == payload
    assert staff["filename"].startswith(f"flagged-{upload.pk}-")
    assert staff["filename"].endswith(".bin")
    assert staff["headers"]["content-type"] == "application/octet-stream"
    assert staff["headers"]["x-content-type-options"] == "nosniff"
    assert staff["headers"]["content-disposition"].startswith("attachment;")
    upload.refresh_from_db()
    assert upload.review_status == FlaggedUpload.Review.MALICIOUS
    assert upload.reviewed_by.username == "reviewer"
    assert BlockedClient.objects.get().network == f"{upload.audit.client_ip}/32"
    for path, final_url, status, content in outsiders:
        assert "/admin/login/" in final_url, path
        assert status == HTTPStatus.OK, path  # the login form, nothing else
        assert upload.sha256 not in content, path
    assert send_spoofed_upload(live_server.url, payload).status_code == HTTPStatus.FORBIDDEN
