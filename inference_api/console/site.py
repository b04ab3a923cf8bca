"""The admin site: staff log in with a password and, when ADMIN_REQUIRE_2FA is on, a TOTP token.

Its home page also warns when the quarantine is nearly full (quarantine_budget),
and when the automatic blocks near AUTO_BLOCK_MAX_IN_FORCE (autoblock).

django-otp's OTPAdminSite always asks for a token; this one asks only when the
setting says so, read at each request, so the same site serves both modes.
Devices are enrolled in the admin (django-otp's "TOTP devices"), by a
superuser, before the setting is turned on.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import HttpRequest, HttpResponse
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite


class StaffAdminSite(OTPAdminSite):
    """OTPAdminSite whose token requirement follows ADMIN_REQUIRE_2FA."""

    @property
    def login_form(self) -> type[AdminAuthenticationForm]:
        return OTPAdminAuthenticationForm if settings.ADMIN_REQUIRE_2FA else AdminAuthenticationForm

    @property
    def login_template(self) -> str | None:
        return OTPAdminSite.login_template if settings.ADMIN_REQUIRE_2FA else None

    def index(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        """The admin's home page, warning when the quarantine or the automatic blocks near full."""
        # The models are not ready when this module loads.
        from ..audit import autoblock, quarantine_budget

        blocks = autoblock.capacity()
        if blocks.nearly_full:
            messages.warning(
                request,
                f"Automatic blocks are {blocks.ratio:.0%} full ({blocks.in_force} of "
                f"{blocks.limit} in force): at the limit, clients that keep sending hostile "
                "uploads are no longer blocked. Look for the attack in the overview, block "
                "its networks, or raise AUTO_BLOCK_MAX_IN_FORCE.",
            )
        current = quarantine_budget.usage()
        if current.nearly_full:
            messages.warning(
                request,
                f"The quarantine is {current.ratio:.0%} full ({current.used} of "
                f"{current.budget} bytes): the oldest unreviewed files are evicted to "
                "make room. Review and purge, or raise QUARANTINE_MAX_BYTES.",
            )
        return super().index(request, extra_context)

    def has_permission(self, request: HttpRequest) -> bool:
        """Active staff; with ADMIN_REQUIRE_2FA, also verified by a device at this login."""
        if settings.ADMIN_REQUIRE_2FA:
            return super().has_permission(request)
        return AdminSite.has_permission(self, request)


def use_staff_admin_site(site: AdminSite) -> None:
    """Turn Django's default admin site into a StaffAdminSite, keeping its registrations."""
    site.__class__ = StaffAdminSite
