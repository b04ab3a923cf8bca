"""What the API keeps: the audit trail, quarantined uploads, blocked clients.

Every value in these rows came from a client or was derived from what a client
sent: it is shown in the admin escaped, and quarantined bytes are never decoded.
"""

import ipaddress
from datetime import datetime
from functools import cached_property

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .context import UploadForm


class AuditLog(models.Model):
    """One request to the API, whatever its outcome.

    Floods of cheap refusals (`rate_limited`, `blocked`, ...: see
    audit.trail.AGGREGATED_OUTCOMES) are aggregated: one
    row per client per window, `count` requests, `created_at` the first of them
    and `last_seen_at` the latest. `aggregate_key` is what makes that row unique
    (client key and window); it is NULL for every ordinary row.

    The API key is kept as the key's id in text, not a foreign key: deleting or
    revoking a key must not rewrite who made a request.
    """

    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    request_id = models.CharField(max_length=64)
    client_ip = models.GenericIPAddressField()
    # The bucket the client is counted in (its address, or its IPv6 /64).
    client_key = models.CharField(max_length=64, blank=True)
    api_key_id = models.CharField(max_length=150, blank=True)
    path = models.CharField(max_length=200)
    status = models.PositiveSmallIntegerField()
    outcome = models.CharField(max_length=40)
    # The file's type as the client sent it (the part's or the raw body's), cut to 100.
    declared_content_type = models.CharField(max_length=100, blank=True)
    # How the image came: UploadForm (multipart or raw); blank when none was received.
    upload_via = models.CharField(
        max_length=10, blank=True, choices=[(form.value, form.value) for form in UploadForm]
    )
    detected_format = models.CharField(max_length=10, blank=True)
    bytes_received = models.PositiveBigIntegerField(default=0)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    top_label = models.CharField(max_length=100, blank=True)
    top_score = models.FloatField(null=True, blank=True)
    model_version = models.CharField(max_length=40, blank=True)
    # A 64-bit difference hash of the model's input square, in hex: near-duplicate
    # queries (a model-extraction signal) differ in few of its bits.
    fingerprint = models.CharField(max_length=16, blank=True)
    latency_ms = models.FloatField()
    user_agent = models.CharField(max_length=256, blank=True)
    count = models.PositiveIntegerField(default=1)
    aggregate_key = models.CharField(max_length=120, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["created_at"], name="audit_created_idx"),
            models.Index(fields=["outcome", "created_at"], name="audit_outcome_idx"),
            models.Index(fields=["status", "created_at"], name="audit_status_idx"),
            models.Index(fields=["client_ip"], name="audit_client_ip_idx"),
            models.Index(fields=["sha256"], name="audit_sha256_idx"),
            models.Index(fields=["request_id"], name="audit_request_id_idx"),
            # The overview's GROUP BYs over a window (PostgreSQL answers them
            # from this index alone) and one client's rows, newest first.
            models.Index(
                fields=["created_at", "status", "client_key", "count"], name="audit_console_idx"
            ),
            models.Index(fields=["client_key", "created_at"], name="audit_client_key_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(count__gte=1), name="audit_count_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.client_ip} {self.status} {self.outcome}"


# What a quarantined file holds in storage: the upload's bytes and its preview's.
KEPT_BYTES = models.F("size") + models.F("preview_size")


class QuarantinedFile(models.Model):
    """One distinct flagged upload's bytes in the `quarantine` storage.

    Deduplicated by SHA-256: every FlaggedUpload with the same bytes points
    here. `storage_name` is random, so nothing a client sent (its filename)
    reaches the storage. `client_key` is the client that first sent the bytes,
    the one whose quarantine budget they count against.
    """

    sha256 = models.CharField(max_length=64, unique=True)
    storage_name = models.CharField(max_length=200, unique=True)
    # What the model saw, as a PNG we encoded (audit.preview); blank when there is none.
    # Its bytes count against the quarantine's budgets with the upload's (KEPT_BYTES).
    preview_name = models.CharField(max_length=200, blank=True)
    preview_size = models.PositiveIntegerField(default=0)
    size = models.PositiveBigIntegerField()
    client_key = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.sha256[:12]} ({self.size} bytes)"


class FlaggedUpload(models.Model):
    """A rejection that looked hostile, kept for a person to review.

    `file` is NULL when the bytes were not kept: `not_stored` says why (a
    quarantine budget was spent, the storage failed, no bytes had been read).
    """

    class Review(models.TextChoices):
        NEW = "new", "new"
        BENIGN = "reviewed-benign", "reviewed: benign"
        MALICIOUS = "reviewed-malicious", "reviewed: malicious"

    class NotStored(models.TextChoices):
        STORED = "", "stored"
        TOTAL_BUDGET = "total_budget", "total quarantine budget spent"
        CLIENT_BUDGET = "client_budget", "client's quarantine budget spent"
        STORAGE_ERROR = "storage_error", "storage failed"
        EVICTED = "evicted", "evicted (oldest first) when the quarantine was full"
        NO_BYTES = "no_bytes", "no bytes were read"

    audit = models.OneToOneField(AuditLog, on_delete=models.CASCADE, related_name="flagged")
    reason = models.CharField(max_length=40, db_index=True)
    sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    size = models.PositiveBigIntegerField(default=0)
    detected_format = models.CharField(max_length=10, blank=True)
    file = models.ForeignKey(
        QuarantinedFile,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="uploads",
    )
    not_stored = models.CharField(
        "bytes kept",
        max_length=20,
        blank=True,
        choices=NotStored.choices,
        default=NotStored.STORED,
    )
    review_status = models.CharField(
        max_length=20, choices=Review.choices, default=Review.NEW, db_index=True
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.reason} {self.sha256[:12]}"

    def mark_reviewed(self, status: str, user) -> None:
        """Record a person's verdict (not saved: the caller saves)."""
        self.review_status = status
        self.reviewed_by = user
        self.reviewed_at = timezone.now()


def validate_network(value: str) -> None:
    """A single address or a CIDR network, IPv4 or IPv6."""
    try:
        ipaddress.ip_network(value.strip(), strict=False)
    except ValueError as exc:
        raise ValidationError(
            "Enter an IP address or a network in CIDR form (203.0.113.0/24, 2001:db8::/48).",
            code="invalid_network",
        ) from exc


def normalize_network(value: str) -> str:
    """The canonical text of a network: host bits cleared, prefix always written."""
    return str(ipaddress.ip_network(value.strip(), strict=False))


class BlockedClientQuerySet(models.QuerySet):
    """Blocks by whether they refuse clients: `BlockedClient.objects.in_force()`."""

    @staticmethod
    def in_force_condition(now: datetime | None = None) -> Q:
        """What "in force" means: active, and not past `expires_at` (NULL: no expiry)."""
        now = now or timezone.now()
        return Q(active=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))

    def in_force(self, now: datetime | None = None) -> "BlockedClientQuerySet":
        """The blocks that refuse clients at `now` (default: the current time)."""
        return self.filter(self.in_force_condition(now))

    def not_in_force(self, now: datetime | None = None) -> "BlockedClientQuerySet":
        """The blocks lifted or expired at `now`."""
        return self.exclude(self.in_force_condition(now))


class BlockedClient(models.Model):
    """An address or network refused with 403 `blocked` before anything else runs.

    In force while `active` and not past `expires_at` (NULL: no expiry): the
    rule is `BlockedClientQuerySet.in_force_condition`, and `in_force()` says
    it of one row already read. `network` is stored in canonical CIDR form
    (see `normalize_network`).
    """

    network = models.CharField(max_length=49, validators=[validate_network])
    reason = models.TextField(blank=True)
    active = models.BooleanField(default=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = BlockedClientQuerySet.as_manager()
    # The network this row covered before the save in progress (admission.blocklist's
    # pre_save notes it, its post_save refreshes the index for both); not a column.
    network_before_save: str | None = None

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["active", "expires_at"], name="blocked_in_force_idx"),
            # The blocklist's index asks for one client's blocks by network.
            models.Index(fields=["network"], name="blocked_network_idx"),
        ]

    def __str__(self) -> str:
        return self.network

    def save(self, *args, **kwargs) -> None:
        self.network = normalize_network(self.network)
        super().save(*args, **kwargs)

    def in_force(self, now: datetime | None = None) -> bool:
        """Whether this row, as read, is in force at `now`: `in_force_condition` on one row.

        For a row already in hand (the admin's column); a question to the
        database asks `BlockedClient.objects.in_force()`. The tests hold the two equal.
        """
        now = now or timezone.now()
        return self.active and (self.expires_at is None or self.expires_at > now)

    @cached_property
    def ip_network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(self.network, strict=False)


def validate_top_k(value: int) -> None:
    if not 1 <= value <= 5:
        raise ValidationError("A plan's answer carries 1 to 5 labels.", code="invalid_top_k")


class Plan(models.Model):
    """What a client may do: its rate, its allowances, and what its answers carry.

    An allowance left empty is no allowance. Requests are counted at
    admission; megapixels once the upload's header has been read (the
    decoded image's width x height), so the allowance is checked before and
    charged after: the last upload of a period may overshoot it by one image.
    `score_decimals` empty: the answer carries labels only, no scores.
    """

    name = models.SlugField(max_length=40, unique=True)
    rate_per_minute = models.PositiveIntegerField()
    requests_per_day = models.PositiveIntegerField(null=True, blank=True)
    requests_per_month = models.PositiveIntegerField(null=True, blank=True)
    megapixels_per_day = models.PositiveIntegerField(null=True, blank=True)
    megapixels_per_month = models.PositiveIntegerField(null=True, blank=True)
    top_k = models.PositiveSmallIntegerField(
        "labels per answer", default=5, validators=[validate_top_k]
    )
    score_decimals = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Empty: labels only, no scores."
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(top_k__gte=1, top_k__lte=5), name="plan_top_k_1_5"),
            models.CheckConstraint(
                condition=Q(score_decimals__isnull=True) | Q(score_decimals__lte=6),
                name="plan_score_decimals_0_6",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class KeyPlan(models.Model):
    """The plan of one API key (djangorestframework-api-key's APIKey stays as it is)."""

    api_key = models.OneToOneField(
        "rest_framework_api_key.APIKey", on_delete=models.CASCADE, related_name="plan_of_key"
    )
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="keys")

    def __str__(self) -> str:
        return f"{self.api_key_id}: {self.plan.name}"


class UsageDay(models.Model):
    """One client's requests on one UTC day with one outcome: what a bill is made of.

    Written by the audit step (one UPDATE, or an INSERT for the first of the
    day), so it survives a flush of the shared cache where the allowances
    are counted. `api_key_id` is blank for anonymous clients, who are
    counted together. `megapixels` is what the decoded uploads declared.
    """

    day = models.DateField()
    api_key_id = models.CharField(max_length=150, blank=True)
    outcome = models.CharField(max_length=40)
    requests = models.PositiveBigIntegerField(default=0)
    megapixels = models.FloatField(default=0.0)

    class Meta:
        ordering = ["-day", "api_key_id", "outcome"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "api_key_id", "outcome"], name="usage_day_key_outcome"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.api_key_id or 'anonymous'} {self.outcome}: {self.requests}"


class ExtractionFlag(models.Model):
    """A client whose queries looked like someone copying the model (audit.extraction).

    `subject` is "key:<api key id>" or "ip:<address or /64>"; the numbers are
    the window's evidence when it was flagged. `downgraded`: the key's answers
    carry labels only while the flag is open (`lifted_at` empty).
    """

    created_at = models.DateTimeField(default=timezone.now)
    subject = models.CharField(max_length=200, db_index=True)
    api_key_id = models.CharField(max_length=150, blank=True)
    client_key = models.CharField(max_length=64, blank=True)
    queries = models.PositiveIntegerField()
    distinct_images = models.PositiveIntegerField()
    queries_per_image = models.FloatField()
    label_spread = models.FloatField()
    refusal_rate = models.FloatField()
    downgraded = models.BooleanField(default=False)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.subject} ({self.queries_per_image:g} queries per image)"

    @property
    def is_open(self) -> bool:
        return self.lifted_at is None
