"""The console's usage page and its actions (plan change, revoke, lift), confirmed and logged."""

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from django.utils import timezone
from rest_framework_api_key.models import APIKey

from inference_api.models import ExtractionFlag, KeyPlan, Plan, UsageDay

pytestmark = pytest.mark.django_db


@pytest.fixture
def customers():
    free = Plan.objects.create(name="free", rate_per_minute=10, requests_per_day=100, top_k=1)
    pro = Plan.objects.create(name="pro", rate_per_minute=600, top_k=5, score_decimals=4)
    heavy, _ = APIKey.objects.create_key(name="heavy-user")
    light, _ = APIKey.objects.create_key(name="light-user")
    KeyPlan.objects.create(api_key=heavy, plan=free)
    KeyPlan.objects.create(api_key=light, plan=pro)
    today = timezone.now().date()
    for back in range(5):
        day = today - timedelta(days=back)
        UsageDay.objects.create(day=day, api_key_id=heavy.pk, outcome="ok", requests=90 - back)
        UsageDay.objects.create(day=day, api_key_id=light.pk, outcome="ok", requests=3)
        UsageDay.objects.create(day=day, api_key_id="", outcome="ok", requests=7)
    UsageDay.objects.create(day=today, api_key_id=heavy.pk, outcome="rate_limited", requests=50)
    return heavy, light, free, pro


def test_the_usage_page_shows_usage_allowances_and_flags(admin_client, customers):
    heavy, light, *_ = customers
    ExtractionFlag.objects.create(
        subject=f"key:{light.pk}", api_key_id=light.pk, queries=40, distinct_images=3,
        queries_per_image=13.3, label_spread=0.1, refusal_rate=0.0,
    )
    page = admin_client.get(reverse("admin:inference_api_usage"))
    assert page.status_code == HTTPStatus.OK
    legend = {label: total for _, label, total in page.context["legend"]}
    assert legend == {"heavy-user": 440 + 50, "light-user": 15, "anonymous": 35}
    (use,) = page.context["allowances"]
    # 90 of 100 today: refusals by the counters themselves spend nothing.
    assert (use.key_name, use.allowance, use.used, use.limit) == (
        "heavy-user", "requests per day", 90, 100,
    )
    html = page.content.decode()
    assert "13.3" in html and reverse("admin:inference_api_key_revoke", args=[light.pk]) in html
    assert 'class="bar s-k0"' in html


def test_a_plan_is_changed_only_once_confirmed_and_is_logged(admin_client, customers):
    heavy, _, free, pro = customers
    url = reverse("admin:inference_api_key_plan", args=[heavy.pk])
    confirm = admin_client.get(url)
    assert confirm.status_code == HTTPStatus.OK and "now on free" in confirm.content.decode()
    assert KeyPlan.objects.get(api_key=heavy).plan == free
    done = admin_client.post(url, {"plan": pro.pk})
    assert done.status_code == HTTPStatus.FOUND
    assert KeyPlan.objects.get(api_key=heavy).plan == pro
    entry = LogEntry.objects.get(object_id=heavy.pk)
    assert entry.change_message == "Plan changed to pro from the console."


def test_a_key_is_revoked_once_confirmed_and_then_refused(admin_client, client, customers):
    heavy, *_ = customers
    url = reverse("admin:inference_api_key_revoke", args=[heavy.pk])
    assert "cannot be undone" in admin_client.get(url).content.decode()
    assert not APIKey.objects.get(pk=heavy.pk).revoked
    admin_client.post(url)
    assert APIKey.objects.get(pk=heavy.pk).revoked
    assert LogEntry.objects.filter(object_id=heavy.pk, change_message__contains="Revoked").exists()


def test_a_flag_is_lifted_once_confirmed(admin_client, customers):
    _, light, *_ = customers
    flag = ExtractionFlag.objects.create(
        subject=f"key:{light.pk}", api_key_id=light.pk, queries=40, distinct_images=3,
        queries_per_image=13.3, label_spread=0.1, refusal_rate=0.0, downgraded=True,
    )
    url = reverse("admin:inference_api_flag_lift", args=[flag.pk])
    assert "carry scores again" in admin_client.get(url).content.decode()
    admin_client.post(url)
    flag.refresh_from_db()
    assert flag.lifted_at is not None and flag.lifted_by.username == "admin"


def test_staff_without_the_permission_cannot_act(client, customers):
    heavy, *_ = customers
    staff = User.objects.create_user("viewer", password="a-long-password-1", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_usageday"))
    client.force_login(staff)
    assert client.get(reverse("admin:inference_api_usage")).status_code == HTTPStatus.OK
    url = reverse("admin:inference_api_key_revoke", args=[heavy.pk])
    assert client.post(url).status_code == HTTPStatus.FORBIDDEN
    assert not APIKey.objects.get(pk=heavy.pk).revoked
