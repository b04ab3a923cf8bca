"""Signals that a client's traffic looks like someone copying the model (part of the audit step).

Model extraction (Tramèr et al. 2016; PRADA, Juuti et al. 2019) queries a
prediction API with many small variations of a few images. Per subject (an
API key, or an anonymous client's address or IPv6 /64) the last
EXTRACTION_WINDOW queries are kept on the shared cache: the fingerprint of
what the model saw (imaging.fingerprint) and the top label of each
classified upload, or a mark for a refusal. From them:

- queries per distinct image: queries grouped by near-duplicate fingerprints
  (within EXTRACTION_NEAR_BITS of one another, transitively); a stream of
  perturbations of a few seeds has many queries per image, natural photos
  one or two (the corpus's valid images, with its 25 variants of one photo,
  about 2.5);
- the spread of top labels (distinct labels per classified query);
- the share of refusals.

Once the window holds EXTRACTION_MIN_QUERIES classified queries and their
queries per distinct image reach EXTRACTION_QUERIES_PER_IMAGE, the subject
is flagged (an ExtractionFlag with its evidence, shown in the console); with
EXTRACTION_DOWNGRADE an API key's answers become labels only until a person
lifts the flag. What this does not catch: harvesting with distinct natural
images (Knockoff Nets) looks like ordinary use; plans' allowances bound it.
"""

import logging
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.core.cache import caches
from django.utils import timezone

from ..context import RequestRecord
from ..models import ExtractionFlag

logger = logging.getLogger(__name__)

CACHE = "ratelimit"
REFUSED = "-"


@dataclass(frozen=True)
class Signals:
    """What a subject's window of queries shows."""

    queries: int
    classified: int
    distinct_images: int
    distinct_labels: int
    refusals: int

    @property
    def queries_per_image(self) -> float:
        return self.classified / self.distinct_images if self.distinct_images else 0.0

    @property
    def label_spread(self) -> float:
        return self.distinct_labels / self.classified if self.classified else 0.0

    @property
    def refusal_rate(self) -> float:
        return self.refusals / self.queries if self.queries else 0.0

    def looks_like_extraction(self) -> bool:
        return (
            self.classified >= settings.EXTRACTION_MIN_QUERIES
            and self.queries_per_image >= settings.EXTRACTION_QUERIES_PER_IMAGE
        )


def subject_of(record: RequestRecord, client_key: str) -> str:
    """Whose queries these are: the API key's, else the client's address (or /64)."""
    key_id = record.admission.api_key_id
    return f"key:{key_id}" if key_id else f"ip:{client_key}"


def signals_of(entries: list[str], near_bits: int) -> Signals:
    """The signals of a window of entries ("<fingerprint>|<label>", or "-" for a refusal)."""
    classified = [entry.split("|", 1) for entry in entries if entry != REFUSED]
    fingerprints = np.array([int(f, 16) for f, _ in classified], dtype=np.uint64)
    return Signals(
        queries=len(entries),
        classified=len(classified),
        distinct_images=distinct_images(fingerprints, near_bits),
        distinct_labels=len({label for _, label in classified}),
        refusals=len(entries) - len(classified),
    )


def distinct_images(fingerprints: np.ndarray, near_bits: int) -> int:
    """How many groups of near-duplicates the fingerprints form (connected components).

    In numpy, whatever the stream: the pairwise Hamming distances by one
    popcount, then the reachability matrix squared until it stops growing
    (at most log2(n) products of n x n), so a window of 100 near-duplicates
    costs about what 100 distinct images cost. The products are boolean,
    numpy's own loop (0.3 ms at 100), not BLAS: after a float product
    numpy's OpenBLAS kept a thread spinning for work for ~0.1 s, which under
    steady traffic was a core's worth of a worker's CPU (28 ms per answer).
    """
    count = len(fingerprints)
    if count == 0:
        return 0
    distances = np.bitwise_count(fingerprints[:, None] ^ fingerprints[None, :])
    reach = distances <= near_bits
    while True:
        grown = reach @ reach
        if np.array_equal(grown, reach):
            break
        reach = grown
    # Each image is named by the first fingerprint it reaches.
    return len(np.unique(reach.argmax(axis=1)))


def observe(record: RequestRecord, client_key: str) -> Signals | None:
    """Add this request to its subject's window and flag the subject if it looks like extraction.

    Only uploads count: a classified one with its fingerprint, a refused one
    as a refusal. Never raises (a signal must not cost the audit its row).
    """
    if record.received is None:
        return None
    try:
        return _observe(record, client_key)
    except Exception:
        logger.exception("extraction signals not updated for %s", record.arrival.request_id)
        return None


def _observe(record: RequestRecord, client_key: str) -> Signals:
    classified = record.classified
    if classified is not None and classified.fingerprint:
        entry = f"{classified.fingerprint}|{classified.top_label}"
    else:
        entry = REFUSED
    subject = subject_of(record, client_key)
    cache = caches[CACHE]
    name = f"extraction:{subject}"
    entries = [*(cache.get(name) or []), entry][-settings.EXTRACTION_WINDOW :]
    cache.set(name, entries, settings.EXTRACTION_WINDOW_SECONDS)
    signals = signals_of(entries, settings.EXTRACTION_NEAR_BITS)
    if classified is not None and signals.looks_like_extraction():
        flag_subject(subject, record, client_key, signals)
    return signals


def flag_subject(subject: str, record: RequestRecord, client_key: str, signals: Signals) -> None:
    """Record the flag once per subject until a person lifts it; downgrade a key if enabled."""
    if ExtractionFlag.objects.filter(subject=subject, lifted_at__isnull=True).exists():
        return
    key_id = record.admission.api_key_id or ""
    ExtractionFlag.objects.create(
        subject=subject,
        api_key_id=key_id,
        client_key=client_key,
        queries=signals.queries,
        distinct_images=signals.distinct_images,
        queries_per_image=round(signals.queries_per_image, 2),
        label_spread=round(signals.label_spread, 3),
        refusal_rate=round(signals.refusal_rate, 3),
        downgraded=bool(key_id) and settings.EXTRACTION_DOWNGRADE,
    )
    logger.warning("extraction signals flagged %s: %s", subject, signals)


def lift(flag: ExtractionFlag, user) -> None:
    """A person judged the flag: lifted (and any downgrade with it); its window starts over."""

    flag.lifted_at, flag.lifted_by = timezone.now(), user
    flag.save(update_fields=["lifted_at", "lifted_by"])
    caches[CACHE].delete(f"extraction:{flag.subject}")
