"""The three formats accepted, how each is recognised from its first bytes, and their names.

The bytes decide the format; a declared type is only a hint (DESIGN.md,
"What a client may send"). `media_type` reads what a client declared the
way clients really write it.
"""

JPEG, PNG, WEBP = "JPEG", "PNG", "WEBP"
FORMAT_CONTENT_TYPES = {JPEG: "image/jpeg", PNG: "image/png", WEBP: "image/webp"}
# What Pillow calls each format we accept; MPO is a JPEG (imaging.prepare).
PILLOW_FORMATS = {"JPEG": JPEG, "MPO": JPEG, "PNG": PNG, "WEBP": WEBP}
# Names clients really send for the accepted types: older Android, PHP and IE
# clients, curl's `type=image/jpg`, and the animated PNG's registered type.
CONTENT_TYPE_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
    "image/apng": "image/png",
}
# Declaring these says nothing about the format: the bytes alone decide.
UNDECLARED_TYPES = frozenset({"", "application/octet-stream"})


def media_type(declared: str) -> str:
    """The declared type as a bare media type: lower case, no parameters, aliases resolved.

    "" and "application/octet-stream" both stand for "no type declared".
    """
    bare = (declared or "").split(";", 1)[0].strip().lower()
    return CONTENT_TYPE_ALIASES.get(bare, bare)


def sniff_format(data: bytes) -> str | None:
    """The accepted format whose signature `data` starts with, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    return None
