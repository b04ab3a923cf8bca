"""Every outcome an audit row can hold: the one enumeration.

A request ends in one of these, written in the audit row's `outcome`, the
metrics' `outcome` label and the log line:

- `OK`: the image was classified (or another answer below 400 was given);
- a refusal's stable code: every `ApiError` of `errors.py` (`refusals()`);
- `OPTIONS`: an OPTIONS request to the API (a CORS preflight, or a probe);
- `WORKER_DIED`: the worker died mid-request; gunicorn's master wrote the row;
- `http_status(status)`: an answer of status >= 400 that no ApiError gave
  (the family `http_NNN`, e.g. `http_502`);
- `UNKNOWN`: a record that came without an outcome code (defensive).

The audit (`audit/trail.py`, `audit/inflight.py`), the admin's outcome filter
(`console/filters.py`), the console (`console/overview.py`) and the schema
(`schema.py`) take their outcomes from here. Like `errors`, this module
imports no Django: the decoder process imports the errors.
"""

import re

from . import errors

OK = "ok"
OPTIONS = "options"
WORKER_DIED = "worker_died"
UNKNOWN = "unknown"
# The family of answers >= 400 that no ApiError gave: `http_` and the status.
HTTP_STATUS_PREFIX = "http_"
HTTP_STATUS_FAMILY = f"{HTTP_STATUS_PREFIX}NNN"  # how filters and docs name the family
_HTTP_STATUS = re.compile(r"http_[1-5][0-9][0-9]")


def refusals() -> list[type[errors.ApiError]]:
    """The ApiError classes a request can be refused with (every one but the abstract base)."""
    return [cls for cls in errors.all_errors() if cls is not errors.ApiError]


def http_status(status: int) -> str:
    """The outcome of an answer with `status` that no ApiError gave: `http_<status>`."""
    return f"{HTTP_STATUS_PREFIX}{int(status)}"


def is_http_status(code: str) -> bool:
    """Whether `code` is of the `http_NNN` family."""
    return _HTTP_STATUS.fullmatch(code) is not None


def named() -> tuple[str, ...]:
    """Every outcome with a name of its own (all but the `http_NNN` family), sorted."""
    return tuple(sorted({OK, OPTIONS, WORKER_DIED, UNKNOWN} | {cls.code for cls in refusals()}))


def is_outcome(code: str) -> bool:
    """Whether `code` is an outcome an audit row can hold."""
    return code in named() or is_http_status(code)
