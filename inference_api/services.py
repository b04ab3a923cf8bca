"""Database writes of the API: the audit trail and the quarantine."""

from .records import RequestRecord


def audit_request(*, record: RequestRecord, status: int, latency_ms: float) -> None:
    """Persist one request's audit entry."""
