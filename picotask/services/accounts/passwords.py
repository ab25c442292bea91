"""Refusing guessable passwords (NIST SP 800-63B 3.1.1.2: compare new passwords against
values known to be commonly used, expected or compromised).

zxcvbn (Dropbox's estimator, a maintained package) ranks a password against its bundled
frequency lists, the first of which is 30,000 passwords from breach corpora, and against the
patterns attackers try on top of them (l33t, reversal, keyboard walks, repeats, sequences,
dates); its score tells how many guesses that costs. Scores 0 and 1 (under 10^6 guesses) are
the common and breached passwords and their simple variations.
"""

from __future__ import annotations

import asyncio
import threading

from zxcvbn import zxcvbn

# zxcvbn refuses longer input; what follows the first 72 characters only adds strength.
ANALYSED_CHARS = 72
# zxcvbn keeps the user's own words in a module-level dictionary while it runs.
_one_at_a_time = threading.Lock()


def _score(password: str, context: list[str]) -> int:
    with _one_at_a_time:
        return int(zxcvbn(password[:ANALYSED_CHARS], user_inputs=context)["score"])


async def is_guessable(password: str, context: list[str], min_score: int) -> bool:
    """True for a password zxcvbn scores under `min_score`, with `context` (the account's
    email, name) counted as words an attacker would try. A few ms of CPU, off the loop."""
    return await asyncio.to_thread(_score, password, context) < min_score
