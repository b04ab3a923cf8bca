"""libwebp's own scaled decoding of a WebP's first frame, through ctypes.

Pillow decodes a WebP at full size through the animation decoder (two full
canvases, a bytes copy and the image: over 1 GB for 8000x8000). libwebp can
scale while it decodes (`WebPDecoderConfig.options.use_scaling`): a lossy
frame is then decoded a few rows at a time and a lossless one needs only its
own ARGB plane, so an 8000x8000 WebP costs about 256 MB instead of gigabytes.
Pillow does not expose that option; this module calls the libwebp Pillow
itself loaded (found in the process's memory map, so both use one library).

The first frame is found with libwebp's demuxer, as its animation decoder
does, and placed on a transparent canvas at its offset, which is what the
first frame of an animation looks like. An opaque frame that covers its
canvas (every still photograph) is decoded to RGB and nothing else: no
canvas, no alpha to composite. A frame already no larger than needed is
decoded without libwebp's rescaler, which at a factor of 1 cost a fifth of a
2 MP decode for nothing (lossless: the same pixels; lossy: the fancy chroma
upsampling, Pillow's own pixels).
"""

import ctypes
import ctypes.util
import functools
from pathlib import Path

from PIL import Image

from .. import errors

DECODER_ABI_VERSION = 0x0209
DEMUX_ABI_VERSION = 0x0107
MODE_RGB, MODE_RGBA = 0, 1
VP8_STATUS_OK, VP8_STATUS_OUT_OF_MEMORY = 0, 1
FORMAT_CANVAS_WIDTH, FORMAT_CANVAS_HEIGHT, FORMAT_FRAME_COUNT = 1, 2, 5


class _Features(ctypes.Structure):
    _fields_ = [
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("has_alpha", ctypes.c_int),
        ("has_animation", ctypes.c_int),
        ("format", ctypes.c_int),
        ("pad", ctypes.c_uint32 * 5),
    ]


class _Rgba(ctypes.Structure):
    _fields_ = [("rgba", ctypes.c_void_p), ("stride", ctypes.c_int), ("size", ctypes.c_size_t)]


class _Yuva(ctypes.Structure):
    _fields_ = [
        ("planes", ctypes.c_void_p * 4),
        ("strides", ctypes.c_int * 4),
        ("sizes", ctypes.c_size_t * 4),
    ]


class _BufferUnion(ctypes.Union):
    _fields_ = [("RGBA", _Rgba), ("YUVA", _Yuva)]


class _DecBuffer(ctypes.Structure):
    _fields_ = [
        ("colorspace", ctypes.c_int),
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("is_external_memory", ctypes.c_int),
        ("u", _BufferUnion),
        ("pad", ctypes.c_uint32 * 4),
        ("private_memory", ctypes.c_void_p),
    ]


class _Options(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_int)
        for name in (
            "bypass_filtering",
            "no_fancy_upsampling",
            "use_cropping",
            "crop_left",
            "crop_top",
            "crop_width",
            "crop_height",
            "use_scaling",
            "scaled_width",
            "scaled_height",
            "use_threads",
            "dithering_strength",
            "flip",
            "alpha_dithering_strength",
        )
    ] + [("pad", ctypes.c_uint32 * 5)]


class _Config(ctypes.Structure):
    _fields_ = [("input", _Features), ("output", _DecBuffer), ("options", _Options)]


class _Data(ctypes.Structure):
    _fields_ = [("bytes", ctypes.c_void_p), ("size", ctypes.c_size_t)]


class _Iterator(ctypes.Structure):
    _fields_ = [
        ("frame_num", ctypes.c_int),
        ("num_frames", ctypes.c_int),
        ("x_offset", ctypes.c_int),
        ("y_offset", ctypes.c_int),
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("duration", ctypes.c_int),
        ("dispose_method", ctypes.c_int),
        ("complete", ctypes.c_int),
        ("fragment", _Data),
        ("has_alpha", ctypes.c_int),
        ("blend_method", ctypes.c_int),
        ("pad", ctypes.c_uint32 * 2),
        ("private_", ctypes.c_void_p),
    ]


def _loaded_library(stem: str) -> str | None:
    """The path of a shared library named `stem` that this process has mapped, if any."""
    try:
        lines = Path("/proc/self/maps").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        path = line.split(maxsplit=5)[-1] if line.count(" ") >= 5 else ""
        name = Path(path).name
        if name.startswith((f"{stem}.so", f"{stem}-")) and ".so" in name:
            return path
    return None


@functools.cache
def _libraries() -> tuple[ctypes.CDLL, ctypes.CDLL]:
    from PIL import features

    # Pillow's public feature check imports its WebP module, which maps its own libwebp.
    if not features.check_module("webp"):
        raise OSError("Pillow has no WebP support")

    paths = [
        _loaded_library(stem) or ctypes.util.find_library(stem.removeprefix("lib"))
        for stem in ("libwebp", "libwebpdemux")
    ]
    if not all(paths):
        raise OSError("libwebp is not available")
    decoder, demux = (ctypes.CDLL(path) for path in paths)
    decoder.WebPInitDecoderConfigInternal.argtypes = [ctypes.POINTER(_Config), ctypes.c_int]
    decoder.WebPDecode.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(_Config)]
    demux.WebPDemuxInternal.restype = ctypes.c_void_p
    demux.WebPDemuxInternal.argtypes = [
        ctypes.POINTER(_Data),
        ctypes.c_int,
        ctypes.c_void_p,
        ctypes.c_int,
    ]
    demux.WebPDemuxDelete.argtypes = [ctypes.c_void_p]
    demux.WebPDemuxGetI.restype = ctypes.c_uint32
    demux.WebPDemuxGetI.argtypes = [ctypes.c_void_p, ctypes.c_int]
    demux.WebPDemuxGetFrame.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(_Iterator)]
    demux.WebPDemuxReleaseIterator.argtypes = [ctypes.POINTER(_Iterator)]
    return decoder, demux


def decode_first_frame(data: bytes, factor: int) -> Image.Image:
    """The first frame of the WebP in `data`, on its canvas, reduced `factor` times (RGBA).

    Raises errors.InvalidImage when libwebp cannot parse or decode it.
    """
    decoder, demux = _libraries()
    source = ctypes.create_string_buffer(data, len(data))
    wrapped = _Data(ctypes.addressof(source), len(data))
    handle = demux.WebPDemuxInternal(ctypes.byref(wrapped), 0, None, DEMUX_ABI_VERSION)
    if not handle:
        raise errors.InvalidImage()
    try:
        canvas_size = (
            demux.WebPDemuxGetI(handle, FORMAT_CANVAS_WIDTH),
            demux.WebPDemuxGetI(handle, FORMAT_CANVAS_HEIGHT),
        )
        frame = _Iterator()
        if not demux.WebPDemuxGetFrame(handle, 1, ctypes.byref(frame)):
            raise errors.InvalidImage()
        try:
            return _on_canvas(decoder, frame, canvas_size, factor)
        finally:
            demux.WebPDemuxReleaseIterator(ctypes.byref(frame))
    finally:
        demux.WebPDemuxDelete(handle)


def _on_canvas(decoder, frame: _Iterator, canvas_size: tuple[int, int], factor: int):
    size = _scaled((frame.width, frame.height), factor)
    covers = size == _scaled(canvas_size, factor)
    if covers and not frame.has_alpha:
        opaque = _decode(decoder, frame.fragment, size, factor, MODE_RGB)
        return Image.frombytes("RGB", size, opaque)
    pixels = _decode(decoder, frame.fragment, size, factor, MODE_RGBA)
    picture = Image.frombuffer("RGBA", size, pixels, "raw", "RGBA", 0, 1)
    if covers:
        return picture.copy()
    canvas = Image.new("RGBA", _scaled(canvas_size, factor), (0, 0, 0, 0))
    canvas.paste(picture, (frame.x_offset // factor, frame.y_offset // factor))
    return canvas


def _decode(
    decoder, fragment: _Data, size: tuple[int, int], factor: int, mode: int
) -> ctypes.Array:
    """The fragment decoded to `size` in libwebp's colour `mode` (RGB or RGBA), rows packed."""
    config = _Config()
    if not decoder.WebPInitDecoderConfigInternal(ctypes.byref(config), DECODER_ABI_VERSION):
        raise errors.InvalidImage()
    width, height = size
    channels = 3 if mode == MODE_RGB else 4
    pixels = ctypes.create_string_buffer(width * height * channels)
    if factor > 1:
        config.options.use_scaling = 1
        config.options.scaled_width, config.options.scaled_height = width, height
    config.output.colorspace = mode
    config.output.is_external_memory = 1
    config.output.u.RGBA.rgba = ctypes.addressof(pixels)
    config.output.u.RGBA.stride = width * channels
    config.output.u.RGBA.size = len(pixels)
    status = decoder.WebPDecode(fragment.bytes, fragment.size, ctypes.byref(config))
    if status == VP8_STATUS_OUT_OF_MEMORY:
        raise errors.TooCostly()
    if status != VP8_STATUS_OK:
        raise errors.InvalidImage()
    return pixels


def _scaled(size: tuple[int, int], factor: int) -> tuple[int, int]:
    return max(1, -(-size[0] // factor)), max(1, -(-size[1] // factor))
