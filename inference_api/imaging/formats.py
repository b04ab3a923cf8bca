"""The three formats accepted, and how each is recognised from its first bytes."""

JPEG, PNG, WEBP = "JPEG", "PNG", "WEBP"
FORMAT_CONTENT_TYPES = {JPEG: "image/jpeg", PNG: "image/png", WEBP: "image/webp"}
# What Pillow calls each format we accept; MPO is a JPEG (imaging.prepare).
PILLOW_FORMATS = {"JPEG": JPEG, "MPO": JPEG, "PNG": PNG, "WEBP": WEBP}


def sniff_format(data: bytes) -> str | None:
    """The accepted format whose signature `data` starts with, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    return None
