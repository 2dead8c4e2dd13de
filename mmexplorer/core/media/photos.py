"""Decoding photos safely: upright 8-bit RGB, EXIF orientation, bomb limits, a reason for every failure.

Only reads: nothing is ever written beside the user's files. Bad files raise `DecodeError` with a
one-line reason the UI and `mmexplorer status` can show as is.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from mmexplorer.core.errors import DecodeError
from mmexplorer.core.media.kinds import PHOTO_FORMAT_NAMES
from mmexplorer.core.media.sniff import JPEG_MAGIC, describe_content, read_head

log = logging.getLogger(__name__)

try:  # HEIC/HEIF photos (iPhones) need the libheif plugin; without it they are reported, not fatal.
    from pillow_heif import register_heif_opener
except ImportError:  # pragma: no cover - pillow-heif is a dependency, but keep core importable
    HEIF_AVAILABLE = False
else:
    register_heif_opener()
    HEIF_AVAILABLE = True


def _not_an_image(path: Path, ext: str) -> DecodeError:
    try:
        head = read_head(path)
    except OSError as e:
        return DecodeError(path, f"cannot read file: {e.strerror or e}")
    what = describe_content(head)
    if what == "HEIF image" and not HEIF_AVAILABLE:
        return DecodeError(path, "cannot decode HEIF image: pillow-heif is not installed")
    if what == "AVIF image" and "AVIF" not in Image.OPEN:  # Image.open has loaded every plugin by now
        return DecodeError(path, "cannot decode AVIF image: this Pillow has no AVIF support (needs 11.3+)")
    label = PHOTO_FORMAT_NAMES.get(ext)
    prefix = f"not a {label} image" if label else "not an image"
    return DecodeError(path, f"{prefix}: content looks like {what}")


def _too_large(path: Path, size: tuple[int, int]) -> DecodeError:
    return DecodeError(path, f"image too large: {size[0]} x {size[1]} pixels")


def _open_image(path: Path) -> Image.Image:
    """Image.open with every failure turned into a DecodeError that says why."""
    try:
        return Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        size = _header_size(path)
        if size is not None:
            raise _too_large(path, size) from e
        raise DecodeError(path, f"image too large: {e}") from e
    except UnidentifiedImageError as e:
        raise _not_an_image(path, path.suffix.lower()) from e
    except FileNotFoundError as e:
        raise DecodeError(path, "file not found") from e
    except (PermissionError, IsADirectoryError) as e:
        raise DecodeError(path, f"cannot read file: {e.strerror or e}") from e
    except OSError as e:  # raised by a plugin parsing a header cut short, not by the file system
        raise DecodeError(path, f"truncated or corrupt image: {e.strerror or e}") from e
    except Exception as e:  # plugins raise SyntaxError, ValueError, struct.error ... on bad headers
        raise DecodeError(path, f"corrupt image header: {e}") from e


def _header_size(path: Path) -> tuple[int, int] | None:
    """Width and height from the header, bypassing Image.open's bomb check (only to report it).

    PIL's DecompressionBombError does not carry the size, and its limit is a process-wide
    global we must not change from decoding threads; the plugin classes parse headers without
    that check.
    """
    try:
        with open(path, "rb") as fp:
            prefix = fp.read(16)
            for fmt in Image.ID:
                factory, accept = Image.OPEN[fmt]
                verdict = accept(prefix) if accept else True
                if not verdict or isinstance(verdict, str):
                    continue
                fp.seek(0)
                try:
                    im = factory(fp, os.fspath(path))
                except Exception as e:  # noqa: BLE001 - not this plugin's format: next, as Image.open does
                    log.debug("%s is not %s: %s", path, fmt, e)
                    continue
                return im.size
    except OSError:
        return None
    return None


def _orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(0x0112, 1) or 1)
    except Exception as e:  # noqa: BLE001 - malformed EXIF must not cost the photo: treat as upright
        log.debug("ignoring unreadable EXIF in %s: %s", getattr(img, "filename", "?"), e)
        return 1


def load_image(
    path: str | os.PathLike[str],
    *,
    min_side: int | None = None,
    max_pixels: int = 80_000_000,
) -> Image.Image:
    """Decode a photo into an upright 8-bit RGB image.

    EXIF orientation is applied, animations give their first frame, and every colour mode is
    converted properly: transparency is composited on white, CMYK converted, 16-bit and float
    images scaled (not clipped) to 8 bit.

    Args:
        path: the file.
        min_side: if given and the file is a JPEG, decode at a reduced scale (1/2, 1/4 or 1/8)
            chosen so the short side stays >= min_side; much faster for big camera photos.
            Other formats decode at full size.
        max_pixels: refuse images with more pixels than this (decompression bombs).

    Returns:
        A new RGB image, not tied to the file.

    Raises:
        DecodeError: the file is not a readable image; `reason` says why.
    """
    path = Path(path)
    img = _open_image(path)
    with img:
        w, h = img.size
        if w * h > max_pixels:
            raise _too_large(path, (w, h))
        if w <= 0 or h <= 0:
            raise DecodeError(path, f"corrupt image header: size {w} x {h}")
        try:
            if min_side and img.format in ("JPEG", "MPO"):  # MPO: multi-picture camera JPEGs
                img.draft("RGB", (min_side, min_side))
            img.load()
            orientation = _orientation(img)
            out = _to_rgb(img, path)
            if orientation != 1:
                out = _apply_orientation(out, orientation)
        except DecodeError:
            raise
        except (OSError, EOFError, SyntaxError) as e:
            raise DecodeError(path, f"truncated or corrupt image: {e}") from e
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise _too_large(path, (w, h)) from e
        except MemoryError as e:
            raise DecodeError(path, f"not enough memory to decode {w} x {h} pixels") from e
        except Exception as e:  # PIL plugins raise ValueError, struct.error, IndexError ... on bad data
            raise DecodeError(path, f"corrupt image: {type(e).__name__}: {e}") from e
    return out


_TRANSPOSES = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_90,),
}


def _apply_orientation(img: Image.Image, orientation: int) -> Image.Image:
    # Same table as ImageOps.exif_transpose, applied after the RGB conversion so the EXIF data
    # of the source does not need to be copied and rewritten.
    for op in _TRANSPOSES.get(orientation, ()):
        img = img.transpose(op)
    return img


def _on_white(img: Image.Image) -> Image.Image:
    rgba = img.convert("RGBA")
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _scale_to_l(img: Image.Image, lo: float, hi: float) -> Image.Image:
    """Map [lo, hi] linearly onto 0..255 and return mode L (values outside are clamped)."""
    if hi <= lo:
        return Image.new("L", img.size, 0 if hi <= 0 else 255)
    scale = 255.0 / (hi - lo)
    f = img.convert("F").point(lambda v: (v - lo) * scale)
    return f.convert("L")


def _to_rgb(img: Image.Image, path: Path) -> Image.Image:
    mode = img.mode
    has_transparency = "transparency" in img.info
    if mode == "RGB" and not has_transparency:
        return img.copy()
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (has_transparency and mode in ("P", "L", "RGB", "1")):
        return _on_white(img)
    if mode.startswith("I;16"):
        # 16 bits per sample: keep the whole range by scaling (x / 257), never clip at 255.
        return _scale_to_l(img, 0, 65535).convert("RGB")
    if mode == "I":
        lo, hi = img.getextrema()
        if lo >= 0 and hi <= 255:
            return img.convert("L").convert("RGB")
        if lo >= 0 and hi <= 65535:
            return _scale_to_l(img, 0, 65535).convert("RGB")
        return _scale_to_l(img, lo, hi).convert("RGB")
    if mode == "F":
        lo, hi = img.getextrema()
        if not (math.isfinite(lo) and math.isfinite(hi)):
            lo, hi = 0.0, 1.0
        if lo >= 0 and hi <= 1.0:
            return _scale_to_l(img, 0.0, 1.0).convert("RGB")
        if lo >= 0 and hi <= 255:
            return _scale_to_l(img, 0.0, 255.0).convert("RGB")
        return _scale_to_l(img, lo, hi).convert("RGB")
    try:
        return img.convert("RGB")  # P, L, 1, CMYK, YCbCr, HSV
    except ValueError as e:
        raise DecodeError(path, f"unsupported colour mode {mode}") from e


def image_dimensions(path: str | os.PathLike[str]) -> tuple[int, int]:
    """Read an image's width and height from its header, as displayed (EXIF orientation applied).

    Args:
        path: the file.

    Returns:
        (width, height) in pixels.

    Raises:
        DecodeError: the file is not a readable image.
    """
    path = Path(path)
    img = _open_image(path)
    with img:
        w, h = img.size
        if _orientation(img) in (5, 6, 7, 8):
            w, h = h, w
    return w, h


def displayed_size(path: str | os.PathLike[str], image: Image.Image) -> tuple[int, int]:
    """Width and height of the photo as displayed, given the image `load_image` decoded from it.

    A JPEG may have been draft-decoded at a reduced scale, so its size comes from the header; any
    other format was decoded at full size with its EXIF orientation applied, which is exactly what
    `image_dimensions` would report (for PNG that call decodes the whole file a second time,
    because the EXIF chunk may follow the pixels).

    Args:
        path: the photo's file.
        image: what `load_image(path, ...)` returned.

    Returns:
        (width, height) in pixels.
    """
    with open(path, "rb") as f:
        head = f.read(len(JPEG_MAGIC))
    if head == JPEG_MAGIC:  # JPEG and MPO: the only formats load_image draft-decodes
        return image_dimensions(path)
    return image.size


def reduce_for_model(image: Image.Image, side: int) -> Image.Image:
    """Shrink a decoded image by an integer box filter while it stays >= 2x the model's input side.

    The model's bicubic resize then works on a small image: what JPEG draft decoding does for JPEGs,
    and what PIL's `reducing_gap=2` does, with results indistinguishable from a full-size resample.

    Args:
        image: a decoded photo.
        side: the side of the square the model sees, in pixels.
    """
    factor = min(image.size) // (2 * side)
    return image.reduce(factor) if factor >= 2 else image
