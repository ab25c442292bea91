"""Perceptual fingerprints of proof images, to catch one screenshot passed off by several
accounts after re-encoding, resizing or a small crop.

A fingerprint is three 64-bit hashes of the grey image side by side, 192 bits compared by the
number that differ: a pHash (DCT of 32x32: the overall structure), a dHash (gradients of 9x8
left to right) and an aHash (8x8 brighter or darker than the mean: where the light is, which
tells an image from its mirror or rotation where the other two are blind, as for a smooth
gradient). All survive re-encoding and resizing; none survives a crop well, because a crop
moves every feature. So each image is hashed whole and as a few crops of itself (the margins
and the status bar people cut off): when one image is a slightly cropped copy of the other,
one of the crops of the larger lines up with the whole of the smaller.

The distance is meaningful, not just small: the bits that differ, plus one per percent of the
image a crop had to cut to line the two up. 0 is the same picture (re-encoded or resized
alike); a cropped copy is further away the more was cut.

Low-detail images (a blank, black or loading screen: grey levels spread by less than
`LOW_DETAIL`) get no fingerprint at all. They are common proof, every blank screen looks like
every other, and a match between two of them would be a false fraud warning.

Measured on generated screenshots (tests/test_images.py): copies cropped by up to 7% on a
side, scaled and re-encoded as JPEG stay within 24; unrelated screenshots of the same layout
are 30 or more apart.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

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
# What lining up by each crop costs: a percent of the area cut is one bit.
_CROP_COST = tuple(round(100 * (1 - (1 - x0 - x1) * (1 - y0 - y1))) for x0, y0, x1, y1 in CROPS)
HASH_BITS = 64
BITS = 3 * HASH_BITS  # of a fingerprint written now; one of an earlier version has 128
LOW_DETAIL = 8.0  # standard deviation of the grey levels (0-255) of a 64x64 thumbnail
_WORKING_SIZE = 512  # hashes look at 32x32 at most: shrink once, then crop


@dataclass(frozen=True, slots=True)
class Prints:
    """An image's fingerprints as numbers: the whole image, then its crops."""

    bits: int  # of each: 192, or 128 for one written before the aHash was added
    values: tuple[int, ...]


NONE = Prints(BITS, ())


def fingerprints(image: Image.Image) -> list[str]:
    """Hex fingerprints of the image and its crops, the whole image first; none for a
    low-detail image."""
    grey = image.convert("L")
    grey.thumbnail((_WORKING_SIZE, _WORKING_SIZE), Image.Resampling.LANCZOS)
    if low_detail(grey):
        return []
    return [_hash(_crop(grey, *crop)) for crop in CROPS]


def low_detail(grey: Image.Image) -> bool:
    levels = grey.resize((64, 64), Image.Resampling.BILINEAR).tobytes()
    return statistics.pstdev(levels) < LOW_DETAIL


def parse(hexes: list[str]) -> Prints:
    if not hexes:
        return NONE
    return Prints(len(hexes[0]) * 4, tuple(int(h, 16) for h in hexes))


def distance(a: Prints, b: Prints) -> int:
    """How far apart two images look: the closest of the whole of one against the whole or
    any crop of the other, in differing bits plus the crop's cost. Fingerprints of different
    versions are compared on the hashes both have."""
    if not a.values or not b.values:
        return BITS
    bits = min(a.bits, b.bits)
    x = [v >> (a.bits - bits) for v in a.values]
    y = [v >> (b.bits - bits) for v in b.values]
    return min(
        min((crop ^ y[0]).bit_count() + cost for crop, cost in zip(x, _CROP_COST, strict=False)),
        min((x[0] ^ crop).bit_count() + cost for crop, cost in zip(y, _CROP_COST, strict=False)),
    )


def _crop(image: Image.Image, left: float, top: float, right: float, bottom: float) -> Image.Image:
    w, h = image.size
    box = (round(w * left), round(h * top), w - round(w * right), h - round(h * bottom))
    return image.crop(box)


def _hash(image: Image.Image) -> str:
    return f"{imagehash.phash(image)}{imagehash.dhash(image)}{imagehash.average_hash(image)}"
