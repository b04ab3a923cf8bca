"""Pages for the browser tests: a folder served on a loopback origin, and Debian's Chromium.

A page served from its own origin calls the API on another, so the browser
applies CORS as it would for a real site.
"""

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from . import lanes
from .services import CHROMIUM_ARGS


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass


@contextmanager
def page_server(root: Path) -> Iterator[str]:
    """Serve `root` on a free loopback port; yields the origin."""
    handler = functools.partial(QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def chromium(executable: str) -> Iterator:
    """Debian's Chromium, headless, driven by Playwright (which never downloads a browser)."""
    lanes.require("browser", "Chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            browser.close()


def with_policy(csp: str):
    """A Playwright route handler that serves every page under `csp`, as production does."""

    def route(request_route) -> None:
        response = request_route.fetch()
        headers = {**response.headers, "content-security-policy": csp}
        request_route.fulfill(response=response, headers=headers)

    return route


def log_in(page, base_url: str, username: str, password: str) -> None:
    """Log in through the admin's own form."""
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_load_state()
