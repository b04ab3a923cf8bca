"""manage.py preflight: walk the pre-traffic checklist against the live configuration."""

from django.core import checks as django_checks
from django.core.management.base import BaseCommand, CommandError

from inference_api.operations.checklist import CHECKLIST, Verdict, run_item

PASS_MARK = "✓"  # noqa: S105 - a check mark, not a password
FAIL_MARK = "✗"
WARN_MARK = "!"


class Command(BaseCommand):
    help = (
        "Check the pre-traffic checklist (DESIGN.md) against this process's configuration: "
        "one line per item, exit status 1 if any fails."
    )
    # Our own items are the subject; Django's checks would stop us before printing them.
    requires_system_checks: list[str] = []

    def handle(self, *args, **options) -> None:
        failures = []
        results = [(item.title, run_item(item)) for item in CHECKLIST]
        results.append(("Django's deploy checks", django_deploy_checks()))
        for title, verdict in results:
            self.stdout.write(self._line(title, verdict))
            if not verdict.ok:
                failures.append(title)
        if failures:
            raise CommandError(f"{len(failures)} item(s) failed: {', '.join(failures)}")
        self.stdout.write(f"All {len(results)} items passed.")

    def _line(self, title: str, verdict: Verdict) -> str:
        """One item: ✓ passed, ! passed with a warning (not a failure), ✗ failed."""
        if not verdict.ok:
            return self.style.ERROR(f"{FAIL_MARK} {title}: {verdict.detail}")
        if verdict.warning:
            return self.style.WARNING(f"{WARN_MARK} {title}: {verdict.detail}")
        return self.style.SUCCESS(f"{PASS_MARK} {title}: {verdict.detail}")


def django_deploy_checks() -> Verdict:
    """Django's own security checks (headers, HSTS, cookies, hosts) at warning level or worse."""
    messages = django_checks.run_checks(
        include_deployment_checks=True, tags=[django_checks.Tags.security]
    )
    problems = [
        message.id
        for message in messages
        if message.level >= django_checks.WARNING and not message.is_silenced()
    ]
    if problems:
        return Verdict(False, ", ".join(sorted(problems)) + " (see manage.py check --deploy)")
    return Verdict(True, "security headers, HTTPS, cookies and hosts all set")
