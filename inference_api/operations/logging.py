"""Ties every log line to the request that caused it."""

import logging
from contextvars import ContextVar

current_request_id: ContextVar[str] = ContextVar("current_request_id", default="-")


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to each record: the id of the request being served, or '-'.

    The id stays current until the answer is sent (pipeline.RequestIdMiddleware),
    so Django's own line for a 4xx or 5xx answer, logged after the middleware
    has returned, carries it too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get()
        return True
