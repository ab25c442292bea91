"""Images made for the tests: screenshot-like pictures, their re-encoded and cropped copies, a
JPEG carrying a GPS position, and hostile files (a PNG header on garbage, decompression bombs)."""

from __future__ import annotations

import io
import random
import struct
import zlib

from PIL import Image, ImageDraw

GPS_IFD = 0x8825
GPS_LATITUDE = 2


def screenshot(seed: int, width: int = 540, height: int = 960) -> Image.Image:
    """A phone screenshot's look: a colored app bar, then rows of text lines, cards and
    pictures, laid out at random from `seed`."""
    rnd = random.Random(seed)  # noqa: S311 - a picture, not a secret

    def color(low: int = 0, high: int = 256) -> tuple[int, int, int]:
        return (rnd.randrange(low, high), rnd.randrange(low, high), rnd.randrange(low, high))

    image = Image.new("RGB", (width, height), color(200))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width, height // 12), fill=color(0, 120))
    draw.text((20, height // 40), f"App {seed}", fill=(255, 255, 255))
    y = height // 10
    while y < height - 60:
        block = rnd.randrange(30, 160)
        kind = rnd.random()
        if kind < 0.4:
            for line in range(block // 20):
                right = 20 + rnd.randrange(100, width - 40)
                draw.rectangle((20, y + line * 20, right, y + line * 20 + 10), fill=(60, 60, 60))
        elif kind < 0.7:
            draw.rectangle((20, y, width - 20, y + block), fill=color())
        else:
            left, right = rnd.randrange(0, width // 2), rnd.randrange(width // 2, width)
            draw.ellipse((left, y, right, y + block), fill=color())
        y += block + 20
    return image


def encoded(image: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def jpeg_with_gps(image: Image.Image) -> bytes:
    """A JPEG whose EXIF says where it was taken (and by which camera)."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif.get_ifd(GPS_IFD).update({1: "N", GPS_LATITUDE: (52.0, 31.0, 12.0), 3: "E"})
    return encoded(image, "JPEG", quality=92, exif=exif)


def cropped_copy(image: Image.Image, crop: float = 0.03, scale: float = 0.9) -> bytes:
    """What a second account passes off: a few percent cut from each side, scaled, and saved
    again as a JPEG of lower quality."""
    w, h = image.size
    box = (round(w * crop), round(h * crop), w - round(w * crop), h - round(h * crop))
    copy = image.crop(box)
    copy = copy.resize((round(copy.width * scale), round(copy.height * scale)))
    return encoded(copy, "JPEG", quality=75)


def png_header_on_garbage(size: int = 4_000) -> bytes:
    """Claims to be a PNG (its signature and a plausible start), then random bytes."""
    return b"\x89PNG\r\n\x1a\n" + random.Random(7).randbytes(size)  # noqa: S311 - not a secret


def png_bomb(width: int, height: int) -> bytes:
    """A tiny valid PNG declaring `width` x `height` grey pixels: decoding it would need
    width x height bytes of memory for a file of a few hundred."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    first_rows = zlib.compress(b"\x00" * (width + 1) * 4, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", first_rows)
        + chunk(b"IEND", b"")
    )


def noise_png(width: int, height: int, seed: int = 1) -> bytes:
    """A PNG that compresses badly: about width x height x 3 bytes."""
    noise = random.Random(seed).randbytes(width * height * 3)  # noqa: S311 - not a secret
    return encoded(Image.frombytes("RGB", (width, height), noise))


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
