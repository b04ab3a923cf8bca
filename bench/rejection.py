"""What refusing costs the server, against what accepting a tiny image costs.

The promises: a decompression bomb is refused from its header, without a
pixel decoded, so no dearer than a tiny valid image (which runs the model);
a spoofed type is refused from its magic bytes; a body over the cap is
refused having read none of it when its length is declared, and no more than
the cap and one chunk when it is chunked (what the server counted is the
audit row's `bytes_received`, read from its database).
"""

from bench.harness import Case, Options, median, percentile
from inference_api.testing import http as wire
from inference_api.testing.images import photos
from inference_api.testing.servers import database_rows, eventually

FLOOD_BYTES = 100 * 1024 * 1024
FLOOD_CHUNK = 64 * 1024


def cases() -> list[Case]:
    tiny_png = photos.encode(photos.photo((64, 48)), "PNG")
    return [
        Case.of("tiny valid JPEG (64x48)", photos.tiny_jpeg(), "image/jpeg", "tiny.jpg"),
        Case.of("PNG bomb (25000x25000 declared)", photos.png_bomb(), "image/png", "bomb.png"),
        Case.of("PNG sent as image/jpeg", tiny_png, "image/jpeg", "spoof.jpg"),
        Case.of("HTML sent as image/png", photos.html_page(), "image/png", "page.png"),
    ]


def request_costs(url: str, options: Options) -> list[dict]:
    """Median and p90 latency and the answer of each small case, the cases taking turns."""
    items = cases()
    for item in items:
        wire.post(url, item.body)
    replies = {item.label: [] for item in items}
    for _ in range(options.rounds):
        for item in items:
            replies[item.label].append(wire.post(url, item.body))
    rows = []
    for item in items:
        got = replies[item.label]
        last = got[-1]
        times = [r.elapsed_ms for r in got]
        rows.append(
            {
                "label": item.label,
                "bytes": len(item.data),
                "status": last.status,
                "code": "ok" if last.status == 200 else last.json().get("code", ""),
                "median_ms": median(times),
                "p90_ms": percentile(times, 90),
            }
        )
    return rows


def flood_costs(url: str, database_url: str, cap: int, options: Options) -> list[dict]:
    """100 MB bodies, with and without Content-Length: time to the 413 and bytes read."""
    rows = []
    for declared in (True, False):
        floods = [
            wire.flood(url, FLOOD_BYTES, declare_length=declared, chunk=FLOOD_CHUNK)
            for _ in range(int(options.pick(3, 5)))
        ]
        received = _audited(database_url, tuple(f.request_id for f in floods if f.request_id))
        most = max(received.values(), default=0)
        rows.append(
            {
                "label": "100 MB body, " + ("Content-Length declared" if declared else "chunked"),
                "statuses": sorted({f.status for f in floods}),
                "median_ms": median([f.elapsed_ms for f in floods]),
                "max_bytes_sent": max(f.bytes_sent for f in floods),
                "max_bytes_received": most,
                "audited": len(received),
                "requests": len(floods),
                "bound_bytes": 0 if declared else cap + FLOOD_CHUNK,
                "met": most <= (0 if declared else cap + FLOOD_CHUNK)
                and len(received) == len(floods),
            }
        )
    return rows


def _audited(database_url: str, request_ids: tuple[str, ...]) -> dict[str, int]:
    """`bytes_received` of each request's audit row, waiting for them (written after the answer)."""

    def every_row() -> dict[str, int] | None:
        found = _bytes_received(database_url, request_ids)
        return found if len(found) == len(request_ids) else None

    return eventually(every_row, timeout=5) or _bytes_received(database_url, request_ids)


def _bytes_received(database_url: str, request_ids: tuple[str, ...]) -> dict[str, int]:
    if not request_ids:
        return {}
    # Only placeholders are formatted into the statement; the ids are parameters.
    marks = ", ".join(["%s"] * len(request_ids))
    sql = "SELECT request_id, bytes_received FROM inference_api_auditlog WHERE request_id IN "
    return dict(database_rows(database_url, sql + f"({marks})", request_ids))


def measure(url: str, database_url: str, cap: int, options: Options) -> dict:
    requests = request_costs(url, options)
    by_label = {row["label"]: row for row in requests}
    tiny = by_label["tiny valid JPEG (64x48)"]["median_ms"]
    bomb = by_label["PNG bomb (25000x25000 declared)"]["median_ms"]
    return {
        "requests": requests,
        "bomb_within_tiny": bomb <= tiny,
        "floods": flood_costs(url, database_url, cap, options),
    }
