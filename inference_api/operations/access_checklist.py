"""Checklist items on access: who can reach gunicorn and the admin, and what a client may leave.

gunicorn only behind its proxy; the admin's login lockout, two-factor login
and networks; the Content-Security-Policy of its pages; the quarantine's
budgets per client. Each is a function of the live configuration returning
a Verdict, listed in checklist.CHECKLIST with the others.
"""

import ipaddress

from django.conf import settings

from ..admission.clients import parse_networks
from .verdicts import Verdict, failed, passed, warned

AXES_BACKEND = "axes.backends.AxesStandaloneBackend"
AXES_MIDDLEWARE = "axes.middleware.AxesMiddleware"
AXES_LOCKOUT_PARAMETERS = "inference_api.console.lockout.lockout_parameters"
CSP_MIDDLEWARE = "csp.middleware.CSPMiddleware"
MAX_LOGIN_FAILURES = 20
UNSAFE_SCRIPT_SOURCES = frozenset({"'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:"})


def bind_host(bind: str) -> str | None:
    """The host part of a gunicorn bind address; None for a Unix socket or fd.

    `0.0.0.0:8000` -> `0.0.0.0`, `[::1]:8000` -> `::1`, `unix:/run/app.sock` -> None.
    """
    if bind.startswith(("unix:", "fd://")):
        return None
    if bind.startswith("["):
        return bind[1:].partition("]")[0]
    return bind.rpartition(":")[0] if ":" in bind else bind


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_gunicorn_behind_proxy() -> Verdict:
    """gunicorn is reachable only by its proxy: loopback, or TRUSTED_PROXIES set.

    Sync workers are held for as long as a slow client dribbles its request:
    only the proxy (deploy/nginx.conf) protects them, so gunicorn must never
    be published on its own.
    """
    bind = settings.GUNICORN_BIND
    host = bind_host(bind)
    if host is None or is_loopback(host):
        return passed(f"{bind}: reachable from this host only")
    if not settings.TRUSTED_PROXIES:
        return failed(f"GUNICORN_BIND={bind} is published without a proxy (TRUSTED_PROXIES empty)")
    return passed(f"{bind}, behind {', '.join(settings.TRUSTED_PROXIES)}")


def check_admin_lockout() -> Verdict:
    """django-axes locks out an address, and a username from that address, after repeated
    failed logins; never a username alone (anyone could lock staff out with it)."""
    if settings.AXES_LOCKOUT_PARAMETERS != AXES_LOCKOUT_PARAMETERS:
        return failed(
            f"AXES_LOCKOUT_PARAMETERS is not {AXES_LOCKOUT_PARAMETERS}: a lockout by username "
            "alone lets anyone lock staff out"
        )
    if AXES_BACKEND not in settings.AUTHENTICATION_BACKENDS[:1]:
        return failed(f"{AXES_BACKEND} is not the first authentication backend")
    if AXES_MIDDLEWARE not in settings.MIDDLEWARE:
        return failed(f"{AXES_MIDDLEWARE} is not installed")
    limit = settings.AXES_FAILURE_LIMIT
    if not 0 < limit <= MAX_LOGIN_FAILURES:
        return failed(f"ADMIN_LOGIN_FAILURE_LIMIT={limit} is not in 1..{MAX_LOGIN_FAILURES}")
    if not settings.AXES_COOLOFF_TIME:
        return failed("ADMIN_LOGIN_COOLOFF_MINUTES is 0: a lockout would never lift")
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return passed(
        f"after {limit} failures, by address (IPv6 /64) and by username at that address, "
        f"for {minutes} min"
    )


def check_admin_2fa() -> Verdict:
    """Staff log in with a TOTP token (ADMIN_REQUIRE_2FA); a warning when off."""
    if settings.ADMIN_REQUIRE_2FA:
        return passed("TOTP token required for staff")
    return warned("off: staff log in with a password alone (set ADMIN_REQUIRE_2FA=true)")


def check_admin_networks() -> Verdict:
    """Who may reach /admin/ (ADMIN_ALLOWED_NETWORKS; empty = anyone)."""
    try:
        networks = parse_networks(settings.ADMIN_ALLOWED_NETWORKS)
    except ValueError as exc:
        return failed(f"ADMIN_ALLOWED_NETWORKS has a malformed network ({exc})")
    if not networks:
        return passed("any address (rate-limited and locked out on failures)")
    return passed(", ".join(str(network) for network in networks))


def check_content_security_policy() -> Verdict:
    """HTML pages carry a Content-Security-Policy that forbids inline script."""
    if CSP_MIDDLEWARE not in settings.MIDDLEWARE:
        return failed(f"{CSP_MIDDLEWARE} is not installed")
    directives = getattr(settings, "CONTENT_SECURITY_POLICY", {}).get("DIRECTIVES", {})
    scripts = directives.get("script-src") or directives.get("default-src") or []
    if not scripts:
        return failed("no script-src nor default-src: any script may run")
    unsafe = sorted(UNSAFE_SCRIPT_SOURCES & set(scripts))
    if unsafe:
        return failed(f"script-src allows {', '.join(unsafe)}")
    return passed(f"script-src {' '.join(scripts)}")


def check_quarantine_budgets() -> Verdict:
    """The quarantine's budgets are set and fair: per client below the total, a daily row cap."""
    total = settings.QUARANTINE_MAX_BYTES
    per_client = settings.QUARANTINE_MAX_BYTES_PER_CLIENT
    rows = settings.QUARANTINE_MAX_FLAGGED_PER_CLIENT_PER_DAY
    if total <= 0 or per_client <= 0 or rows <= 0:
        return failed("QUARANTINE_MAX_BYTES and the per-client budgets must be > 0")
    if per_client > total:
        return failed(f"QUARANTINE_MAX_BYTES_PER_CLIENT={per_client} is over the total {total}")
    return passed(
        f"{total} bytes (oldest evicted first, warned at 80%), {per_client} and "
        f"{rows} flagged rows a day per client"
    )
