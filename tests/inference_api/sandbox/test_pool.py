"""The decode budget: real decoder processes, stopped by the kernel, replaced at once."""

import io
import logging
import os
import signal
import time
from pathlib import Path

import pytest
from PIL import Image

from inference_api import errors
from inference_api.context import Examined
from inference_api.imaging.limits import DecodeLimits, ModelInput
from inference_api.sandbox import child
from inference_api.sandbox.pool import DecoderPool
from inference_api.testing.images.costly import flat_png, jpeg_with_comments
from inference_api.testing.images.uploads import encode, png_declaring
from inference_api.testing.servers import cpu_seconds, status_kb

MIB = 1024 * 1024
# The limits the suite's settings set (the decoder gets them as the server would).
SETTINGS_LIMITS = DecodeLimits.from_settings()


@pytest.fixture
def pool():
    made = DecoderPool(spare=1)
    made.warm()
    yield made
    made.close()


def progressive_photo(size: tuple[int, int]) -> bytes:
    """A noisy progressive JPEG: its decode is spent inside libjpeg's C loops."""
    buffer = io.BytesIO()
    Image.effect_noise(size, 60).convert("RGB").save(buffer, "JPEG", progressive=True)
    return buffer.getvalue()


def refusal(pool: DecoderPool, data: bytes, limits: DecodeLimits) -> errors.ApiError:
    with pytest.raises(errors.ApiError) as refused:
        pool.decode(data, limits, ModelInput())
    return refused.value


def test_an_image_within_the_budget_comes_back_as_the_model_input_only(pool):
    prepared = pool.decode(encode("PNG", (640, 480)), SETTINGS_LIMITS, ModelInput())
    assert (prepared.size, len(prepared.pixels)) == (224, 224 * 224 * 3)
    assert prepared.examined == Examined(detected_format="PNG", width=640, height=480)
    assert prepared.cost.cpu_ms > 0 and prepared.cost.peak_rss_kb >= prepared.cost.idle_rss_kb


def test_the_kernel_stops_a_decode_over_its_cpu_budget_inside_libjpeg(pool, caplog):
    data = progressive_photo((3000, 2000))
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, "inference_api.sandbox.pool"):
        error = refusal(pool, data, DecodeLimits.from_settings(cpu_seconds=0.02))
    assert (error.status, error.code) == (422, "too_costly")
    assert "ended by SIGPROF" in caplog.text
    assert time.monotonic() - started < 2
    # The same bytes decode with a budget that covers them.
    assert pool.decode(data, SETTINGS_LIMITS, ModelInput()).examined.width == 3000


def test_a_decode_over_its_memory_budget_is_refused_and_the_decoder_replaced(pool):
    data = flat_png(4000, 4000, color_type=6)  # 64 MB once decoded
    first = set(pool.pids())
    error = refusal(pool, data, DecodeLimits.from_settings(memory_bytes=32 * MIB))
    assert error.code == "too_costly"
    assert pool.decode(data, SETTINGS_LIMITS, ModelInput()).examined.width == 4000
    # The decoder that ran out of memory retired; a new one took its place.
    assert len(first - set(pool.pids())) >= 1


def test_a_decoder_that_does_not_answer_in_time_is_killed(fresh_pool, caplog):
    (pid,) = fresh_pool.pids()
    fresh_pool._idle[0].wait_ready()
    os.kill(pid, signal.SIGSTOP)  # it can neither decode nor be stopped by its own timers
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, "inference_api.sandbox.pool"):
        limits = DecodeLimits.from_settings(wall_seconds=0.2)
        error = refusal(fresh_pool, encode("JPEG", (64, 48)), limits)
    assert error.code == "too_costly"
    assert time.monotonic() - started < 2
    assert "killed after its deadline" in caplog.text
    assert not Path(f"/proc/{pid}").exists() or _zombie_gone(pid)


def _zombie_gone(pid: int) -> bool:
    try:
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return True


def test_the_next_upload_after_a_kill_is_served_by_a_warm_decoder(pool):
    for decoder in list(pool._idle):
        decoder.wait_ready()
    refusal(pool, progressive_photo((3000, 2000)), DecodeLimits.from_settings(cpu_seconds=0.02))
    spare_ready = [d for d in pool._idle if d.ready]
    assert spare_ready, "a decoder started before the kill is there to serve at once"
    assert pool.decode(encode("JPEG", (64, 48)), SETTINGS_LIMITS, ModelInput()).size == 224
    assert len(pool.pids()) == 2


def test_a_decoder_that_died_while_idle_costs_the_next_upload_nothing(pool):
    for decoder in list(pool._idle):
        decoder.wait_ready()
    os.kill(pool.pids()[0], signal.SIGKILL)
    time.sleep(0.1)
    assert pool.decode(encode("WEBP", (64, 48)), SETTINGS_LIMITS, ModelInput()).size == 224


def test_a_refusal_from_the_structure_keeps_the_decoder(pool):
    before = pool.pids()
    data = flat_png(16, 16)
    error = refusal(pool, data[:-20], SETTINGS_LIMITS)
    assert error.code == "invalid_image"
    assert set(pool.pids()) == set(before)


def test_the_decoder_sees_no_secret_and_loads_neither_django_nor_torch(pool):
    pool.decode(encode("WEBP", (64, 48)), SETTINGS_LIMITS, ModelInput())
    pid = pool.pids()[0]  # the decoder that served goes back first
    environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    names = {entry.split(b"=", 1)[0] for entry in environment if entry}
    assert not names & {b"SECRET_KEY", b"DATABASE_URL", b"REDIS_URL", b"R2_SECRET_ACCESS_KEY"}
    assert b"DJANGO_SETTINGS_MODULE" not in names
    mapped = Path(f"/proc/{pid}/maps").read_text()
    assert "libtorch" not in mapped and "libwebp" in mapped


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def children_of(pid: int) -> set[int]:
    return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def test_a_decoder_retired_by_a_walk_refusal_is_replaced_by_a_fork_of_the_warm_zygote(pool):
    for decoder in list(pool._idle):
        decoder.wait_ready()
    zygote = pool.zygote_pid()
    assert {parent_of(pid) for pid in pool.pids()} == {zygote}
    before = set(pool.pids())
    for _ in range(5):  # each retires its decoder: too many segments is too_costly
        assert refusal(pool, jpeg_with_comments(2_100), SETTINGS_LIMITS).code == "too_costly"
    for decoder in list(pool._idle):
        decoder.wait_ready()
    fresh = set(pool.pids()) - before
    assert fresh and {parent_of(pid) for pid in fresh} == {zygote}
    # A fork that imports nothing: a fresh Python with Pillow and numpy took 0.23-0.76 CPU-s.
    assert max(cpu_seconds(pid) for pid in fresh) < 0.05
    # The retired ones are reaped, not left as the zygote's zombies.
    assert children_of(zygote) == set(pool.pids())


def test_a_zygote_that_died_is_replaced_and_the_next_upload_served(pool):
    for decoder in list(pool._idle):
        decoder.wait_ready()
    os.kill(pool.zygote_pid(), signal.SIGKILL)
    for _ in range(3):  # the idle decoders serve, then their replacements need a new zygote
        assert refusal(pool, jpeg_with_comments(2_100), SETTINGS_LIMITS).code == "too_costly"
    assert pool.decode(encode("PNG", (64, 48)), SETTINGS_LIMITS, ModelInput()).size == 224


def noisy_png(size: tuple[int, int]) -> bytes:
    """A PNG as large as a photo's (~3 MB at 2 MP), quick to encode."""
    buffer = io.BytesIO()
    Image.effect_noise(size, 30).convert("RGB").save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def minor_faults(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[7])


def test_a_decoder_reuses_its_heap_for_the_next_upload_instead_of_faulting_it_in(pool):
    data = noisy_png((1632, 1224))  # its frame alone is ~2,000 pages
    pool.decode(data, SETTINGS_LIMITS, ModelInput())
    faults = []
    for _ in range(3):
        time.sleep(0.5)  # uploads half a second apart, a modest steady rate
        pid = pool.pids()[0]  # the decoder that just answered is the next one used
        before = minor_faults(pid)
        pool.decode(data, SETTINGS_LIMITS, ModelInput())
        faults.append(minor_faults(pid) - before)
    # With glibc's adaptive thresholds each decode faulted its buffers in again (3,000-5,000).
    assert sorted(faults)[1] < 1_000, faults


@pytest.mark.slow
def test_an_idle_decoder_hands_its_heap_back(pool):
    prepared = pool.decode(noisy_png((1632, 1224)), SETTINGS_LIMITS, ModelInput())
    pid = pool.pids()[0]
    time.sleep(child.IDLE_TRIM_SECONDS + 1.0)
    # Adaptive glibc kept ~15 MB of a 2 MP PNG's heap resident for good.
    assert status_kb(pid, "VmRSS") - prepared.cost.idle_rss_kb < 2 * 1024


def test_a_refusal_crosses_the_socket_as_the_checks_error_with_what_the_decoder_learned(pool):
    refused = refusal(pool, png_declaring(9000, 9000, zero_bytes=1000), SETTINGS_LIMITS)
    # More pixels than allowed, found from the header before any decode.
    assert type(refused) is errors.DecompressionBomb
    assert refused.examined == Examined(detected_format="PNG", width=9000, height=9000)
