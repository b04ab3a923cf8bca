"""The decode budget: uploads are checked and decoded in processes the kernel bounds.

`decode` is the entry; `pool` holds the server side, `child` the decoder
process, `protocol` the messages between them.
"""

from ..imaging.limits import DecodeLimits, ModelInput
from ..imaging.prepare import Prepared
from .pool import close_pool, current_pool


def decode(data: bytes, limits: DecodeLimits, model_input: ModelInput) -> Prepared:
    """The model's input for `data`, or the refusal's ApiError (see `pool.DecoderPool`)."""
    return current_pool().decode(data, limits, model_input)


__all__ = ["close_pool", "current_pool", "decode"]
