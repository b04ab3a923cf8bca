"""Every environment variable the service reads: the one list.

README's configuration table is made from `ENVIRONMENT` (`make readme`, or
`python -m config.environment`), and tests/config/test_environment.py holds
the code to it: a variable read by the settings, gunicorn.conf.py or the
app's modules and missing here, one listed here for a reader that does not
read it, a README table that differs from `render_table()`, or a value the
Dockerfile sets that differs from `image` all fail the suite.

Only the service's own variables are here. The image-test and bench tools
(deploy/image/, bench/), the test suite, compose's own `.env`
(`POSTGRES_PASSWORD`) and nginx.conf's placeholders read theirs where they
are used, and docs/deploy.md describes them.

This module imports nothing from Django: it runs before settings exist.
"""

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN = (
    "<!-- environment table: generated from config/environment.py by `make readme`; "
    "edit it there -->"
)
END = "<!-- end of the environment table -->"

# Who reads a variable. The first six are files of this repository, which
# the test scans; the others are programs that read their own environment.
BASE = "base"  # config/settings/base.py, so every profile
LOCAL = "local"  # config/settings/local.py
PRODUCTION = "production"  # config/settings/production.py
TEST = "test"  # config/settings/test.py
GUNICORN_CONF = "gunicorn.conf"  # config/gunicorn.conf.py, before Django starts
APP = "app"  # a module of inference_api/ or analysis/ at run time
DJANGO = "Django"
GUNICORN = "gunicorn"
PYTHON = "Python"
GLIBC = "glibc"
OPENBLAS = "OpenBLAS"  # numpy's BLAS, in each worker
SCANNED_READERS = (BASE, LOCAL, PRODUCTION, TEST, GUNICORN_CONF, APP)
READERS = SCANNED_READERS + (DJANGO, GUNICORN, PYTHON, GLIBC, OPENBLAS)


@dataclass(frozen=True)
class Variable:
    """One environment variable: what it is called, defaults to, means and who reads it.

    `default` and `meaning` are Markdown, as the README shows them; `image` is
    the value the Dockerfile sets, if any; `secret` marks a credential (in the
    Kubernetes Secret, never the ConfigMap).
    """

    name: str
    default: str
    meaning: str
    read_by: tuple[str, ...] = (BASE,)
    image: str | None = None
    secret: bool = False

    def __post_init__(self) -> None:
        unknown = set(self.read_by) - set(READERS)
        if unknown or not self.read_by:
            raise ValueError(f"{self.name}: read_by {self.read_by!r} (known: {READERS})")


ENVIRONMENT: tuple[Variable, ...] = (
    # --- the profile and Django's core ------------------------------------------------
    Variable(
        "DJANGO_SETTINGS_MODULE",
        "`config.settings.local` (`manage.py`), `config.settings.production` (`wsgi.py`)",
        "the profile: `config.settings.local` (`make run`), `config.settings.production`, "
        "`config.settings.test` (the suite)",
        read_by=(DJANGO,),
        image="config.settings.production",
    ),
    Variable(
        "SECRET_KEY",
        "none (required; the test profile has its own)",
        "Django's signing key, 50+ random characters; `local` and `production` refuse to "
        "start without it, and `make run` writes one to `.env`",
        secret=True,
    ),
    Variable("DEBUG", "`false`", "only ever for local development; production refuses to start "
             "with it on"),
    Variable(
        "ALLOWED_HOSTS",
        "`localhost,127.0.0.1,[::1]`",
        "host names the service answers to; keep `localhost` for the container's and the "
        "kubelet's health probes",
    ),
    Variable("CSRF_TRUSTED_ORIGINS", "empty",
             "origins allowed to post the admin's forms behind a TLS proxy, e.g. "
             "`https://admin.example.com`"),
    Variable("CORS_ALLOWED_ORIGINS", "empty (no cross-origin access)",
             "exact origins allowed to call `/api/v1/` from a browser (never `*`); a "
             "browser's request from any other origin is refused 403 `origin_not_allowed`"),
    Variable(
        "SECURE_SSL_REDIRECT",
        "`true`",
        "redirect plain HTTP to HTTPS, decided on `X-Forwarded-Proto` from `TRUSTED_PROXIES`; "
        "`/healthz`, `/readyz`, `/metrics` are exempt",
        read_by=(PRODUCTION,),
    ),
    Variable("SECURE_HSTS_SECONDS", "`31536000`", "HSTS max-age", read_by=(PRODUCTION,)),
    Variable("LOG_LEVEL", "`INFO`", "root log level"),
    Variable("LOG_FORMAT", "`text`; `json` in production",
             "`json`: one JSON object per line", read_by=(BASE, PRODUCTION)),
    # --- folders ----------------------------------------------------------------------
    Variable("VAR_DIR", "`./var`", "the local data folder (model storage, cache, quarantine); "
             "the only folder the image writes", image="/var/lib/app"),
    Variable("TEST_VAR_DIR", "`./var/test`",
             "the suite's own data folder, apart from `make run`'s", read_by=(TEST,)),
    Variable("TMPDIR", "the system's", "temporary files, also of the decoder processes; the "
             "image points it into `VAR_DIR` (its root filesystem is read-only)",
             read_by=(PYTHON,), image="/var/lib/app/tmp"),
    # --- database and cache -----------------------------------------------------------
    Variable(
        "DATABASE_URL",
        "`sqlite:///db.sqlite3`",
        "e.g. `postgres://user:pass@host:5432/db?connect_timeout=3`; the timeout lets "
        "`/readyz` answer fast when the database is unreachable",
        secret=True,
    ),
    Variable("DB_CONN_MAX_AGE", "`60`", "seconds a worker reuses its database connection"),
    Variable(
        "REDIS_URL",
        "empty (in-process cache)",
        "Redis for rate-limit counters and the cache, e.g. `redis://host:6379/0`; required with "
        "more than one worker or replica",
        secret=True,
    ),
    Variable("CACHE_TIMEOUT_SECONDS", "`0.5`",
             "connect and read timeout to Redis, so an outage is decided fast"),
    # --- storage ----------------------------------------------------------------------
    Variable("R2_ENDPOINT_URL", "empty (local storage)",
             "S3-compatible endpoint, e.g. `https://<account-id>.r2.cloudflarestorage.com`; when "
             "set, the model and quarantine storages are the buckets below"),
    Variable("R2_ACCESS_KEY_ID", "empty", "the R2 API token's S3 key id",
             secret=True),
    Variable("R2_SECRET_ACCESS_KEY", "empty", "the R2 API token's S3 secret",
             secret=True),
    Variable("R2_MODEL_BUCKET", "empty", "bucket holding the model file"),
    Variable("R2_QUARANTINE_BUCKET", "empty", "private bucket for quarantined uploads"),
    Variable("R2_CONNECT_TIMEOUT", "`3`",
             "seconds to connect, per attempt (3 attempts), before R2 counts as unreachable"),
    Variable("R2_READ_TIMEOUT", "`10`",
             "seconds to wait for an answer, per attempt, before R2 counts as unreachable"),
    Variable("MODEL_STORAGE_DIR", "`$VAR_DIR/models`",
             "local models storage, when R2 is not configured (the test profile uses "
             "`$TEST_VAR_DIR/models`)"),
    Variable("QUARANTINE_DIR", "`$VAR_DIR/quarantine` (test: `$TEST_VAR_DIR/quarantine`)",
             "local quarantine folder, when R2 is not configured; never served",
             read_by=(BASE, TEST)),
    # --- the model --------------------------------------------------------------------
    Variable("MODEL_FILE_NAME", "`efficientnet_lite0.pt`",
             "the model's name in the models storage"),
    Variable(
        "MODEL_SHA256",
        "empty",
        "pinned SHA-256 the model file must have before torch reads it; **pin it in "
        "production**: empty falls back to the hash stored next to the file at export, which "
        "anyone who can write the bucket can change",
    ),
    Variable("MODEL_CACHE_DIR", "`$VAR_DIR/model-cache` (test: `$TEST_VAR_DIR/model-cache`)",
             "local copy of the model, checked before loading", read_by=(BASE, TEST),
             image="/var/lib/app/model-cache"),
    Variable("TORCH_THREADS", "`1`",
             "torch's intra-op threads per worker; keep workers × threads ≤ cores"),
    Variable("TORCH_ONEDNN_FUSION", "`true`",
             "run the model's graph through oneDNN's fusion: the forward pass in about 0.55x "
             "the plain graph's time, the same probabilities within 1e-6 (docs/decisions.md); "
             "`false` runs the plain graph"),
    Variable("OPENBLAS_NUM_THREADS", "`1` (set by `config/gunicorn.conf.py`)",
             "numpy's BLAS threads per worker; more leaves a thread spinning beside each "
             "request (docs/decisions.md)",
             read_by=(OPENBLAS,)),
    # --- upload limits and the decode budget ------------------------------------------
    Variable("MAX_UPLOAD_BYTES", "`10485760`",
             "the byte cap on the file (10 MiB); nginx's `client_max_body_size` and the "
             "Ingress's body size must match it (docs/deploy.md)"),
    Variable("MAX_IMAGE_DIMENSION", "`8000`", "largest width or height, from the header"),
    Variable("MAX_IMAGE_PIXELS", "`64000000`",
             "largest width × height (below Pillow's 89.5 M default)"),
    Variable("MAX_JPEG_SCANS", "`64`",
             "most scans a progressive JPEG may have (their total work is capped too)"),
    Variable("DECODE_CPU_SECONDS", "`3.0`",
             "the most CPU time any upload's checks and decode may take; each upload gets "
             "what its header earns below it (0.15 s plus twice the measured cost per "
             "megapixel of its class, `imaging/cost.py`), enforced by the kernel on the "
             "decoder process; over it: 422 `too_costly`"),
    Variable("DECODE_MEMORY_BYTES", "`805306368`",
             "address space one decode may add to its decoder process (768 MiB); over it: 422 "
             "`too_costly`"),
    Variable("DECODE_WALL_SECONDS", "`9.0`",
             "the most wall-clock time for one decode (each gets 3x its CPU allowance, at "
             "least 1 s) before the decoder is killed; keep it under "
             "`GUNICORN_TIMEOUT` (`preflight` checks it)"),
    # --- abuse controls ---------------------------------------------------------------
    Variable("RATE_LIMIT_PER_IP", "`30/m` (test: `100000/m`)",
             "per client address (IPv6 per /64)", read_by=(BASE, TEST)),
    Variable("RATE_LIMIT_PER_KEY", "`300/m` (test: `100000/m`)",
             "per API key; a request with a valid key counts in the key's bucket instead of "
             "the address's", read_by=(BASE, TEST)),
    Variable("ANONYMOUS_PLAN", "empty",
             "the plan (by name, see the admin's Plans) of clients without an API key; empty: "
             "`RATE_LIMIT_PER_IP`, no allowance, top 5 labels at 6 decimals"),
    Variable("DEFAULT_KEY_PLAN", "empty",
             "the plan of API keys that have none of their own; empty: `RATE_LIMIT_PER_KEY`, no "
             "allowance, top 5 labels at 6 decimals"),
    Variable("PLAN_CACHE_SECONDS", "`30`",
             "how long a worker keeps a plan before reading it again: an admin edit applies "
             "everywhere within this time"),
    Variable("EXTRACTION_WINDOW", "`100`",
             "model-extraction signals: how many of a key's (or address's) last queries are "
             "kept and judged"),
    Variable("EXTRACTION_WINDOW_SECONDS", "`86400`",
             "how long a key's window of queries is kept after its last query"),
    Variable("EXTRACTION_MIN_QUERIES", "`20`",
             "classified queries in the window before a key can be flagged"),
    Variable("EXTRACTION_QUERIES_PER_IMAGE", "`5`",
             "queries per distinct image (near-duplicates grouped) at which a key is flagged "
             "in the console"),
    Variable("EXTRACTION_NEAR_BITS", "`8`",
             "fingerprints (64-bit hashes of what the model saw) within this many bits are "
             "near-duplicates"),
    Variable("EXTRACTION_DOWNGRADE", "`false`",
             "a flagged key's answers carry labels only until a person lifts the flag"),
    Variable("RATELIMIT_FAIL_OPEN", "`false`",
             "when Redis is unreachable: `false` answers 503 `service_unavailable`, `true` lets "
             "requests through; a warning is logged either way"),
    Variable("REQUIRE_API_KEY", "`false`", "require `X-Api-Key` on the API"),
    Variable("AUTO_BLOCK_FLAGGED", "`5` (test: `0`)",
             "flagged uploads from one client (address, IPv6 /64) within `AUTO_BLOCK_WINDOW` "
             "that block it automatically; `0` turns automatic blocks off",
             read_by=(BASE, TEST)),
    Variable("AUTO_BLOCK_WINDOW", "`10m`",
             "the counting window, from the client's first flagged upload (`90s`, `10m`, `1h`, "
             "`7d`; a bare number is refused)"),
    Variable("AUTO_BLOCK_FOR", "`1h`",
             "how long an automatic block lasts (reason \"automatic\", listed apart and liftable "
             "in the admin)"),
    Variable("AUTO_BLOCK_MAX_IN_FORCE", "`100000`",
             "automatic blocks in force at once; past it a client at the threshold is not "
             "blocked, `inference_api_auto_blocks_refused_total` counts it and the console "
             "warns (from 80%)"),
    Variable(
        "TRUSTED_PROXIES",
        "empty",
        "CIDRs of the proxies whose `X-Forwarded-For` (entries with ports too) and "
        "`X-Forwarded-Proto` are believed: the proxy's address(es) only; gunicorn's "
        "`forwarded_allow_ips` too",
        read_by=(BASE, GUNICORN_CONF),
    ),
    Variable("MAX_CONCURRENT_INFERENCES", "`2`", "forward passes one worker process runs at once"),
    Variable("INFERENCE_QUEUE_TIMEOUT", "`2.0`",
             "seconds a request waits for a slot before 503 `overloaded`"),
    # --- the admin --------------------------------------------------------------------
    Variable("ADMIN_ALLOWED_NETWORKS", "empty (anyone)",
             "CIDRs of clients that may reach `/admin/`; anyone else gets 404"),
    Variable("ADMIN_LOGIN_FAILURE_LIMIT", "`5`",
             "failed admin logins before the address (IPv6: its /64), and separately a "
             "username from that address, is locked out (django-axes; never a username "
             "alone)"),
    Variable("ADMIN_LOGIN_COOLOFF_MINUTES", "`15`",
             "how long a lockout lasts (answered 429 with a page saying why; listed in the "
             "admin under *Axes*)"),
    Variable("ADMIN_REQUIRE_2FA", "`false`",
             "staff also need a TOTP token (django-otp); enrol each staff user's device first; "
             "`preflight` warns while it is off"),
    # --- quarantine and retention -----------------------------------------------------
    Variable("QUARANTINE_MAX_BYTES", "`1073741824`",
             "total bytes the quarantine may hold (1 GiB); when spent, the oldest files not "
             "marked malicious are evicted; warned at 80% (metric, log, admin)"),
    Variable("QUARANTINE_MAX_BYTES_PER_CLIENT", "`52428800`",
             "bytes one client (address, IPv6 /64) may put in quarantine (50 MiB)"),
    Variable("QUARANTINE_MAX_FLAGGED_PER_CLIENT_PER_DAY", "`200`",
             "flagged rows one client may add in 24 h; past it, an ordinary audit row"),
    Variable("AUDIT_RETENTION_DAYS", "`90`", "default age for `purge_audit_logs`"),
    # --- observability ----------------------------------------------------------------
    Variable("METRICS_ALLOWED_NETWORKS", "`127.0.0.0/8,::1/128`",
             "client networks that may read `/metrics` without a token"),
    Variable("METRICS_TOKEN", "empty",
             "if set, `Authorization: Bearer <token>` opens `/metrics` from anywhere",
             secret=True),
    Variable("PROMETHEUS_MULTIPROC_DIR", "empty (each worker counts alone)",
             "a writable folder where gunicorn's workers share their metrics; emptied when "
             "gunicorn starts", read_by=(GUNICORN_CONF, APP), image="/dev/shm/prometheus"),  # noqa: S108
    # --- gunicorn ---------------------------------------------------------------------
    Variable(
        "GUNICORN_BIND",
        "`127.0.0.1:8000`",
        "gunicorn's address (a `--bind` flag overrides it); beyond loopback only behind the "
        "proxy: `preflight` fails without `TRUSTED_PROXIES`",
        read_by=(BASE, GUNICORN_CONF),
        image="0.0.0.0:8000",
    ),
    Variable("WEB_CONCURRENCY", "`1`",
             "gunicorn workers; a system check refuses more than one without Redis",
             read_by=(BASE, GUNICORN_CONF), image="2"),
    Variable("GUNICORN_THREADS", "`1`",
             "threads per worker; above 1 the `gthread` worker is used",
             read_by=(GUNICORN_CONF,)),
    Variable("GUNICORN_TIMEOUT", "`30`",
             "seconds a silent worker is given before it is killed and replaced",
             read_by=(GUNICORN_CONF, APP)),
    Variable("GUNICORN_GRACEFUL_TIMEOUT", "`30`",
             "seconds to finish in-flight requests on restart or stop", read_by=(GUNICORN_CONF,)),
    Variable("GUNICORN_KEEPALIVE", "`5`", "idle keep-alive seconds (gthread workers only)",
             read_by=(GUNICORN_CONF,)),
    Variable("GUNICORN_MAX_REQUESTS", "`0` (never)",
             "recycle a worker after this many requests (10% jitter)", read_by=(GUNICORN_CONF,)),
    Variable("GUNICORN_PRELOAD", "`true`",
             "load the app and the model once in the master before forking, shared "
             "copy-on-write; `false` loads them once per worker (docs/deploy.md, section 8)",
             read_by=(GUNICORN_CONF,)),
    Variable("GUNICORN_ACCESS_LOG", "empty (off)",
             "`-` writes gunicorn's access log to stdout (the app already logs each API request)",
             read_by=(GUNICORN_CONF,)),
    Variable("GUNICORN_LOG_LEVEL", "`info`", "gunicorn's own log level",
             read_by=(GUNICORN_CONF,)),
    Variable("SCRIPT_NAME", "empty",
             "a URL prefix to serve under (gunicorn reads it from its environment, never from a "
             "header)", read_by=(GUNICORN,)),
    # --- glibc, read when a process starts --------------------------------------------
    Variable("MALLOC_MMAP_THRESHOLD_", "glibc's (adaptive)",
             "fixed, it keeps the forward pass's buffers in the heap between requests (about "
             "30 → 19 ms per forward pass, docs/decisions.md); `make run` sets the image's "
             "value too; keep it outside the image",
             read_by=(GLIBC,), image="33554432"),
    Variable("MALLOC_TRIM_THRESHOLD_", "glibc's (adaptive)",
             "goes with `MALLOC_MMAP_THRESHOLD_` (same reason, same places)",
             read_by=(GLIBC,), image="134217728"),
)


def variables_read_by(reader: str) -> set[str]:
    """Names of the variables `reader` reads, as the table says."""
    return {variable.name for variable in ENVIRONMENT if reader in variable.read_by}


def render_table() -> str:
    """README's configuration table, in Markdown."""
    lines = ["| variable | default | read by | meaning |", "|---|---|---|---|"]
    for variable in ENVIRONMENT:
        default = variable.default
        if variable.image is not None:
            default += f"; `{variable.image}` in the image"
        meaning = f"a credential: {variable.meaning}" if variable.secret else variable.meaning
        read_by = ", ".join(variable.read_by)
        lines.append(f"| `{variable.name}` | {default} | {read_by} | {meaning} |")
    return "\n".join(lines)


def readme_with_table(text: str) -> str:
    """`text` with the part between the markers replaced by the current table."""
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return f"{text[:start]}\n{render_table()}\n{text[end:]}"


def main(argv: list[str] | None = None) -> int:
    """Rewrites README's table; with --check, only says whether it is up to date."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README is out of date")
    args = parser.parse_args(argv)
    text = README.read_text()
    wanted = readme_with_table(text)
    if wanted == text:
        return 0
    if args.check:
        print("README's configuration table is out of date: run `make readme`.", file=sys.stderr)
        return 1
    README.write_text(wanted)
    print(f"rewrote the configuration table in {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
