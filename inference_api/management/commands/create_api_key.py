"""manage.py create_api_key NAME: issue an API key and print it, once."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone
from rest_framework_api_key.models import APIKey

from inference_api.models import KeyPlan, Plan

NAME_MAX = APIKey._meta.get_field("name").max_length


class Command(BaseCommand):
    help = (
        "Create an API key named NAME and print it. Only its hash is stored: "
        "the key cannot be shown again. Revoke keys in the admin (API keys)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help=f"who the key is for (at most {NAME_MAX} characters)")
        parser.add_argument(
            "--expires-in-days", type=int, default=None,
            help="make the key expire after this many days (default: never)",
        )
        parser.add_argument(
            "--plan", default=None,
            help="the key's plan, by name (default: DEFAULT_KEY_PLAN's, see the admin's Plans)",
        )

    def handle(
        self, *args, name: str, expires_in_days: int | None, plan: str | None, **options
    ) -> None:
        name = name.strip()
        if not name or len(name) > NAME_MAX:
            raise CommandError(f"NAME must be 1 to {NAME_MAX} characters.")
        if expires_in_days is not None and expires_in_days < 1:
            raise CommandError("--expires-in-days must be at least 1.")
        chosen = None
        if plan is not None:
            chosen = Plan.objects.filter(name=plan).first()
            if chosen is None:
                known = ", ".join(Plan.objects.values_list("name", flat=True)) or "none yet"
                raise CommandError(f"no plan named {plan!r} (plans: {known})")
        expiry = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        with transaction.atomic():
            api_key, key = APIKey.objects.create_key(name=name, expiry_date=expiry)
            if chosen is not None:
                KeyPlan.objects.create(api_key=api_key, plan=chosen)
        on = f", plan {chosen.name}" if chosen else ""
        self.stdout.write(f"Created API key {name!r} (prefix {api_key.prefix}{on}).")
        if expiry:
            self.stdout.write(f"It expires at {expiry.isoformat(timespec='seconds')}.")
        self.stdout.write("Send it as the X-Api-Key header. It is shown only this once:")
        self.stdout.write(key)
