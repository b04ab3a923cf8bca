"""What refusing costs the server, against what accepting a tiny image costs.

A decompression bomb must be refused from its header, without decoding a
pixel: about as fast as a tiny valid image. An over-cap body must be
refused having read no more than the cap plus a chunk (with a declared
Content-Length, none of it). A spoofed type is refused from magic bytes.
"""

from bench import common
from bench.latency import Case
from inference_api.testing import http as wire
from inference_api.testing.images import photos
from inference_api.testing.servers import database_rows


def cases() -> list[Case]:
    tiny_png = photos.encode(photos.photo((64, 48)), "PNG")
    return [
        Case("tiny valid JPEG (64x48)", photos.tiny_jpeg(), "image/jpeg", "tiny.jpg", 64, 48),
        Case(
            "PNG bomb (25000x25000 declared)",
            photos.png_bomb(),
            "image/png",
            "bomb.png",
            25_000,
            25_000,
        ),
        Case("PNG sent as image/jpeg", tiny_png, "image/jpeg", "spoof.jpg", 64, 48),
        Case("HTML sent as image/png", photos.html_page(), "image/png", "page.png", 0, 0),
    ]


def request_costs(url: str, repeats: int) -> list[dict]:
    """Median latency and the answer for each small case (warmed up first)."""
    rows = []
    for item in cases():
        wire.post(url, item.body)
        replies = [wire.post(url, item.body) for _ in range(repeats)]
        statuses = {r.status for r in replies}
        rows.append(
            {
                "label": item.label,
                "bytes": len(item.data),
                "statuses": sorted(statuses),
                "code": replies[-1].json().get("code", "ok") if replies[-1].status != 200 else "ok",
                "median_ms": common.median([r.elapsed_ms for r in replies]),
                "p90_ms": common.percentile([r.elapsed_ms for r in replies], 90),
            }
        )
    return rows


def flood_costs(
    url: str, database_url: str, repeats: int, total: int = 100 * 1024 * 1024
) -> list[dict]:
    """100 MB bodies, with and without Content-Length: time to the 413 and bytes read."""
    rows = []
    for declared in (True, False):
        floods = [wire.flood(url, total, declare_length=declared) for _ in range(repeats)]
        ids = tuple(f.request_id for f in floods if f.request_id)
        received = _bytes_received(database_url, ids)
        rows.append(
            {
                "label": "100 MB body, " + ("Content-Length declared" if declared else "chunked"),
                "statuses": sorted({f.status for f in floods}),
                "median_ms": common.median([f.elapsed_ms for f in floods]),
                "max_bytes_sent": max(f.bytes_sent for f in floods),
                "max_bytes_received": max(received.values(), default=0),
                "audited": len(received),
                "requests": len(floods),
            }
        )
    return rows


def _bytes_received(database_url: str, request_ids: tuple[str, ...]) -> dict[str, int]:
    if not request_ids:
        return {}
    marks = ", ".join(["%s"] * len(request_ids))
    # Only placeholders are formatted into the statement; the ids are parameters.
    sql = "SELECT request_id, bytes_received FROM inference_api_auditlog WHERE request_id IN "
    sql += f"({marks})"
    rows = database_rows(database_url, sql, request_ids)
    return dict(rows)
