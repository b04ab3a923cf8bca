"""export_model and verify_model, run through call_command on a storage of the test's own."""

import hashlib
from io import StringIO

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.management import CommandError, call_command

from analysis.export import sidecar_name
from analysis.model_store import load_model


@pytest.fixture
def tmp_models(tmp_path, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "models": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "models")},
        },
    }
    settings.MODEL_CACHE_DIR = tmp_path / "cache"
    settings.MODEL_SHA256 = ""
    return storages["models"]


def run(name: str, *args: str) -> str:
    out = StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


def test_export_writes_the_model_and_its_hash_and_prints_it(tmp_models):
    output = run("export_model")
    digest = output.split("SHA-256 ")[1].split()[0]
    assert tmp_models.exists("efficientnet_lite0.pt")
    with tmp_models.open(sidecar_name("efficientnet_lite0.pt")) as sidecar:
        assert sidecar.read().decode().strip() == digest
    assert f"MODEL_SHA256={digest}" in output


def test_export_with_a_model_version_writes_it_into_the_files_metadata(tmp_models, settings):
    output = run("export_model", "--name", "release-2.pt", "--model-version", "lite0-release-2")
    digest = output.split("SHA-256 ")[1].split()[0]
    assert "Model version lite0-release-2" in output

    settings.MODEL_SHA256 = digest
    loaded = load_model(storage=tmp_models, name="release-2.pt")

    assert loaded.metadata.version == "lite0-release-2"
    assert loaded.describe() == {
        "name": "efficientnet-lite0", "version": "lite0-release-2", "sha256": digest
    }


def test_export_if_missing_leaves_a_stored_model_alone(tmp_models):
    run("export_model")
    assert "nothing to do" in run("export_model", "--if-missing")


def plant(storage, model: bytes, recorded: bytes, name: str = "efficientnet_lite0.pt") -> None:
    storage.save(name, ContentFile(model))
    storage.save(sidecar_name(name), ContentFile(recorded))


def stored(storage, name: str = "efficientnet_lite0.pt") -> tuple[bytes, bytes]:
    with storage.open(name) as model, storage.open(sidecar_name(name)) as sidecar:
        return model.read(), sidecar.read()


def test_export_over_a_stored_model_without_yes_only_says_it_would_replace_it(tmp_models):
    plant(tmp_models, b"the model in service", b"pinned\n")

    output = run("export_model")

    assert "would be replaced" in output and "--yes" in output
    assert stored(tmp_models) == (b"the model in service", b"pinned\n")


def test_export_with_yes_replaces_a_stored_model(tmp_models):
    plant(tmp_models, b"an old model", b"stale\n")

    output = run("export_model", "--yes")

    digest = output.split("SHA-256 ")[1].split()[0]
    model, recorded = stored(tmp_models)
    assert hashlib.sha256(model).hexdigest() == digest == recorded.decode().strip()
    assert sorted(tmp_models.listdir("")[1]) == [
        "efficientnet_lite0.pt", "efficientnet_lite0.pt.sha256"
    ]


def test_verify_classifies_the_bundled_photo(tmp_models):
    run("export_model")
    output = run("verify_model")
    assert "hash verified" in output
    assert "OK: the sample photo is espresso" in output


def test_verify_fails_on_a_wrong_pin(tmp_models, settings):
    run("export_model")
    settings.MODEL_SHA256 = "a" * 64
    with pytest.raises(CommandError, match="model refused"):
        run("verify_model")


def test_verify_fails_when_nothing_was_exported(tmp_models):
    with pytest.raises(CommandError, match="model refused"):
        run("verify_model")
