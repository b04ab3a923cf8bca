"""The checklist items one by one, and their registration as Django deploy checks."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from inference_api.operations import checklist

REDIS_CACHE = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://h/3"}
LOCMEM_CACHE = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
DUMMY_CACHE = {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}
STRONG_KEY = "k3y-" + "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOP"

# This module doubles as a URLconf without the JSON error views.
urlpatterns: list = []


def s3_quarantine(**options) -> dict:
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": "quarantine",
            "endpoint_url": "http://127.0.0.1:9",
            "access_key": "id",
            "secret_key": "secret",
            "default_acl": None,
            "querystring_auth": True,
            **options,
        },
    }


def local_storage(path) -> dict:
    return {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(path), "base_url": None},
    }


# --- 1, 2, 4: what an upload may be ----------------------------------------------------


def test_the_allowlist_passes_with_the_three_image_types():
    assert checklist.check_allowlist().ok


@pytest.mark.parametrize("types", [(), ("image/jpeg", "image/svg+xml"), ("text/html",)])
def test_the_allowlist_fails_when_it_is_empty_or_allows_more(settings, types):
    settings.ALLOWED_CONTENT_TYPES = types
    assert not checklist.check_allowlist().ok


def test_the_caps_pass_as_configured():
    assert checklist.check_upload_caps().ok


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAX_UPLOAD_BYTES", 0),
        ("MAX_UPLOAD_BYTES", 500 * 1024 * 1024),
        ("MAX_IMAGE_DIMENSION", 20000),
        ("FILE_UPLOAD_HANDLERS", ["django.core.files.uploadhandler.TemporaryFileUploadHandler"]),
        ("DATA_UPLOAD_MAX_MEMORY_SIZE", None),
    ],
)
def test_the_caps_fail_when_one_is_missing_or_too_large(settings, name, value):
    setattr(settings, name, value)
    verdict = checklist.check_upload_caps()
    assert not verdict.ok
    assert name in verdict.detail


def test_the_pixel_cap_passes_below_pillows_default():
    assert checklist.check_pixel_cap().ok


@pytest.mark.parametrize("pixels", [0, checklist.PILLOW_DEFAULT_MAX_PIXELS, 200_000_000])
def test_the_pixel_cap_fails_at_or_above_pillows_default(settings, pixels):
    settings.MAX_IMAGE_PIXELS = pixels
    assert not checklist.check_pixel_cap().ok


def test_pillows_default_is_what_we_compare_against():
    # Pillow's own formula; a fresh interpreter's Image.MAX_IMAGE_PIXELS equals it.
    assert checklist.PILLOW_DEFAULT_MAX_PIXELS == int(1024 * 1024 * 1024 // 4 // 3)


# --- 5: rate limits and client identity -------------------------------------------------


def test_the_in_process_cache_passes_for_one_worker(settings):
    settings.CACHES = {**settings.CACHES, "ratelimit": LOCMEM_CACHE}
    settings.WEB_CONCURRENCY = 1
    assert checklist.check_shared_rate_limit_cache().ok


def test_the_in_process_cache_fails_with_more_than_one_worker(settings):
    settings.CACHES = {**settings.CACHES, "ratelimit": LOCMEM_CACHE}
    settings.WEB_CONCURRENCY = 4
    verdict = checklist.check_shared_rate_limit_cache()
    assert not verdict.ok
    assert "WEB_CONCURRENCY=4" in verdict.detail


def test_redis_passes_with_many_workers_and_says_how_it_fails(settings):
    settings.CACHES = {**settings.CACHES, "ratelimit": REDIS_CACHE}
    settings.WEB_CONCURRENCY = 8
    settings.RATELIMIT_FAIL_OPEN = False
    verdict = checklist.check_shared_rate_limit_cache()
    assert verdict.ok
    assert "fails closed" in verdict.detail
    assert "redis://" not in verdict.detail  # the URL may hold a password


@pytest.mark.parametrize("override", [{"ratelimit": DUMMY_CACHE}, {"ratelimit": None}])
def test_a_dummy_or_missing_rate_limit_cache_fails(settings, override):
    caches = {**settings.CACHES, **override}
    settings.CACHES = {alias: config for alias, config in caches.items() if config}
    assert not checklist.check_shared_rate_limit_cache().ok


def test_rate_limiting_switched_off_fails(settings):
    settings.RATELIMIT_ENABLE = False
    assert not checklist.check_shared_rate_limit_cache().ok


def test_trusted_proxies_pass_when_listed_or_empty(settings):
    settings.TRUSTED_PROXIES = []
    assert checklist.check_trusted_proxies().ok
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "fd00::/8"]
    assert checklist.check_trusted_proxies().ok


@pytest.mark.parametrize("proxies", [["0.0.0.0/0"], ["::/0"], ["10.0.0.0/33"], ["proxy.local"]])
def test_trusted_proxies_fail_when_they_trust_everyone_or_do_not_parse(settings, proxies):
    settings.TRUSTED_PROXIES = proxies
    assert not checklist.check_trusted_proxies().ok


# --- 6: CORS ---------------------------------------------------------------------------


def test_cors_passes_with_exact_origins(settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com", "http://localhost:3000"]
    assert checklist.check_cors().ok


@pytest.mark.parametrize(
    "origins",
    [
        ["*"],
        ["https://*.example.com"],
        ["null"],
        ["https://app.example.com/path"],
        ["app.example.com"],
    ],
)
def test_cors_fails_on_a_wildcard_or_something_not_an_origin(settings, origins):
    settings.CORS_ALLOWED_ORIGINS = origins
    assert not checklist.check_cors().ok


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CORS_ALLOW_ALL_ORIGINS", True),
        ("CORS_ALLOWED_ORIGIN_REGEXES", [r"^https://.*$"]),
        ("CORS_ALLOW_CREDENTIALS", True),
        ("CORS_URLS_REGEX", r"^.*$"),
    ],
)
def test_cors_fails_when_opened_up_another_way(settings, name, value):
    setattr(settings, name, value)
    assert not checklist.check_cors().ok


# --- 7: errors and DEBUG ----------------------------------------------------------------


def test_debug_fails_when_on(settings):
    settings.DEBUG = True
    assert not checklist.check_debug().ok
    settings.DEBUG = False
    assert checklist.check_debug().ok


def test_the_error_handler_passes_as_configured():
    verdict = checklist.check_error_handler()
    assert verdict.ok, verdict.detail


def test_the_error_handler_fails_without_the_drf_handler(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "EXCEPTION_HANDLER": None}
    assert not checklist.check_error_handler().ok


def test_the_error_handler_fails_without_json_404_and_500_views(settings):
    settings.ROOT_URLCONF = __name__
    verdict = checklist.check_error_handler()
    assert not verdict.ok
    assert "handler404" in verdict.detail


def test_the_error_handler_fails_when_logs_lack_the_request_id(settings):
    console = {"class": "logging.StreamHandler"}
    settings.LOGGING = {**settings.LOGGING, "handlers": {"console": console}}
    assert not checklist.check_error_handler().ok


# --- 8: secrets ---------------------------------------------------------------------------


def test_secrets_pass_with_a_long_random_key(settings):
    settings.SECRET_KEY = STRONG_KEY
    assert checklist.check_secrets().ok


@pytest.mark.parametrize(
    "key",
    [
        "",
        "change-me",
        "test-only-secret-key-not-used-anywhere-else-0123456789",
        "django-insecure-" + "x" * 50,
        "short-but-random-9f8e7d",
        "a" * 60,
    ],
)
def test_secrets_fail_on_a_missing_default_or_weak_key(settings, key):
    settings.SECRET_KEY = key
    verdict = checklist.check_secrets()
    assert not verdict.ok
    assert key not in verdict.detail or not key


def test_secrets_fail_when_r2_is_used_without_its_keys(settings):
    settings.SECRET_KEY = STRONG_KEY
    settings.R2_ENDPOINT_URL = "https://account.r2.cloudflarestorage.com"
    settings.R2_ACCESS_KEY_ID = ""
    assert not checklist.check_secrets().ok


def test_the_model_hash_must_be_pinned(settings):
    settings.MODEL_SHA256 = ""
    assert not checklist.check_model_hash().ok
    settings.MODEL_SHA256 = "not-a-hash"
    assert not checklist.check_model_hash().ok
    settings.MODEL_SHA256 = "AB" * 32
    assert checklist.check_model_hash().ok


# --- the quarantine -----------------------------------------------------------------------


def test_a_local_quarantine_outside_served_folders_passes(settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "quarantine": local_storage(tmp_path / "q")}
    assert checklist.check_quarantine_private().ok


def test_a_local_quarantine_inside_static_root_fails(settings, tmp_path):
    settings.STATIC_ROOT = str(tmp_path / "static")
    inside = local_storage(tmp_path / "static" / "q")
    settings.STORAGES = {**settings.STORAGES, "quarantine": inside}
    assert not checklist.check_quarantine_private().ok


def test_a_local_quarantine_inside_the_media_folder_fails(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": local_storage(tmp_path / "media"),
        "quarantine": local_storage(tmp_path / "media" / "quarantine"),
    }
    assert not checklist.check_quarantine_private().ok


def test_a_bucket_default_storage_does_not_count_as_a_served_folder(settings):
    # A bucket's "location" is a key prefix (""), not the working directory,
    # where the suite's own local quarantine (var/test/quarantine) lives.
    settings.STORAGES = {**settings.STORAGES, "default": s3_quarantine()}
    verdict = checklist.check_quarantine_private()
    assert verdict.ok, verdict.detail


def test_a_private_bucket_with_signed_urls_passes(settings):
    settings.STORAGES = {**settings.STORAGES, "quarantine": s3_quarantine()}
    verdict = checklist.check_quarantine_private()
    assert verdict.ok, verdict.detail


@pytest.mark.parametrize(
    "options",
    [
        {"default_acl": "public-read"},
        {"querystring_auth": False},
        {"custom_domain": "files.example.com"},
    ],
)
def test_a_bucket_that_serves_objects_publicly_fails(settings, options):
    settings.STORAGES = {**settings.STORAGES, "quarantine": s3_quarantine(**options)}
    assert not checklist.check_quarantine_private().ok


# --- 9: the user ----------------------------------------------------------------------------


def test_root_fails_and_any_other_user_passes():
    assert not checklist.check_not_root(uid=0).ok
    assert checklist.check_not_root(uid=1000).ok


# --- as Django system checks ------------------------------------------------------------------


def test_every_item_is_a_deploy_check():
    from django.core.checks import registry

    numbers = {int(item.id.rsplit(".", 1)[1][1:]) for item in checklist.CHECKLIST}
    assert numbers == set(range(1, len(checklist.CHECKLIST) + 1))
    # E: a failure is an error; W: the item only ever warns.
    assert all(item.id.rsplit(".", 1)[1][0] in "EW" for item in checklist.CHECKLIST)
    registered = registry.registry.get_checks(include_deployment_checks=True)
    names = {check.__name__ for check in registered}
    assert {f"check_{item.id.rsplit('.', 1)[1].lower()}" for item in checklist.CHECKLIST} <= names


def test_check_deploy_fails_with_an_in_process_cache_and_several_workers(settings):
    settings.CACHES = {**settings.CACHES, "ratelimit": LOCMEM_CACHE}
    settings.WEB_CONCURRENCY = 2
    with pytest.raises(SystemCheckError) as failure:
        call_command("check", "--deploy", "--tag", "inference_api")
    assert "inference_api.E004" in str(failure.value)
    assert "shared rate-limit cache" in str(failure.value)


def test_plain_check_does_not_run_the_deploy_items(settings):
    from django.core.checks import registry

    settings.CACHES = {**settings.CACHES, "ratelimit": LOCMEM_CACHE}
    settings.WEB_CONCURRENCY = 2
    call_command("check")  # a development box may still migrate and run
    plain = {message.id for message in registry.run_checks(tags=["inference_api"])}
    deploy = registry.run_checks(tags=["inference_api"], include_deployment_checks=True)
    assert "inference_api.E004" not in plain
    # The same failing item is there, as a deploy check.
    assert "inference_api.E004" in {message.id for message in deploy}


def test_a_crashing_item_fails_instead_of_passing():
    item = checklist.ChecklistItem("x.E999", "broken", lambda: 1 / 0, "")
    verdict = checklist.run_item(item)
    assert not verdict.ok
    assert "ZeroDivisionError" in verdict.detail


def test_the_decode_budget_item_starts_a_real_decoder():
    verdict = checklist.check_decode_budget()
    assert verdict.ok
    assert "in a decoder process" in verdict.detail


@pytest.mark.parametrize(
    "overrides",
    [
        {"DECODE_CPU_SECONDS": 0.0},
        {"DECODE_CPU_SECONDS": 4.0, "DECODE_WALL_SECONDS": 3.0},
        {"DECODE_MEMORY_BYTES": 128 * 1024 * 1024},
        {"DECODE_WALL_SECONDS": 45.0, "DECODE_CPU_SECONDS": 1.0},
    ],
)
def test_an_incoherent_decode_budget_fails(settings, overrides):
    for name, value in overrides.items():
        setattr(settings, name, value)
    assert not checklist.check_decode_budget().ok
