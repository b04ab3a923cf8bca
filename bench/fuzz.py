"""The fuzz harness (inference_api.testing.fuzz, which tests/e2e/test_fuzz.py runs
short and derandomized), run for longer with a fresh seed each batch.

    .venv/bin/python bench/fuzz.py --minutes 10

Runs batches of random examples (a fresh seed each batch) until the time is
up, then prints how many uploads were tried and what the API would have
answered to them. Each upload goes through the serializer, whose checks and
decode run in a decoder process (inference_api.sandbox), and, as in the
test, the decoder's verdict is compared with `imaging.prepare` run in this
process. A failure (an exception other than our 4xx ApiErrors, a 5xx, or
verdicts that differ) is printed with Hypothesis's shrunk example, its bytes are written
to bench/results/fuzz-failures/, and the run goes on; the exit status is 1
if there was any.
"""

import argparse
import hashlib
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402

BATCH_EXAMPLES = 500


def run_batch(seeds: list[bytes], outcomes: Counter, failures: list, harness) -> None:
    from hypothesis import HealthCheck, given, settings

    from inference_api.imaging.formats import sniff_format

    last: dict = {}

    @settings(
        max_examples=BATCH_EXAMPLES,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(harness.hostile_upload(seeds))
    def check(upload: tuple[bytes, str, str]) -> None:
        last["upload"] = upload
        outcome = harness.analyze_offline(*upload)
        outcomes[outcome] += 1
        # The same property as the test: in this process, the same verdict (or out of budget).
        if outcome in harness.DECODER_VERDICTS and sniff_format(upload[0]):
            here = harness.prepare_in_process(upload[0])
            assert here in (outcome, "too_costly"), f"decoder: {outcome}, in process: {here}"

    try:
        check()
    except Exception:
        failures.append(traceback.format_exc())
        _keep(last.get("upload"))


def _keep(upload: tuple[bytes, str, str] | None) -> None:
    if upload is None:
        return
    folder = common.RESULTS_DIR / "fuzz-failures"
    folder.mkdir(parents=True, exist_ok=True)
    data, content_type, filename = upload
    name = hashlib.sha256(data).hexdigest()[:16]
    (folder / f"{name}.bin").write_bytes(data)
    (folder / f"{name}.txt").write_text(f"content type: {content_type!r}\nfilename: {filename!r}\n")


def main() -> int:
    parser = argparse.ArgumentParser(description="Fuzz the upload checks and decoding.")
    parser.add_argument("--minutes", type=float, default=5.0, help="how long to run (default 5)")
    args = parser.parse_args()
    common.setup_django()
    import logging
    import warnings

    # Pillow warns about the broken files it is fed on purpose; the outcome is what counts.
    logging.disable(logging.INFO)
    warnings.simplefilter("ignore")
    from inference_api.testing import fuzz as harness
    from inference_api.testing.corpus import CORPUS

    seeds = harness.corpus_seeds(CORPUS)
    outcomes: Counter = Counter()
    failures: list[str] = []
    deadline = time.monotonic() + args.minutes * 60
    started = time.monotonic()
    from inference_api.sandbox import close_pool

    try:
        while time.monotonic() < deadline:
            run_batch(seeds, outcomes, failures, harness)
    finally:
        close_pool()  # stop this process's decoders rather than leave them to notice its exit
    elapsed = time.monotonic() - started
    total = sum(outcomes.values())
    out = sys.stdout
    out.write(
        f"{total} uploads from {len(seeds)} seeds in {elapsed / 60:.1f} min; "
        f"failures: {len(failures)}\n"
    )
    for code, count in outcomes.most_common():
        out.write(f"  {code:28} {count:8} ({100 * count / max(total, 1):.1f}%)\n")
    for failure in failures:
        out.write(failure + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
