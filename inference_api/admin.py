"""The operator's side: the audit trail, flagged uploads to review, the blocklist.

Everything shown here came from clients: it is rendered escaped (format_html),
and a quarantined file is only ever sent as an attachment of opaque bytes,
never decoded, previewed or shown inline.
"""

import ipaddress
import re

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from .admission.clients import client_key_for
from .audit.quarantine import flagged_upload_review, preview_open, quarantined_file_open
from .console import blocking, pages
from .console.filters import (
    BlockKindFilter,
    ClientFilter,
    FlaggedClientFilter,
    InForceFilter,
    OutcomeFilter,
    StatusFilter,
)
from .console.readonly import ReadOnlyAdmin
from .models import AuditLog, BlockedClient, FlaggedUpload

admin.site.site_header = "Image classification API: review console"
admin.site.site_title = "Image classification API review"
admin.site.index_title = "Review console"
# The landing lists what needs review first (flagged uploads, automatic blocks).
admin.site.index_template = "admin/inference_api/index.html"

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


def _client_of(row: AuditLog) -> str:
    # Rows written before client_key existed have it empty.
    return row.client_key or client_key_for(row.client_ip)


def exact_search(term: str, ip_field: str, sha_field: str, request_id_field: str | None) -> Q:
    """An exact, index-friendly match for an address, a SHA-256 or a request id."""
    term = term.strip()
    try:
        return Q(**{ip_field: str(ipaddress.ip_address(term))})
    except ValueError:
        pass
    if _SHA256.match(term):
        return Q(**{sha_field: term.lower()})
    if request_id_field:
        return Q(**{request_id_field: term})
    return Q(pk__in=[])


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    """Read-only: rows are written by the API and removed only by purge_audit_logs."""

    list_display = (
        "created_at",
        "client_ip",
        "status",
        "outcome",
        "count",
        "detected_format",
        "upload_via",
        "bytes_received",
        "top_label",
        "latency_ms",
        "flagged_link",
    )
    list_filter = (ClientFilter, OutcomeFilter, StatusFilter, "upload_via", "created_at")
    search_fields = ("=client_ip", "=sha256", "=request_id")
    search_help_text = "An IP address, a SHA-256 or a request id (exact)."
    date_hierarchy = "created_at"
    show_full_result_count = False
    list_select_related = ("flagged",)
    list_per_page = 100
    actions = ("block_client",)

    def get_urls(self):
        overview = path(
            "overview/",
            self.admin_site.admin_view(self.overview_view),
            name="inference_api_overview",
        )
        return [overview, *super().get_urls()]

    def overview_view(self, request: HttpRequest) -> HttpResponse:
        """The console's overview: see inference_api/console/pages.py."""
        return pages.overview_view(self, request)

    def has_block_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("inference_api.add_blockedclient")

    @admin.action(description="Block the clients that sent them…", permissions=["block"])
    def block_client(self, request: HttpRequest, queryset: QuerySet):
        # A bounded page: "select all" over millions of rows must not load them all.
        rows = list(queryset.select_related(None).only("client_ip", "client_key", "outcome")[:500])
        return blocking.confirm_block_action(
            self,
            request,
            selected=rows,
            clients=[_client_of(row) for row in rows],
            reason=", ".join(sorted({row.outcome for row in rows}))[:200],
        )

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        return queryset.filter(
            exact_search(search_term, "client_ip", "sha256", "request_id")
        ), False

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    @admin.display(description="flagged")
    def flagged_link(self, obj: AuditLog) -> str:
        flagged = getattr(obj, "flagged", None)
        if flagged is None:
            return "-"
        url = reverse("admin:inference_api_flaggedupload_change", args=[flagged.pk])
        return format_html('<a href="{}">#{}</a>', url, flagged.pk)


DOWNLOAD_TEMPLATE = "admin/inference_api/download_confirmation.html"


@admin.register(FlaggedUpload)
class FlaggedUploadAdmin(admin.ModelAdmin):
    """Review of quarantined uploads: verdicts, blocking the sender, download as bytes."""

    list_display = (
        "id",
        "created_at",
        "reason",
        "client_ip",
        "short_sha256",
        "size",
        "stored",
        "review_status",
        "download_link",
    )
    list_filter = (FlaggedClientFilter, "review_status", "reason", "not_stored")
    search_fields = ("=sha256", "=audit__client_ip")
    search_help_text = "An IP address or a SHA-256 (exact)."
    list_select_related = ("audit", "file")
    show_full_result_count = False
    actions = ("mark_benign", "mark_malicious", "block_client")
    fields = (
        "audit_link",
        "client_ip",
        "reason",
        "what_the_model_saw",
        "sha256",
        "size",
        "detected_format",
        "stored",
        "download_link",
        "block_link",
        "review_status",
        "reviewed_by",
        "reviewed_at",
        "notes",
    )
    readonly_fields = (
        "audit_link",
        "client_ip",
        "reason",
        "what_the_model_saw",
        "sha256",
        "size",
        "detected_format",
        "stored",
        "download_link",
        "block_link",
        "reviewed_by",
        "reviewed_at",
    )

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        return queryset.filter(exact_search(search_term, "audit__client_ip", "sha256", None)), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_block_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("inference_api.add_blockedclient")

    def save_model(self, request, obj: FlaggedUpload, form, change: bool) -> None:
        if "review_status" in form.changed_data:
            obj.mark_reviewed(obj.review_status, request.user)
        super().save_model(request, obj, form, change)

    @admin.display(description="received", ordering="audit__created_at")
    def created_at(self, obj: FlaggedUpload):
        return obj.audit.created_at

    @admin.display(description="client IP", ordering="audit__client_ip")
    def client_ip(self, obj: FlaggedUpload) -> str:
        return obj.audit.client_ip

    @admin.display(description="SHA-256")
    def short_sha256(self, obj: FlaggedUpload) -> str:
        return format_html('<span title="{}">{}…</span>', obj.sha256, obj.sha256[:12])

    @admin.display(description="stored", boolean=True)
    def stored(self, obj: FlaggedUpload) -> bool:
        return obj.file_id is not None

    @admin.display(description="audit row")
    def audit_link(self, obj: FlaggedUpload) -> str:
        url = reverse("admin:inference_api_auditlog_change", args=[obj.audit_id])
        return format_html('<a href="{}">{}</a>', url, obj.audit)

    @admin.display(description="download")
    def download_link(self, obj: FlaggedUpload) -> str:
        if obj.file_id is None:
            return obj.get_not_stored_display() if obj.not_stored else "-"
        url = reverse("admin:inference_api_flaggedupload_download", args=[obj.pk])
        return format_html('<a href="{}">the raw bytes (.bin)…</a>', url)

    @admin.display(description="what the model saw")
    def what_the_model_saw(self, obj: FlaggedUpload) -> str:
        """Our own PNG of the decoded square, or what the structural walk found."""
        if obj.file_id is not None and obj.file.preview_name:
            url = reverse("admin:inference_api_flaggedupload_preview", args=[obj.pk])
            return format_html(
                '<img class="model-input" src="{}" width="224" height="224" '
                'alt="the model\'s input square, re-encoded">',
                url,
            )
        audit = obj.audit
        size = f"{audit.width} x {audit.height} px declared" if audit.width else "no size read"
        fmt = audit.detected_format or "no accepted format"
        return format_html(
            "Not decoded for review. The walk found: {}, {}; refused as <code>{}</code>.",
            fmt,
            size,
            obj.reason,
        )

    @admin.action(description="Mark reviewed: benign", permissions=["change"])
    def mark_benign(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._review(request, queryset, FlaggedUpload.Review.BENIGN)

    @admin.action(description="Mark reviewed: malicious", permissions=["change"])
    def mark_malicious(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._review(request, queryset, FlaggedUpload.Review.MALICIOUS)

    def _review(self, request: HttpRequest, queryset: QuerySet, status: str) -> None:
        for upload in queryset:
            flagged_upload_review(upload=upload, status=status, user=request.user)
        self.message_user(request, f"{len(queryset)} flagged upload(s) marked {status}.")

    @admin.action(description="Block the clients that sent them…", permissions=["block"])
    def block_client(self, request: HttpRequest, queryset: QuerySet):
        uploads = list(queryset.select_related("audit")[:500])
        numbers = ", ".join(f"#{upload.pk}" for upload in uploads[:20])
        return blocking.confirm_block_action(
            self,
            request,
            selected=uploads,
            clients=[_client_of(upload.audit) for upload in uploads],
            reason=f"flagged upload {numbers}: " + ", ".join(sorted({u.reason for u in uploads})),
        )

    def get_fields(self, request: HttpRequest, obj=None):
        fields = super().get_fields(request, obj)
        if not self.has_block_permission(request):
            fields = [name for name in fields if name != "block_link"]
        return fields

    @admin.display(description="block")
    def block_link(self, obj: FlaggedUpload) -> str:
        client = _client_of(obj.audit)
        url = blocking.block_url(client, f"flagged upload #{obj.pk}: {obj.reason}")
        return format_html('<a class="button block-button" href="{}">Block {}…</a>', url, client)

    def get_urls(self):
        site = self.admin_site
        return [
            path(
                "<path:object_id>/download/",
                site.admin_view(self.download_view),
                name="inference_api_flaggedupload_download",
            ),
            path(
                "<path:object_id>/preview/",
                site.admin_view(self.preview_view),
                name="inference_api_flaggedupload_preview",
            ),
            *super().get_urls(),
        ]

    def _kept(self, request: HttpRequest, object_id: str) -> FlaggedUpload:
        upload = self.get_object(request, unquote(object_id))
        if upload is None:
            raise Http404("No such flagged upload.")
        if not self.has_view_permission(request, upload):
            raise PermissionDenied
        if upload.file is None:
            raise Http404("These bytes were not kept.")
        return upload

    def preview_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The PNG of what the model saw: ours, made from the decoder's pixels, shown inline."""
        upload = self._kept(request, object_id)
        if not upload.file.preview_name:
            raise Http404("No preview.")
        try:
            handle = preview_open(upload.file)
        except OSError as exc:
            raise Http404("The preview is missing.") from exc
        response = FileResponse(handle, content_type="image/png")
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "no-store, private"
        return response

    def download_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The client's bytes, after a confirmation page that says what they are: never inline.

        GET is the confirmation; only its POST sends the bytes, as an opaque
        attachment named .bin.
        """
        upload = self._kept(request, object_id)
        if request.method != "POST":
            context = {
                **self.admin_site.each_context(request),
                "title": "Download the raw bytes",
                "opts": self.model._meta,
                "upload": upload,
            }
            return TemplateResponse(request, DOWNLOAD_TEMPLATE, context)
        try:
            handle = quarantined_file_open(upload.file)
        except OSError as exc:
            raise Http404("The quarantined file is missing.") from exc
        response = FileResponse(
            handle,
            as_attachment=True,
            filename=f"flagged-{upload.pk}-{upload.sha256[:16]}.bin",
            content_type="application/octet-stream",
        )
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        response["Cache-Control"] = "no-store, private"
        return response


@admin.register(BlockedClient)
class BlockedClientAdmin(admin.ModelAdmin):
    """Addresses and networks refused with 403 `blocked`; automatic ones listed apart."""

    list_display = (
        "network",
        "in_force",
        "active",
        "expires_at",
        "reason",
        "created_at",
        "created_by",
        "evidence",
    )
    list_filter = (BlockKindFilter, InForceFilter, "active")
    search_fields = ("network", "reason")
    list_select_related = ("created_by",)
    fields = ("network", "reason", "active", "expires_at", "created_at", "created_by", "evidence")
    readonly_fields = ("created_at", "created_by", "evidence")
    actions = ("lift",)

    def get_urls(self):
        block = path(
            "block/",
            self.admin_site.admin_view(self.block_view),
            name="inference_api_blockedclient_block",
        )
        return [block, *super().get_urls()]

    def block_view(self, request: HttpRequest) -> HttpResponse:
        """Confirm, then block, the networks in `?networks=` (see blocking.py)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        page = blocking.block_page(self, request)
        if page is not None:
            return page
        if self.has_view_permission(request):
            return HttpResponseRedirect(reverse("admin:inference_api_blockedclient_changelist"))
        return HttpResponseRedirect(reverse("admin:index"))  # where the message shows

    @admin.display(description="evidence")
    def evidence(self, obj: BlockedClient) -> str:
        client = blocking.evidence_client(obj) if obj.pk else None
        if client is None:
            return "-"
        audit = reverse("admin:inference_api_auditlog_changelist")
        flagged = reverse("admin:inference_api_flaggedupload_changelist")
        return format_html(
            '<a href="{}?client={}">audit rows</a> · <a href="{}?client={}">flagged uploads</a>',
            audit,
            client,
            flagged,
            client,
        )

    @admin.action(description="Lift the selected blocks", permissions=["change"])
    def lift(self, request: HttpRequest, queryset: QuerySet) -> None:
        lifted = 0
        for block in queryset.filter(active=True):
            block.active = False
            block.save(update_fields=["active"])  # the signal drops the cached blocklist
            lifted += 1
        self.message_user(request, f"Lifted {lifted} block(s).")

    @admin.display(description="in force", boolean=True)
    def in_force(self, obj: BlockedClient) -> bool:
        return obj.in_force()

    def save_model(self, request, obj: BlockedClient, form, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

from .console import plans_admin  # noqa: E402,F401 - registers the plans' and usage's admins
