"""The settings' limits reach the decoding packages only through DecodeLimits.from_settings."""

import dataclasses

import pytest

from inference_api.imaging.limits import DecodeLimits

FROM_SETTINGS = {
    "max_dimension": "MAX_IMAGE_DIMENSION",
    "max_pixels": "MAX_IMAGE_PIXELS",
    "max_jpeg_scans": "MAX_JPEG_SCANS",
    "cpu_seconds": "DECODE_CPU_SECONDS",
    "memory_bytes": "DECODE_MEMORY_BYTES",
    "wall_seconds": "DECODE_WALL_SECONDS",
}


def test_the_settings_limits_have_no_second_default_here():
    required = {
        field.name
        for field in dataclasses.fields(DecodeLimits)
        if field.default is dataclasses.MISSING
    }
    assert required == set(FROM_SETTINGS)
    with pytest.raises(TypeError):
        DecodeLimits()


def test_from_settings_hands_over_what_the_settings_say(settings):
    wanted = {field: number for number, field in enumerate(FROM_SETTINGS, start=7)}
    for field, number in wanted.items():
        setattr(settings, FROM_SETTINGS[field], number)
    limits = DecodeLimits.from_settings()
    assert {field: getattr(limits, field) for field in FROM_SETTINGS} == wanted


def test_an_override_replaces_one_limit_and_keeps_the_rest(settings):
    limits = DecodeLimits.from_settings(cpu_seconds=0.5)
    assert limits.cpu_seconds == 0.5
    assert limits.max_dimension == settings.MAX_IMAGE_DIMENSION
