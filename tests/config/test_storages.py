"""The storages the settings build: local defaults and their privacy."""

import stat

from django.core.files.base import ContentFile
from django.core.files.storage import storages


def test_quarantined_files_are_readable_by_the_service_user_only(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "quarantine": {
            **settings.STORAGES["quarantine"],
            "OPTIONS": {
                **settings.STORAGES["quarantine"]["OPTIONS"],
                "location": str(tmp_path / "q"),
            },
        },
    }
    storage = storages["quarantine"]
    name = storage.save("sub/sample.bin", ContentFile(b"hostile bytes"))
    assert stat.S_IMODE((tmp_path / "q" / name).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "q" / "sub").stat().st_mode) == 0o700


def test_without_r2_both_storages_are_local_folders(settings):
    for alias in ("models", "quarantine"):
        assert settings.STORAGES[alias]["BACKEND"] == "django.core.files.storage.FileSystemStorage"
