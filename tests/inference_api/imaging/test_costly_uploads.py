"""The adversarial set: no upload inside the caps costs more than the decode budget.

Every case of `inference_api.testing.images.costly.COSTLY` goes through a real decoder process with
the default budget. Inputs found by reading Pillow's plugins and the codecs
are refused, most from their structure before any decoder runs; the largest
legitimate images of every mode are decoded, or (on a slow machine) stopped
at the budget, never more.
"""

import time

import pytest

from inference_api import errors
from inference_api.imaging.formats import sniff_format
from inference_api.imaging.limits import DecodeLimits, ModelInput
from inference_api.imaging.prepare import inspect_structure
from inference_api.sandbox.pool import DecoderPool
from inference_api.testing.images.costly import COSTLY, build

MIB = 1024 * 1024
MEMORY_TARGET_KB = 600 * 1024
TIMER_SLACK_MS = 20
# Refusals of hostile inputs: what the caps and the budget answer.
REFUSALS = {"too_costly", "too_many_scans", "invalid_image"}
# Within the budget, with room to spare on a loaded machine.
CHEAP = {"webp_lossless_38_bytes_8000", "webp_animated_8000"}


def outcome(pool: DecoderPool, data: bytes, limits: DecodeLimits):
    try:
        return pool.decode(data, limits, ModelInput())
    except errors.ApiError as refused:
        return refused.code


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(COSTLY))
def test_each_costly_upload_is_refused_or_decoded_within_the_budget(name, fresh_pool):
    data = build(name)
    assert len(data) <= 10 * MIB
    limits = DecodeLimits.from_settings()
    started = time.monotonic()
    result = outcome(fresh_pool, data, limits)
    assert time.monotonic() - started < limits.wall_seconds + 1.5
    expected = COSTLY[name][2]
    if expected == "refused":
        assert result in REFUSALS
    elif name in CHEAP:
        assert not isinstance(result, str), f"{name} refused: {result}"
    if not isinstance(result, str):
        # The kernel's CPU timer fires on a scheduler tick: a few ms of slack.
        assert result.cost.cpu_ms <= limits.cpu_seconds * 1000 + TIMER_SLACK_MS
        assert result.cost.above_idle_kb * 1024 <= limits.memory_bytes
    else:
        assert result in REFUSALS


@pytest.mark.parametrize(
    "name", sorted(name for name, case in COSTLY.items() if case[2] == "refused")
)
def test_each_parser_loop_input_is_refused_by_the_walk_before_any_decoder(name):
    # The budget would stop these too; the walk must refuse them first, and cheaply.
    data = build(name)
    with pytest.raises(errors.ApiError) as refused:
        inspect_structure(data, sniff_format(data), DecodeLimits.from_settings())
    assert refused.value.code in REFUSALS


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", sorted(name for name, case in COSTLY.items() if case[2] == "accepted")
)
def test_the_largest_image_of_every_mode_decodes_in_600_mb_above_idle(name, fresh_pool):
    # CPU is not what this measures: a slow machine gets time, never more memory.
    limits = DecodeLimits.from_settings(cpu_seconds=30, wall_seconds=60)
    prepared = outcome(fresh_pool, build(name), limits)
    assert not isinstance(prepared, str), f"{name} refused: {prepared}"
    assert prepared.cost.above_idle_kb <= MEMORY_TARGET_KB, prepared.cost
