"""Ties every log line to the request that caused it."""

import logging
from contextvars import ContextVar

current_request_id: ContextVar[str] = ContextVar("current_request_id", default="-")


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to each record: the id of the request being served, or '-'.

    Django logs a 4xx/5xx response ("Internal Server Error: ...") after the
    middleware has returned, outside the request's context; that record
    carries the request itself, whose id is used instead.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = current_request_id.get()
        if request_id == "-":
            request_id = getattr(getattr(record, "request", None), "request_id", "-")
        record.request_id = request_id
        return True
