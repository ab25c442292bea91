"""Perceptual fingerprints of proof images, to catch one screenshot passed off by several
accounts after re-encoding, resizing or a small crop.

A fingerprint is a 64-bit pHash (DCT of the 32x32 grey image) and a 64-bit dHash (gradients
of a 9x8 one) side by side: 128 bits, compared by the number of bits that differ. Both
survive re-encoding and resizing; neither survives a crop well, because a crop moves every
feature. So each image is hashed whole and as a few crops of itself (the margins and the
status bar people cut off): when one image is a slightly cropped copy of the other, one of
the crops of the larger lines up with the whole of the smaller. Measured on generated
screenshots: copies cropped by up to 7% on a side, scaled and re-encoded as JPEG stay within
17 bits; unrelated screenshots of the same layout are 25 or more apart.
"""

from __future__ import annotations

import imagehash
from PIL import Image

# (left, top, right, bottom) fractions cut off; the first is the whole image.
CROPS = (
    (0.0, 0.0, 0.0, 0.0),
    (0.03, 0.03, 0.03, 0.03),
    (0.06, 0.06, 0.06, 0.06),
    (0.0, 0.04, 0.0, 0.0),
    (0.0, 0.0, 0.0, 0.04),
    (0.04, 0.0, 0.0, 0.0),
    (0.0, 0.0, 0.04, 0.0),
    (0.0, 0.08, 0.0, 0.0),
)
BITS = 128
_WORKING_SIZE = 512  # hashes look at 32x32 at most: shrink once, then crop


def fingerprints(image: Image.Image) -> list[str]:
    """Hex fingerprints of the image and its crops, the whole image first."""
    grey = image.convert("L")
    grey.thumbnail((_WORKING_SIZE, _WORKING_SIZE), Image.Resampling.LANCZOS)
    return [_hash(_crop(grey, *crop)) for crop in CROPS]


def parse(hexes: list[str]) -> list[int]:
    return [int(h, 16) for h in hexes]


def distance(a: list[int], b: list[int]) -> int:
    """Differing bits between two images: the closest of the whole of one against the whole
    or any crop of the other."""
    if not a or not b:
        return BITS
    return min(
        min((crop ^ b[0]).bit_count() for crop in a),
        min((a[0] ^ crop).bit_count() for crop in b),
    )


def _crop(image: Image.Image, left: float, top: float, right: float, bottom: float) -> Image.Image:
    w, h = image.size
    box = (round(w * left), round(h * top), w - round(w * right), h - round(h * bottom))
    return image.crop(box)


def _hash(image: Image.Image) -> str:
    return f"{imagehash.phash(image)}{imagehash.dhash(image)}"
