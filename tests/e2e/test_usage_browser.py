"""The usage page in Debian's headless Chromium, after real traffic from keys on plans.

A scraper's key sends a PRADA-style stream (perturbations of three photos)
and is flagged; a free key spends its daily allowance; earlier days' usage
fills the chart. The reviewer opens the usage page under the strict CSP,
sees both, and moves the scraper to a plan with labels only in two clicks.
The screenshot goes to docs/img/admin-usage.png, which docs/admin.md shows.
"""

from datetime import timedelta
from http import HTTPStatus
from pathlib import Path

import pytest
import requests
from django.contrib.auth.models import Permission, User
from django.utils import timezone
from rest_framework_api_key.models import APIKey

from inference_api.models import AuditLog, ExtractionFlag, KeyPlan, Plan, UsageDay
from inference_api.testing.pages import chromium, log_in, with_policy
from inference_api.testing.servers import eventually
from tests.inference_api.audit.test_extraction import perturbation_stream

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
PASSWORD = "a-long-test-password-1"
CSP = "default-src 'self'; script-src 'self'; style-src 'self'"


def send(base_url: str, key: str, payload: bytes) -> requests.Response:
    return requests.post(
        f"{base_url}/api/v1/analyze/",
        files={"file": ("upload.jpg", payload)},
        headers={"X-Api-Key": key, "Connection": "close"},
        timeout=60,
    )


def customers() -> tuple[str, str]:
    free = Plan.objects.create(name="free", rate_per_minute=100, requests_per_day=10, top_k=1)
    pro = Plan.objects.create(name="pro", rate_per_minute=600, top_k=5, score_decimals=4)
    Plan.objects.create(name="labels-only", rate_per_minute=60, top_k=1)
    keys = {}
    for name, plan in (("scraper", pro), ("student", free)):
        api_key, keys[name] = APIKey.objects.create_key(name=name)
        KeyPlan.objects.create(api_key=api_key, plan=plan)
        today = timezone.now().date()
        UsageDay.objects.bulk_create(
            UsageDay(day=today - timedelta(days=n), api_key_id=api_key.pk, outcome="ok",
                     requests=(n * 7) % 23 + 3)
            for n in range(1, 14)
        )
    return keys["scraper"], keys["student"]


def make_reviewer() -> None:
    user = User.objects.create_user("reviewer", password=PASSWORD, is_staff=True)
    codenames = ["view_usageday", "change_apikey", "view_apikey", "change_extractionflag"]
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))


def test_a_reviewer_sees_usage_and_flags_and_changes_a_plan(
    live_server, require_chromium, exported_model
):
    scraper, student = customers()
    make_reviewer()
    for payload in perturbation_stream(20):
        assert send(live_server.url, scraper, payload).status_code == HTTPStatus.OK
    answers = [send(live_server.url, student, perturbation_stream(1)[0]) for _ in range(11)]
    assert [a.status_code for a in answers].count(HTTPStatus.OK) == 10
    # Every row in before the browser starts: the live server writes them after each answer.
    assert eventually(lambda: AuditLog.objects.count() == 31 and ExtractionFlag.objects.exists())
    DOCS_IMG.mkdir(parents=True, exist_ok=True)

    with chromium(require_chromium) as browser:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.route("**/*", with_policy(CSP))
        page = context.new_page()
        violations = []
        page.on(
            "console",
            lambda m: violations.append(m.text) if "Content Security" in m.text else None,
        )
        log_in(page, live_server.url, "reviewer", PASSWORD)
        page.goto(f"{live_server.url}/admin/inference_api/usageday/page/")
        page.wait_for_selector("svg.chart rect.bar")
        seen = {
            "legend": page.inner_text("ul.legend"),
            "allowances": page.inner_text("#allowances"),
            "flags": page.inner_text("#flags"),
        }
        page.screenshot(path=str(DOCS_IMG / "admin-usage.png"), full_page=True)
        page.click("#flags a:text('change plan…')")
        page.select_option("select[name=plan]", label="labels-only")
        page.click("input[name=confirm]")
        page.wait_for_load_state()
        seen["message"] = page.inner_text("ul.messagelist")
        context.close()

    assert "scraper" in seen["legend"] and "student" in seen["legend"]
    assert "student" in seen["allowances"] and "requests per day" in seen["allowances"]
    assert "scraper" in seen["flags"] and "as the plan" in seen["flags"]
    assert seen["message"].lower() == "scraper is now on the labels-only plan."
    assert KeyPlan.objects.get(api_key__name="scraper").plan.name == "labels-only"
    assert violations == []
