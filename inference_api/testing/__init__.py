"""Support for the tests and the benchmarks only; the application never imports it.

Both `tests/` and `bench/` import from here, and never from each other
(tests/test_support_boundaries.py checks it, and that no application module
imports this package). The production image leaves it out (.dockerignore).

- `images`: the uploads both build (honest, hostile, costly, photographs);
- `servers`: gunicorn (and moto) on loopback, and what /proc says of them;
- `services`: PostgreSQL, Redis, Chromium, nginx: skipped locally, failed in CI;
- `http`: multipart bodies, the analyze URL, raw posts and floods, the error contract;
- `factories`: audit records and rows, uploads, a test's own quarantine folder;
- `corpus`: Pillow's corpus in ../shared/corpus and its manifest;
- `fuzz`: the mutation harness of tests/e2e/test_fuzz.py.
- `decode_stages`: the CPU of each stage of a decode, for the benchmarks.
"""
