"""A 64-bit fingerprint of what the model saw, for finding near-duplicate queries.

The difference hash (dHash) of the model's input square: the square in grey
at 9x8, one bit per pair of horizontal neighbours (is the left one
brighter?). Small perturbations of one image (noise, a few pixels, slight
shifts of brightness) keep most bits, distinct photographs share about half:
the Hamming distance between two fingerprints says how alike two queries
were. Pure: an image in, a hex string out.
"""

from PIL import Image

BITS = 64


def fingerprint(square: Image.Image) -> str:
    """The dHash of `square` as 16 hex digits."""
    small = square.convert("L").resize((9, 8), Image.Resampling.BILINEAR)
    pixels = small.tobytes()
    value = 0
    for row in range(8):
        for column in range(8):
            left, right = pixels[row * 9 + column], pixels[row * 9 + column + 1]
            value = value << 1 | (left > right)
    return f"{value:016x}"


def distance(first: str, second: str) -> int:
    """How many of the 64 bits two fingerprints differ in."""
    return (int(first, 16) ^ int(second, 16)).bit_count()
