"""The words of docs/benchmarks.md around the numbers (report.py fills them in)."""

QUICK = "\n> A `--quick` smoke run: few repeats. Run `make bench` for the real figures.\n"

HEADER = """\
# Benchmarks

Produced by `make bench` (`bench/run_all.py`; what each part measures:
`bench/README.md`) on {date}, in {minutes:.1f} minutes. Every figure below
comes from that one run; rerun it to get them for your machine.
{quick}
| machine | |
|---|---|
| CPU | {cpu} |
| cores | {cores} |
| RAM | {ram_gib} GiB |
| kernel, Python | {kernel}, {python} |
| torch, Pillow, Django | {torch}, {pillow}, {django} |
| torch threads (TORCH_THREADS) | {torch_threads} |
| load average at start / end | {load_before:.2f} / {load_after:.2f} |

The server is the project's own: gunicorn with `config/gunicorn.conf.py`, 2 sync
workers (one request at a time each, the model preloaded before the fork) on the
machine's 2 cores, the suite's settings (`config.settings.test`), with
{services}. The clients run on the same machine and open a new connection per
request (sync workers close it after each answer). The machine is shared: the
load average says how busy it was. Medians are the figures to trust, and the API
and the bare model were measured alternately so that both saw the same load.
"""

HEADLINE = """\
## The headline: the API against the bare model

Each image is sent to the API and timed by the client, end to end (connect,
upload, answer), the four images taking turns round after round so that they
all see the same background load. After each request, the bare TorchScript forward pass runs
three times in the benchmark process on the very tensor the server computes for
that image (`analysis.model_store.load_model`, the same checks and decode,
`analysis.preprocessing.preprocess`, then `module(batch)`, one torch thread as
in the server). The first of the three runs on caches the request has just
evicted; the other two are warm, the model's best: **the ratio is taken against
the warm ones**, the stricter comparison. Throughput: 4 clients against the 2
workers for a few seconds, and the forward pass alone in 2 processes."""

STAGES = """\
## Where the time goes

Each step of a request, run in the benchmark process on the same bytes
(medians, ms), except the forward pass, which is the server's own figure
(`timing_ms.inference` of its answers). "Checks" include the one complete
decode that proves the image (for a JPEG at the DCT scale the model needs,
whose frame then serves the model); "RGB picture" is the rest of
`decode_upload` (orientation, mode conversion). The last column is what the
client saw beyond their sum: the TCP connection, gunicorn, Django's
middleware (with the rate limit's Redis round trips), the JSON answer. The
floor is the ratio the API could not go below with that decode even if
everything else cost nothing."""

WHY_NOT_MET = """\
### What stops the targets (2 MP within 1.3x, 12 MP within 1.6x)

- **The decode that must complete.** The checks decode every upload to the end
  (issue 3: `verify()` proves nothing about the pixels, and a truncated or
  corrupt file must be a 422, not a surprise later). libjpeg reads every
  entropy-coded byte at any DCT scale, so a JPEG's decode costs in proportion to
  its compressed size, not to the model's input: a realistic 12 MP photo
  (~3 MB) takes longer to decode than the forward pass itself. The floor
  column shows the ratio that this decode alone imposes: {floor_12:.2f}x for the
  12 MP JPEG and {floor_2:.2f}x for the 2 MP JPEG in this run, before any HTTP.
- **The forward pass in the server is slower than the warm one** (compare
  "forward (in the server)" with the warm figure): the request around it
  evicts the weights from the CPU caches, and glibc's malloc may give the
  activation buffers back to the kernel between requests, so they are faulted
  in again (see "What was tried": fixed malloc thresholds, which the image
  uses, bring it close to the warm figure).
- **The request itself** (connection, gunicorn, middleware, rate-limit
  counter in Redis, audit INSERT, JSON) costs a few milliseconds, which is a
  large share of a 20 ms forward pass.

Meeting 1.3x at 2 MP would need a decode that does not read the whole file
(only header checks, or decoding the first scans of a progressive JPEG), which
gives up the "decoded completely" guarantee of the checks. That trade was not
made; what could be done within it was (next section).
"""

TRIED_INTRO = """\
## What was tried

Measured side by side in this run, in the benchmark process (medians):"""

TRIED_DONE = """\
Done (each in the commit history with its test):

- **One JPEG decode instead of two**: the checks decoded a JPEG at 1/8 scale
  and `decode_upload` decoded it again at the scale the model needs. The checks
  now decode at the smallest scale that keeps the model's 256 px
  (`validators.JPEG_CHECK_MIN_SIDE`), and that frame serves the model. The
  entropy decoding is the same at any scale, so nothing is lost. (A 12 MP JPEG
  was already decoded once: its 1/8 scale is large enough.)
- **Resample only the square that is kept**: preprocessing resized the whole
  image to 256 px and then cut the 224 px centre; it now resizes only the
  centre square, with the same scale and sampling positions (equal within
  rounding, tested).
- **Release the decoded frame after use** (memory, below): `decode_upload`
  closes the frame the checks decoded.
- A client detail that matters for honest figures: the benchmark's client sets
  TCP_NODELAY (as curl, browsers and `requests` do). Python's `http.client`
  does not, and a body larger than ~3 KB then waits for a delayed ACK."""

MALLOC = """\
**The forward pass is slower in the server than in a loop**, and not only
because of the caches: glibc's malloc hands the forward pass's activation
buffers (up to a few MB each) back to the kernel between requests and faults
them in again on the next one. Fixing glibc's thresholds in the server's
environment (`MALLOC_MMAP_THRESHOLD_=33554432`, `MALLOC_TRIM_THRESHOLD_=134217728`:
allocations under 32 MiB come from the heap and up to 128 MiB of it is kept)
was measured on two one-worker servers, requests alternating between them:"""

MALLOC_ADVICE = """\
Applied: the Dockerfile sets those two variables in the container's
environment and `make run` in the server's (glibc reads them at process
start, so gunicorn.conf.py would be too late). The servers of this benchmark
and of the test suite keep glibc's defaults, so the tables above are the
untuned figures; the memory columns say what the tuning costs after the
heaviest uploads."""

GC = """\
Applied: a full garbage collection in a worker walks {objects:,} tracked objects (Django, DRF,
the TorchScript module) and pauses the request it lands in for **{full:.0f} ms**.
Python runs one rarely (once about a quarter as many objects as it already
tracks have survived into the oldest generation), so it shows in the far tail
of the latency, not in medians. After `gc.freeze()`, which moves everything
present into a permanent generation, a full collection took {frozen:.1f} ms.
So `config/gunicorn.conf.py` calls `gc.freeze()` in the master right after
the model is preloaded (in `when_ready`, before the workers are forked): it
removes the pause and keeps those pages shared between workers instead of
being dirtied by the collector."""

OTHER_IDEAS = """\
Also seen, small: the upload's SHA-256 is computed twice per request (the
serializer and `check_upload`; about 0.5 ms per MB each), and the rate-limit
check costs a few Redis round trips per request."""

FLOODS = """\
Over-cap bodies (the cap is 10 MiB): how long until the 413, how much of the
body the client got into the socket before the answer (an upper bound on what
the server read), and what the server itself counted (`bytes_received` of the
audit row)."""

REFUSALS = """\
The decompression bomb is refused from its header (declared pixel count)
before a single pixel is decoded: it costs about what the other refusals of
small bodies cost, and less than the tiny valid image, which runs the model.
Flagged refusals (the bomb, the spoofed types) also write a quarantine entry
(the file itself once per SHA-256). A body over the cap with a declared
Content-Length is refused before any of it is read; a chunked one after the
cap and one chunk."""

MEMORY = """\
## Memory under the worst-case uploads

The worst uploads the API accepts are the largest images: 8000x8000 PNGs
(64 Mpx, a gradient, so well under the 10 MiB cap: {files}). 4 clients sent
them in parallel to the 2 workers, then 3 of them alongside 3 clients sending
100 MB bodies (alternately with Content-Length and chunked), then the 100 MB
bodies alone. The RSS of each worker was sampled every 50 ms from /proc."""

MEMORY_BOUND = """\
An idle worker holds **{idle:.0f} MiB** (Django, torch, the model's weights
shared with the master). The highest RSS any worker reached was **{top:.0f} MiB**
(the kernel's own peak, VmHWM: {hwm:.0f} MiB); once the uploads stopped, the
workers were back at {after:.0f} MiB. The 100 MB bodies never cost a worst-case
image's worth: they are refused from the declared length, or at the cap while
streaming (10 MiB read at most), and nothing of them outlives the request. A
sync worker handles one request at a time, so **the bound is the idle worker
plus one worst-case image, about {top:.0f} MiB per worker**, times
WEB_CONCURRENCY (with GUNICORN_THREADS above 1, one worst-case image per
thread)."""

FLAT = """\
**Flat**: between requests a worker falls back to about {trough:.0f} MiB (its
lowest RSS while the worst-case images kept coming, against {idle:.0f} MiB idle),
and the peaks do not grow from one request to the next (figure). After the
100 MB bodies the workers held {after:.0f} MiB: buffers glibc keeps for reuse,
bounded by the cap, since each body is read to 10 MiB at most."""

NOT_FLAT = """\
**Not flat in this run**: between worst-case requests a worker only fell back
to {trough:.0f} MiB, against {idle:.0f} MiB idle, and held {after:.0f} MiB after the load."""

MEMORY_WHY = """\
Why one image needs several times its decoded size: the checks decode the whole
frame (8000x8000 RGBA is 256 MB in Pillow), `decode_upload` turns it upright
(`ImageOps.exif_transpose` returns a copy), and compositing alpha on white
makes an RGBA copy, a white background, the composite and its RGB conversion,
each full size, before the model's resize brings it down to 256 px.

It was worse before this benchmark: the frame stayed alive after the response,
held by the upload that DRF's serializer keeps in a reference cycle until the
garbage collector's next full pass (rare: see above). Each 8000x8000 RGBA
upload left 256 MB behind, and a worker grew to over 3 GB under this load;
`decode_upload` now closes the frame once used.

A prototype that box-reduces the frame to about 3x the model's size before any
other copy (Pillow reduces RGBA in premultiplied alpha, so compositing after it
gives the same picture within rounding):"""

MEMORY_FIX = """\
Recommended (inference_api/decoding.py): reduce first, as the prototype in
`bench/alternatives.py` does, for frames whose short side is over
3 x `min_side`; palette and tRNS images must be converted to RGBA before
reducing (averaging palette indices or a tRNS key colour is wrong), and
16-bit grayscale should be shifted to 8 bits on `uint16` arrays rather than
`int64` (today 8 bytes per pixel, over 1 GB for 8000x8000). That would bring
the per-worker bound to roughly the idle size plus 0.5 GB."""

GROWTH = """\
A JPEG's cost follows its compressed size (entropy decoding), with the decode
itself at the DCT scale that keeps 256 px (1/8 from about 8 MP up). A PNG has
no reduced decoding: every pixel is inflated and converted, so its cost grows
with the pixel count; photographic PNGs above about 5 MP do not fit under the
10 MiB cap anyway."""

SCALING = """\
With 2 sync workers on 2 cores, throughput is reached with 2 clients; more
clients wait in gunicorn's listen queue, and latency grows with the queue,
while every request is still answered (sync workers run one request at a
time, so the per-process inference slots never run out; the edge proxy's
limits in deploy/nginx.conf bound the queue in production)."""

FAULTS = """\
## Behaviour under faults (tests/e2e/test_faults.py)

Tested, not timed; the tests run in CI (`make test`).

- **Redis (the rate-limit counters) killed during load, then restarted**:
  every request is still answered at once (the cache client times out after
  CACHE_TIMEOUT_SECONDS, 0.5 s). With the default RATELIMIT_FAIL_OPEN=false
  each analyze request is refused with 503 `service_unavailable` and
  Retry-After: 5 while Redis is down; with RATELIMIT_FAIL_OPEN=true they are
  served, without limits. `/readyz` answers 503 (cache) meanwhile. Once Redis
  is back, uploads are served again without a restart, and the audit trail
  counts every request of the run (the refusals in per-client rows).
- **Model storage unreachable at start** (an R2 endpoint with nothing
  listening): the server starts; `/readyz` answers 503 (model) and analyze 503
  `model_unavailable` with a Retry-After. Each worker tries the storage again
  at most every 5 s (`analysis.model_store.RETRY_AFTER_SECONDS`).
- **A corrupted model file in storage**: refused before torch reads it (its
  SHA-256 against the pinned MODEL_SHA256, logged as "refused"), still 503.
  Once the right file is stored, the workers load it and serve, no restart.
- **PostgreSQL unreachable while serving** (its port closed): uploads are
  still answered (200, and 4xx for bad ones) within the usual time. Each
  audit write fails, is retried once on a fresh connection, and the whole
  entry is then logged at ERROR as one JSON line, `audit row lost: {...}`,
  with its request id, status, outcome and top label: every request of the
  outage is in the log, from which it can be replayed, and none is silently
  unaudited. `/readyz` answers 503 (database), so an orchestrator stops
  routing to the instance; the blocklist falls back to its last known copy.
  Once the port is open again, rows are written again.
"""
