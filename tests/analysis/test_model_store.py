"""The loader fetches, checks the hash before loading, and loads once per process."""

import logging
import threading
from pathlib import Path

import pytest
import torch
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, storages

from analysis import model_store
from analysis.errors import ModelIntegrityError, ModelUnavailable
from analysis.export import sidecar_name
from analysis.metadata import ModelMetadata


@pytest.fixture
def copy_storage(tmp_path, exported_model, settings) -> FileSystemStorage:
    """A models storage of the test's own holding a copy of the real model."""
    source = storages["models"]
    target = FileSystemStorage(location=tmp_path / "models")
    name = settings.MODEL_FILE_NAME
    for path in (name, sidecar_name(name)):
        with source.open(path, "rb") as handle:
            target.save(path, ContentFile(handle.read()))
    settings.MODEL_CACHE_DIR = tmp_path / "cache"
    return target


def test_it_loads_a_model_whose_hash_matches_the_pin(copy_storage, exported_model, settings):
    settings.MODEL_SHA256 = exported_model
    model = model_store.load_model(storage=copy_storage)
    assert model.sha256 == exported_model
    assert isinstance(model.metadata, ModelMetadata)
    assert model.describe()["name"] == "efficientnet-lite0"


def test_it_refuses_a_model_with_a_wrong_pinned_hash(copy_storage, settings, caplog):
    settings.MODEL_SHA256 = "0" * 64
    with caplog.at_level(logging.ERROR), pytest.raises(ModelIntegrityError):
        model_store.load_model(storage=copy_storage)
    assert "does not match the pinned" in caplog.text
    assert not any(Path(settings.MODEL_CACHE_DIR).glob("*.pt"))


def test_it_refuses_a_tampered_file_against_the_hash_recorded_at_export(copy_storage, settings):
    settings.MODEL_SHA256 = ""
    name = settings.MODEL_FILE_NAME
    with copy_storage.open(name, "rb") as handle:
        data = bytearray(handle.read())
    data[len(data) // 2] ^= 0xFF
    copy_storage.delete(name)
    copy_storage.save(name, ContentFile(bytes(data)))
    with pytest.raises(ModelIntegrityError):
        model_store.load_model(storage=copy_storage)


def test_it_refuses_a_tampered_cached_copy(copy_storage, exported_model, settings):
    settings.MODEL_SHA256 = exported_model
    model_store.load_model(storage=copy_storage)
    cached = Path(settings.MODEL_CACHE_DIR) / f"{exported_model}.pt"
    cached.write_bytes(b"not the model")
    copy_storage.delete(settings.MODEL_FILE_NAME)
    copy_storage.save(settings.MODEL_FILE_NAME, ContentFile(b"also not the model"))
    with pytest.raises(ModelIntegrityError):
        model_store.load_model(storage=copy_storage)


def test_it_says_unavailable_when_the_file_is_missing(tmp_path, settings):
    settings.MODEL_SHA256 = ""
    with pytest.raises(ModelUnavailable):
        model_store.load_model(storage=FileSystemStorage(location=tmp_path / "empty"))


def test_get_model_loads_once_for_many_threads(exported_model, settings, tmp_path):
    settings.MODEL_CACHE_DIR = tmp_path / "cache"
    model_store.reset_model()
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(model_store.get_model())) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4 and all(r is results[0] for r in results)
    assert model_store.model_loaded()


def test_after_a_failure_it_waits_before_touching_storage_again(settings, tmp_path):
    settings.MODEL_FILE_NAME = "missing.pt"
    settings.MODEL_SHA256 = "1" * 64
    model_store.reset_model()
    with pytest.raises(ModelUnavailable):
        model_store.get_model()
    with pytest.raises(ModelUnavailable, match="failed recently"):
        model_store.get_model()
    model_store.reset_model()


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "plain"])
def test_the_loaded_model_runs_oneDNNs_fused_plan_from_its_warm_up(copy_storage, settings, fused):
    """TORCH_ONEDNN_FUSION picks the plan; the warm-up at load has already compiled it.

    The graph TorchScript last ran is the last warm-up pass's: with the
    setting on, it is made of oneDNN's fusion groups, so no request pays for
    their compilation.
    """
    settings.TORCH_ONEDNN_FUSION = fused
    was = torch.jit.onednn_fusion_enabled()
    try:
        model = model_store.load_model(storage=copy_storage)  # held: the graph is its module's
        graph = torch.jit.last_executed_optimized_graph()
    finally:
        torch.jit.enable_onednn_fusion(was)
    assert model.module is not None and graph is not None
    assert ("prim::oneDNNFusionGroup" in str(graph)) is fused
