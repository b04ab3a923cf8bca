"""What the model saw of a flagged upload, for a reviewer: a fresh PNG, never the client's bytes.

A reviewer must not open an attacker's file on a workstation. For a flagged
upload whose bytes are an image we decode (a JPEG, PNG or WebP declared as
another type: `content_type_mismatch`), the decoder sandbox decodes it under
the decode budget, as for any upload, and hands back only the model's input
square, raw RGB pixels of a fixed size; the PNG is encoded here from those
pixels, which parses nothing the client wrote. The other flagged refusals
were refused because their structure or their decode was over a cap: they
are shown by what the walk found (format, declared size, the cap), and
decoding them again would only spend the budget twice.
"""

import io
import logging

from PIL import Image

from .. import errors, sandbox
from ..imaging.formats import sniff_format
from ..imaging.limits import DecodeLimits, ModelInput

logger = logging.getLogger(__name__)

# Refusals of bytes that decode: the type named for them was a lie, the image is not.
PREVIEWABLE = frozenset({"content_type_mismatch"})


def preview_png(data: bytes, outcome: str) -> bytes | None:
    """The model's input square of `data` as a PNG, or None when there is none to show."""
    if outcome not in PREVIEWABLE or sniff_format(data) is None:
        return None
    try:
        prepared = sandbox.decode(data, DecodeLimits.from_settings(), ModelInput())
    except errors.ApiError:
        return None
    except Exception:
        logger.exception("no preview: the decoder failed")
        return None
    square = Image.frombytes("RGB", (prepared.size, prepared.size), prepared.pixels)
    out = io.BytesIO()
    square.save(out, "PNG")
    return out.getvalue()
