"""Where a payout may go, checked before anything is written: a PayPal or Payoneer account's
email address, or a crypto address whose checksum holds, so a mistyped character is refused
here rather than paid to nobody.

- Ethereum-style `0x` + 40 hex digits: in EIP-55's mixed case the case of each letter is a
  bit of the address's Keccak-256 (pycryptodome's; hashlib's sha3_256 is another function),
  checked here. An all-lower- or all-upper-case address carries no checksum; EIP-55 keeps
  those valid, and so does this.
- Bitcoin legacy (`1…`, `3…`): base58check, its last 4 bytes the double SHA-256 of the rest.
- Bitcoin segwit (`bc1…`): bech32 for version 0, bech32m for 1 to 16 (BIP 173, BIP 350).
"""

from __future__ import annotations

import hashlib
import re

from Crypto.Hash import keccak

from picotask.models.payouts import PayoutMethod
from picotask.services.accounts.users import is_email
from picotask.services.core.errors import DomainError, ErrorCode

_HEX_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_CONST, _BECH32M_CONST = 1, 0x2BC830A3
# Version bytes of Bitcoin's mainnet pay-to-pubkey-hash (1…) and pay-to-script-hash (3…).
_LEGACY_VERSIONS = {0x00, 0x05}
MAX_DESTINATION = 200


def check_destination(
    method: PayoutMethod, destination: str, field: list[str] | None = None
) -> str:
    """The destination as stored (an email lower-cased, an address as given), or INVALID."""
    value = destination.strip()
    path = field or ["input", "destination"]
    if method in {PayoutMethod.PAYPAL, PayoutMethod.PAYONEER}:
        if not is_email(value):
            raise DomainError(
                ErrorCode.INVALID,
                f"destination must be the email address of the {method.title()} account.",
                path,
            )
        return value.lower()
    problem = crypto_problem(value)
    if problem is not None:
        raise DomainError(ErrorCode.INVALID, problem, path)
    return value


def crypto_problem(value: str) -> str | None:
    """Why `value` is not an address money may go to, or None."""
    if len(value) > MAX_DESTINATION:
        return f"destination must be at most {MAX_DESTINATION} characters."
    if value.startswith("0x"):
        if not _HEX_ADDRESS.match(value):
            return "destination: an Ethereum address is 0x and 40 hexadecimal digits."
        digits = value[2:]
        if digits.lower() != digits and digits.upper() != digits and eip55(digits) != value:
            return "destination: the Ethereum address's checksum does not match (EIP-55); check it."
        return None
    if value[:3].lower() == "bc1":
        return None if _segwit_ok(value) else "destination: not a valid bc1… Bitcoin address."
    if value[:1] in {"1", "3"}:
        return None if _base58check_ok(value) else "destination: not a valid Bitcoin address."
    return "destination must be a Bitcoin (1…, 3…, bc1…) or Ethereum (0x…) address."


def eip55(digits: str) -> str:
    """The checksummed form of 40 hex digits: a letter is upper-case where the nibble of
    Keccak-256(lower-case digits) at its place is 8 or more."""
    lower = digits.lower()
    digest = keccak.new(digest_bits=256, data=lower.encode()).hexdigest()
    return "0x" + "".join(
        ch.upper() if ch.isalpha() and int(digest[i], 16) >= 8 else ch for i, ch in enumerate(lower)
    )


def _base58check_ok(value: str) -> bool:
    if not 26 <= len(value) <= 35 or any(ch not in _BASE58 for ch in value):
        return False
    number = 0
    for ch in value:
        number = number * 58 + _BASE58.index(ch)
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    raw = b"\x00" * (len(value) - len(value.lstrip("1"))) + body
    if len(raw) != 25 or raw[0] not in _LEGACY_VERSIONS:
        return False
    payload, checksum = raw[:-4], raw[-4:]
    return hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] == checksum


def _polymod(values: list[int]) -> int:
    generator = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            checksum ^= generator[i] if (top >> i) & 1 else 0
    return checksum


def _segwit_ok(value: str) -> bool:
    """BIP 173 / BIP 350: one case, `bc1`, a checksum of the right kind for the version, and a
    witness program of a length that version allows."""
    if value.lower() != value and value.upper() != value:
        return False
    address = value.lower()
    if not 14 <= len(address) <= 90:
        return False
    hrp, _, data_part = address.rpartition("1")
    if hrp != "bc" or len(data_part) < 7 or any(ch not in _BECH32 for ch in data_part):
        return False
    data = [_BECH32.index(ch) for ch in data_part]
    expanded = [ord(ch) >> 5 for ch in hrp] + [0] + [ord(ch) & 31 for ch in hrp]
    constant = _polymod(expanded + data)
    version, words = data[0], data[1:-6]
    if version > 16 or constant != (_BECH32_CONST if version == 0 else _BECH32M_CONST):
        return False
    program = _regroup(words)
    if program is None or not 2 <= len(program) <= 40:
        return False
    return version != 0 or len(program) in {20, 32}


def _regroup(words: list[int]) -> bytes | None:
    """5-bit words to bytes; None when the padding is not zeros of less than 5 bits."""
    accumulator, bits, out = 0, 0, bytearray()
    for word in words:
        accumulator = accumulator << 5 | word
        bits += 5
        while bits >= 8:
            bits -= 8
            out.append(accumulator >> bits & 0xFF)
    if bits >= 5 or accumulator & ((1 << bits) - 1):
        return None
    return bytes(out)
