"""The admin site: staff log in with a password and, when ADMIN_REQUIRE_2FA is on, a TOTP token.

django-otp's OTPAdminSite always asks for a token; this one asks only when the
setting says so, read at each request, so the same site serves both modes.
Devices are enrolled in the admin (django-otp's "TOTP devices"), by a
superuser, before the setting is turned on.
"""

from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import HttpRequest
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite


class StaffAdminSite(OTPAdminSite):
    """OTPAdminSite whose token requirement follows ADMIN_REQUIRE_2FA."""

    @property
    def login_form(self) -> type[AdminAuthenticationForm]:
        return OTPAdminAuthenticationForm if settings.ADMIN_REQUIRE_2FA else AdminAuthenticationForm

    @property
    def login_template(self) -> str | None:
        return OTPAdminSite.login_template if settings.ADMIN_REQUIRE_2FA else None

    def has_permission(self, request: HttpRequest) -> bool:
        """Active staff; with ADMIN_REQUIRE_2FA, also verified by a device at this login."""
        if settings.ADMIN_REQUIRE_2FA:
            return super().has_permission(request)
        return AdminSite.has_permission(self, request)


def use_staff_admin_site(site: AdminSite) -> None:
    """Turn Django's default admin site into a StaffAdminSite, keeping its registrations."""
    site.__class__ = StaffAdminSite
