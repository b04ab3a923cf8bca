"""Content-Security-Policy in Debian's headless Chromium: pages work, injected script does not.

The admin's login and Swagger UI (/api/docs/, which must fetch and render the
schema) run under the policy with no violation; a script injected inline, as
an XSS would, is refused by the browser.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from inference_api.testing.services import CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]

INJECTED = "window.injectedRan = true;"


@contextmanager
def page_with_violations(executable: str) -> Iterator[tuple[object, list[str]]]:
    """A page and the CSP violations the browser reported on it (console errors)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=list(CHROMIUM_ARGS)
        )
        page = browser.new_page()
        violations: list[str] = []
        page.on(
            "console",
            lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text
            else None,
        )
        try:
            yield page, violations
        finally:
            browser.close()


def inject_inline_script(page) -> bool:
    """Add an inline <script> to the page as markup would; whether it ran."""
    page.evaluate(
        """(code) => {
            const script = document.createElement('script');
            script.textContent = code;
            document.body.appendChild(script);
        }""",
        INJECTED,
    )
    return page.evaluate("() => window.injectedRan === true")


def test_the_admin_login_renders_and_refuses_injected_script(live_server, require_chromium):
    with page_with_violations(require_chromium) as (page, violations):
        response = page.goto(f"{live_server.url}/admin/login/")
        header = response.headers["content-security-policy"]
        form_visible = page.is_visible("#id_username")
        styled = page.evaluate(
            "() => getComputedStyle(document.querySelector('#header')).display !== 'inline'"
        )
        clean_violations = list(violations)
        ran = inject_inline_script(page)
        page.wait_for_timeout(200)
    assert "script-src 'self'" in header and "unsafe-inline" not in header
    assert form_visible and styled, "the admin's own scripts and styles load"
    assert clean_violations == []
    assert not ran
    assert any("script-src" in line for line in violations), violations


def test_swagger_ui_loads_the_schema_and_refuses_injected_script(live_server, require_chromium):
    with page_with_violations(require_chromium) as (page, violations):
        page.goto(f"{live_server.url}/api/docs/")
        page.wait_for_selector("text=/api/v1/analyze/", timeout=30_000)
        title = page.inner_text(".swagger-ui .info .title")
        margin = page.evaluate("() => getComputedStyle(document.body).margin")
        clean_violations = list(violations)
        ran = inject_inline_script(page)
        page.wait_for_timeout(200)
    assert "Image classification API" in title
    assert margin == "0px", "the page's own stylesheet loads"
    assert clean_violations == []
    assert not ran
