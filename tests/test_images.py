"""Images without HTTP: checking and cleaning bytes, fingerprints, signed links, storage keys."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from picotask.services.core.clock import ManualClock
from picotask.services.core.errors import DomainError, ErrorCode
from picotask.services.media.fingerprints import BITS, Prints, distance, fingerprints, parse
from picotask.services.media.image_links import LinkSigner
from picotask.services.media.images import ImageLimits, clean_image
from picotask.services.media.storage import LocalStorage, is_key
from picotask.services.work.proof_images import MATCHES_PER_IMAGE, closest
from picotask.settings import Settings
from tests.images import (
    GPS_IFD,
    cropped_copy,
    decoded,
    encoded,
    jpeg_with_gps,
    png_bomb,
    png_header_on_garbage,
    screenshot,
)

LIMITS = ImageLimits(max_bytes=5_000_000, max_pixels=4_000_000, thumbnail_pixels=320)


def refusal(data: bytes, limits: ImageLimits = LIMITS) -> ErrorCode:
    with pytest.raises(DomainError) as refused:
        clean_image(data, limits, fingerprint=True)
    return refused.value.problems[0].code


def test_a_phone_photo_loses_its_gps_position_and_keeps_its_pixels() -> None:
    source = jpeg_with_gps(screenshot(1))
    assert decoded(source).getexif().get_ifd(GPS_IFD)  # the test file does carry it
    image = clean_image(source, LIMITS, fingerprint=True)
    stored = decoded(image.data)
    assert (image.content_type, image.extension, stored.format) == ("image/jpeg", "jpg", "JPEG")
    assert (image.width, image.height) == stored.size == (540, 960)
    assert not stored.getexif()
    assert not stored.getexif().get_ifd(GPS_IFD)
    assert b"PhoneMaker" not in image.data
    assert "exif" not in stored.info
    thumb = decoded(image.thumbnail)
    assert thumb.format == "WEBP"
    assert max(thumb.size) == 320
    assert len(image.fingerprints) == 8


def test_the_type_comes_from_the_bytes_not_the_name() -> None:
    webp = clean_image(encoded(screenshot(2), "WEBP"), LIMITS, fingerprint=False)
    assert (webp.content_type, webp.fingerprints) == ("image/webp", [])
    png = clean_image(encoded(screenshot(2).convert("RGBA")), LIMITS, fingerprint=False)
    assert png.content_type == "image/png"
    assert decoded(png.data).mode == "RGBA"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (png_header_on_garbage(), ErrorCode.UNSUPPORTED_IMAGE),
        (b"GIF89a" + b"\x00" * 100, ErrorCode.UNSUPPORTED_IMAGE),  # a real format, not taken
        (encoded(screenshot(3), "GIF"), ErrorCode.UNSUPPORTED_IMAGE),
        (encoded(screenshot(3), "BMP"), ErrorCode.UNSUPPORTED_IMAGE),
        (b"%PDF-1.7\n", ErrorCode.UNSUPPORTED_IMAGE),
        (encoded(screenshot(3))[:2_000], ErrorCode.UNSUPPORTED_IMAGE),  # truncated
        (png_bomb(3_000, 2_000), ErrorCode.TOO_LARGE),  # over the setting, under Pillow's
        (png_bomb(100_000, 100_000), ErrorCode.TOO_LARGE),  # over Pillow's own limit too
    ],
)
def test_refused_before_anything_is_kept(data: bytes, code: ErrorCode) -> None:
    assert refusal(data) == code


def test_too_many_bytes() -> None:
    data = encoded(screenshot(4))
    assert refusal(data, ImageLimits(len(data) - 1, 4_000_000, 320)) == ErrorCode.TOO_LARGE
    assert clean_image(data, ImageLimits(len(data), 4_000_000, 320), fingerprint=False)


def test_avatars_are_fitted() -> None:
    limits = ImageLimits(5_000_000, 4_000_000, thumbnail_pixels=64, fit_pixels=128)
    image = clean_image(encoded(screenshot(5)), limits, fingerprint=False)
    assert (image.width, image.height) == (72, 128)
    assert max(decoded(image.thumbnail).size) == 64


def prints(data: bytes) -> Prints:
    return parse(clean_image(data, LIMITS, fingerprint=True).fingerprints)


MATCH = Settings().image_match_max_distance


@pytest.mark.parametrize(
    ("crop", "scale"), [(0.0, 1.0), (0.02, 0.8), (0.03, 0.9), (0.05, 0.7), (0.07, 1.0)]
)
def test_copies_are_close_and_other_screenshots_are_not(crop: float, scale: float) -> None:
    for seed in range(6):
        original = screenshot(seed)
        copy = prints(cropped_copy(original, crop=crop, scale=scale))
        assert distance(prints(encoded(original)), copy) <= MATCH, (seed, crop)
        assert distance(copy, prints(encoded(original))) <= MATCH  # symmetric


def test_the_distance_says_how_much_a_copy_was_changed() -> None:
    original = screenshot(3)
    whole = prints(encoded(original))
    reencoded = distance(whole, prints(encoded(original, "JPEG", quality=70)))
    resized = distance(whole, prints(encoded(original.resize((270, 480)))))
    cropped = [
        distance(whole, prints(cropped_copy(original, crop=c, scale=1.0))) for c in (0.03, 0.06)
    ]
    assert reencoded <= 4  # a few bits flip in a lossy JPEG
    assert resized <= 4
    assert max(reencoded, resized) < cropped[0] < cropped[1] <= MATCH


def test_unrelated_screenshots_are_far_apart() -> None:
    all_prints = [prints(encoded(screenshot(seed))) for seed in range(100, 112)]
    closest = min(distance(a, b) for a, b in itertools.combinations(all_prints, 2))
    assert closest > MATCH + 10
    assert distance(all_prints[0], parse([])) == BITS


def _loading(offset: int, background: tuple[int, int, int]) -> Image.Image:
    image = Image.new("RGB", (540, 960), background)
    ImageDraw.Draw(image).ellipse(
        (250 + offset, 460, 290 + offset, 500), outline=(120, 120, 120), width=4
    )
    return image


def test_plain_screens_match_nothing() -> None:
    """Blank, black and loading screens are common proof and all alike: no fingerprint, so
    no false warning. An image and its mirror are not the same picture."""
    white = Image.new("RGB", (800, 600), (255, 255, 255))
    black = Image.new("RGB", (800, 600), (0, 0, 0))
    loading = [_loading(0, (255, 255, 255)), _loading(12, (250, 250, 250))]
    for plain in (white, black, *loading):
        assert prints(encoded(plain)) == parse([])
    assert distance(prints(encoded(white)), prints(encoded(black))) == BITS
    assert distance(prints(encoded(loading[0])), prints(encoded(loading[1]))) == BITS
    gradient = Image.linear_gradient("L").resize((800, 600)).convert("RGB")
    for turned in (gradient.rotate(180), gradient.transpose(Image.Transpose.FLIP_TOP_BOTTOM)):
        assert distance(prints(encoded(gradient)), prints(encoded(turned))) > MATCH
    sideways = gradient.rotate(90, expand=True).resize((800, 600))
    assert distance(prints(encoded(sideways)), prints(encoded(sideways.rotate(180)))) > MATCH


def test_fingerprints_of_the_earlier_version_still_compare() -> None:
    """Stored before the third hash: 128 bits, compared on the two hashes both have."""
    original = screenshot(11)
    now = fingerprints(original)
    earlier = [h[:32] for h in fingerprints(original)]
    assert parse(earlier).bits == 128
    assert distance(parse(now), parse(earlier)) == 0
    unrelated = [h[:32] for h in fingerprints(screenshot(12))]
    assert distance(parse(now), parse(unrelated)) > MATCH


def test_one_sided_crops_are_close() -> None:
    original = screenshot(9)
    w, h = original.size
    whole = fingerprints(original)
    for box in [(0, h // 20, w, h), (0, 0, w, h - h // 25), (w // 25, 0, w, h)]:
        copy = fingerprints(original.crop(box))
        assert distance(parse(whole), parse(copy)) <= MATCH, box


def test_links_are_signed_and_expire() -> None:
    clock = ManualClock()
    signer = LinkSigner("a shared secret", clock, ttl_seconds=900)
    link = signer.sign("proofs/abcdefghijklmnopqrstuvwx.png")
    assert signer.verify(link.key, str(link.expires), link.signature)
    again = signer.sign(link.key)
    assert again == link  # the same link within the minute: browsers can cache it
    assert not signer.verify(
        "proofs/bbcdefghijklmnopqrstuvwx.png", str(link.expires), link.signature
    )
    assert not signer.verify(link.key, str(link.expires + 60), link.signature)
    assert not signer.verify(link.key, str(link.expires), "0" * 64)
    assert not signer.verify(link.key, "soon", link.signature)
    assert not signer.verify(link.key, str(link.expires), "é")
    other_instance = LinkSigner("a shared secret", clock, ttl_seconds=900)
    assert other_instance.verify(link.key, str(link.expires), link.signature)
    assert not LinkSigner("", clock, 900).verify(link.key, str(link.expires), link.signature)
    clock.advance(link.expires - clock.now().timestamp())
    assert not signer.verify(link.key, str(link.expires), link.signature)


@pytest.mark.parametrize(
    "key",
    [
        "../etc/passwd",
        "proofs/../../x.png",
        "proofs/short.png",
        "other/abcdefghijklmnopqrstuvwx.png",
        "proofs/abcdefghijklmnopqrstuvwx.html",
        "proofs/abcdefghijklmnopqrstuvwx.png/..",
    ],
)
async def test_storage_takes_only_its_own_keys(key: str, tmp_path: Path) -> None:
    assert not is_key(key)
    with pytest.raises(ValueError, match="not a storage key"):
        await LocalStorage(tmp_path).put(key, b"x", "image/png")


async def test_local_storage_round_trip(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "uploads")
    key = "avatars/abcdefghijklmnopqrstuvwx.thumb.webp"
    assert await storage.get(key) is None
    await storage.put(key, b"bytes", "image/webp")
    assert await storage.get(key) == b"bytes"
    assert [p.name for p in (tmp_path / "uploads" / "avatars").iterdir()] == [
        "abcdefghijklmnopqrstuvwx.thumb.webp"
    ]
    await storage.delete([key, key])
    assert await storage.get(key) is None


def test_animated_and_paletted_images() -> None:
    frames = [screenshot(s, 240, 400).convert("P") for s in range(3)]
    out = encoded(frames[0], "PNG", save_all=True, append_images=frames[1:])
    image = clean_image(out, LIMITS, fingerprint=False)
    assert decoded(image.data).size == (240, 400)
    transparent = Image.new("P", (10, 10))
    transparent.info["transparency"] = 0
    assert decoded(clean_image(encoded(transparent), LIMITS, fingerprint=False).data).mode == "RGBA"


def test_the_closest_candidates_only() -> None:
    whole = fingerprints(screenshot(40))
    rows = [
        {"id": i, "fingerprints": whole if i % 2 else fingerprints(screenshot(100 + i))}
        for i in range(1, 31)
    ]
    found = closest([{"id": 99, "fingerprints": whole}], rows, max_distance=20)
    assert len(found) == MATCHES_PER_IMAGE  # 15 exact copies, the first 10 by id
    assert [(image, d, row["id"]) for image, d, row in found] == [
        (99, 0, i) for i in range(1, 21, 2)
    ]
    assert closest([{"id": 99, "fingerprints": whole}], rows[1::2], max_distance=20) == []
