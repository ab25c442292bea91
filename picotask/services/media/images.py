"""Uploaded bytes into a clean image: decoded (never trusted by name or declared type), held
to size and pixel limits before any pixel is decoded, re-encoded without metadata (a phone
screenshot can carry its GPS position), with a thumbnail. CPU-bound: run it in a thread."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps

from picotask.services.core.errors import DomainError, ErrorCode
from picotask.services.media.fingerprints import fingerprints

# The decoders tried; anything else is refused before a byte of it is parsed further.
FORMATS = {
    "PNG": ("image/png", "png"),
    "JPEG": ("image/jpeg", "jpg"),
    "WEBP": ("image/webp", "webp"),
}
CONTENT_TYPES = frozenset(content_type for content_type, _ in FORMATS.values())
THUMBNAIL_TYPE = "image/webp"
_FIELD = ["body"]


@dataclass(frozen=True, slots=True)
class ImageLimits:
    max_bytes: int
    max_pixels: int
    thumbnail_pixels: int
    # Longest side of the stored image (avatars); None keeps the size (proof: every pixel).
    fit_pixels: int | None = None


@dataclass(frozen=True, slots=True)
class CleanImage:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int
    thumbnail: bytes
    fingerprints: list[str]


def clean_image(data: bytes, limits: ImageLimits, *, fingerprint: bool) -> CleanImage:
    """The image in `data`, re-encoded in its own format with no metadata; or a DomainError
    (UNSUPPORTED_IMAGE, TOO_LARGE) naming what is wrong."""
    if len(data) > limits.max_bytes:
        raise _too_large(f"The file is {len(data)} bytes; at most {limits.max_bytes} are accepted.")
    try:
        source = Image.open(io.BytesIO(data), formats=list(FORMATS))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_large(f"The image has more than {limits.max_pixels} pixels.") from None
    except Exception:  # any failure to parse untrusted bytes means "not an image we take"
        raise _unsupported() from None
    with source:
        width, height = source.size
        if width * height > limits.max_pixels:
            raise _too_large(
                f"The image is {width}x{height} pixels; at most {limits.max_pixels} are accepted."
            )
        content_type, extension = FORMATS[str(source.format)]
        try:
            source.seek(0)  # the first frame of an animation
            source.load()
            pixels = _without_metadata(ImageOps.exif_transpose(source))
        except Exception:  # truncated, corrupt, a header on something else, an odd mode
            raise _unsupported() from None
    if limits.fit_pixels is not None:
        pixels.thumbnail((limits.fit_pixels, limits.fit_pixels), Image.Resampling.LANCZOS)
    thumb = pixels.copy()
    thumb.thumbnail((limits.thumbnail_pixels, limits.thumbnail_pixels), Image.Resampling.LANCZOS)
    return CleanImage(
        data=_encode(pixels, extension),
        content_type=content_type,
        extension=extension,
        width=pixels.width,
        height=pixels.height,
        thumbnail=_encode(thumb, "webp", quality=80),
        fingerprints=fingerprints(pixels) if fingerprint else [],
    )


def _without_metadata(image: Image.Image) -> Image.Image:
    """Only the pixels, in RGB or RGBA: a new image carries no EXIF, XMP, ICC or text chunk."""
    transparent = image.mode in {"RGBA", "LA", "PA"} or "transparency" in image.info
    mode = "RGBA" if transparent else "RGB"
    converted = image.convert(mode)
    clean = Image.new(mode, converted.size)
    clean.paste(converted)
    return clean


def _encode(image: Image.Image, extension: str, quality: int = 90) -> bytes:
    out = io.BytesIO()
    if extension == "png":
        image.save(out, "PNG", compress_level=6)
    elif extension == "jpg":
        image.convert("RGB").save(out, "JPEG", quality=quality)
    else:
        image.save(out, "WEBP", quality=quality)
    return out.getvalue()


def _too_large(message: str) -> DomainError:
    return DomainError(ErrorCode.TOO_LARGE, message, _FIELD)


def _unsupported() -> DomainError:
    return DomainError(
        ErrorCode.UNSUPPORTED_IMAGE, "The file is not a readable PNG, JPEG or WebP image.", _FIELD
    )
