"""Prometheus metrics of the API: what is counted, and when (probes/metrics.py serves them).

Under gunicorn, each worker is a process with its own counters. When
PROMETHEUS_MULTIPROC_DIR is set (the Docker image sets it), prometheus-client
keeps every worker's values in files there and /metrics sums them, whichever
worker answers; gunicorn's config empties the folder at start and drops the
live gauges of dead workers. Without it, /metrics shows the answering
process only (fine for one worker, misleading for several).

"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram

from .. import outcomes
from ..context import RequestRecord

if TYPE_CHECKING:
    from analysis.model_store import LoadedModel

    from ..audit.autoblock import Capacity

# prometheus-client reads this variable itself, from the environment, when it is
# imported; reading it from anywhere else could disagree with the library.
MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if MULTIPROC_DIR:
    # A management command run in the container must not fail for want of it.
    Path(MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)

SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BYTES_BUCKETS = tuple(2**n for n in range(10, 25))  # 1 KiB .. 16 MiB

REQUESTS = Counter(
    "inference_api_requests_total",
    "API requests by outcome code and status.",
    ["outcome", "status"],
)
REJECTIONS = Counter(
    "inference_api_rejections_total", "API requests refused (status >= 400) by reason.", ["reason"]
)
REQUEST_SECONDS = Histogram(
    "inference_api_request_seconds", "Time to answer an API request.", buckets=SECONDS_BUCKETS
)
UPLOAD_BYTES = Histogram(
    "inference_api_upload_bytes", "Bytes of upload received per API request.", buckets=BYTES_BUCKETS
)
DECODE_SECONDS = Histogram(
    "inference_api_decode_seconds", "Time to decode an accepted image.", buckets=SECONDS_BUCKETS
)
INFERENCE_SECONDS = Histogram(
    "inference_api_inference_seconds", "Time of the model's forward pass.", buckets=SECONDS_BUCKETS
)
INFERENCES_IN_FLIGHT = Gauge(
    "inference_api_inferences_in_flight",
    "Inferences running now.",
    multiprocess_mode="livesum",
)
QUARANTINE_USED_RATIO = Gauge(
    "inference_api_quarantine_used_ratio",
    "Bytes kept in quarantine over QUARANTINE_MAX_BYTES (warned at 0.8), as last measured.",
    multiprocess_mode="mostrecent",
)
AUTO_BLOCKS_USED_RATIO = Gauge(
    "inference_api_auto_blocks_used_ratio",
    "Automatic blocks in force over AUTO_BLOCK_MAX_IN_FORCE (1: full, no more are made), "
    "as last measured.",
    multiprocess_mode="mostrecent",
)
AUTO_BLOCKS_REFUSED = Counter(
    "inference_api_auto_blocks_refused_total",
    "Clients that reached AUTO_BLOCK_FLAGGED but were not blocked: AUTO_BLOCK_MAX_IN_FORCE "
    "automatic blocks were in force.",
)
MODEL_INFO = Gauge(
    "inference_api_model_info",
    "The model served (1 per name, version and SHA-256).",
    ["name", "version", "sha256"],
    multiprocess_mode="livemax",
)


def observe_request(record: RequestRecord) -> None:
    """Counts one finished API request (called by the pipeline)."""
    outcome, status = record.outcome.code or outcomes.UNKNOWN, record.outcome.status
    REQUESTS.labels(outcome=outcome, status=str(status)).inc()
    if status >= 400:
        REJECTIONS.labels(reason=outcome).inc()
    REQUEST_SECONDS.observe(record.latency_ms / 1000)
    if record.received is not None and record.received.size:
        UPLOAD_BYTES.observe(record.received.size)


def observe_analysis(*, model: "LoadedModel", decode_ms: float, inference_ms: float) -> None:
    """Records the timings of one classified image and which model served it."""
    DECODE_SECONDS.observe(decode_ms / 1000)
    INFERENCE_SECONDS.observe(inference_ms / 1000)
    described = model.describe()
    MODEL_INFO.labels(
        name=described["name"], version=described["version"], sha256=described["sha256"]
    ).set(1)


def observe_auto_blocks(capacity: "Capacity", *, refused: bool) -> None:
    """Publishes the automatic blocks' fill level, and a client not blocked for want of room."""
    AUTO_BLOCKS_USED_RATIO.set(capacity.ratio)
    if refused:
        AUTO_BLOCKS_REFUSED.inc()


@contextmanager
def inference_in_flight() -> Iterator[None]:
    """Counts the enclosed block as one running inference."""
    INFERENCES_IN_FLIGHT.inc()
    try:
        yield
    finally:
        INFERENCES_IN_FLIGHT.dec()
