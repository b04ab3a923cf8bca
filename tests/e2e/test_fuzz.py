"""Fuzzing the validation-and-decode path with mutations of real files.

The harness (seeds, structure-aware mutations, the offline analyze and the
in-process verdict) is inference_api.testing.fuzz;
its docstring states the property. The test's run is short and derandomized.
"""

import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings

from inference_api.imaging.formats import sniff_format
from inference_api.testing.fuzz import (
    DECODER_VERDICTS,
    FUZZ_EXAMPLES,
    analyze_offline,
    corpus_seeds,
    hostile_upload,
    jpeg_frame_header,
    jpeg_with_frame,
    png_chunks,
    png_with_field,
    prepare_in_process,
)


@pytest.fixture(scope="module")
def seeds(corpus_dir) -> list[bytes]:
    found = corpus_seeds(corpus_dir)
    assert len(found) > 50, "the corpus should give dozens of seeds"
    return found


@pytest.mark.slow
def test_mutated_corpus_files_only_ever_get_a_4xx_or_an_rgb_image(seeds):
    seen: dict[str, int] = {}

    @settings(
        max_examples=FUZZ_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(hostile_upload(seeds))
    def check(upload: tuple[bytes, str, str]) -> None:
        outcome = analyze_offline(*upload)
        seen[outcome] = seen.get(outcome, 0) + 1
        if outcome in DECODER_VERDICTS and sniff_format(upload[0]):
            assert prepare_in_process(upload[0]) in (outcome, "too_costly"), outcome

    check()
    # The run reached the decoders, not only the cheap checks.
    assert seen.get("accepted", 0) > 0
    assert seen.get("invalid_image", 0) > 0


def test_the_structured_edits_do_what_they_say(seeds):
    png = next(s for s in seeds if s.startswith(b"\x89PNG"))
    edited = png_with_field(png, 0, 0, struct.pack(">II", 25000, 25000))
    offset, length, kind = png_chunks(edited)[0]
    assert kind == b"IHDR" and struct.unpack(">II", edited[offset + 8 : offset + 16]) == (
        25000,
        25000,
    )
    crc = zlib.crc32(kind + edited[offset + 8 : offset + 8 + length]) & 0xFFFFFFFF
    assert struct.unpack(">I", edited[offset + 8 + length : offset + 12 + length])[0] == crc
    assert analyze_offline(edited, "image/png", "x.png") == "decompression_bomb"
    jpeg = next(s for s in seeds if s.startswith(b"\xff\xd8\xff") and jpeg_frame_header(s))
    assert analyze_offline(jpeg_with_frame(jpeg, 8, 9000, 100, 3), "image/jpeg", "x.jpg") == (
        "image_too_large"
    )
