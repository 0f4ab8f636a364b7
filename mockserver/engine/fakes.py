"""Readable fake values for strings: words, and one maker per string format.

Each maker gives values that pass the format checks of jsonschema and jsonschema-rs; ``fit``
stretches or cuts a value to length bounds where its format allows.
"""

from __future__ import annotations

import base64
import random
import string
from collections.abc import Callable
from datetime import date

_WORDS = (
    "amber",
    "basil",
    "cedar",
    "delta",
    "ember",
    "fable",
    "grove",
    "harbor",
    "indigo",
    "juniper",
    "kestrel",
    "lumen",
    "maple",
    "nectar",
    "orchid",
    "pebble",
    "quartz",
    "river",
    "sierra",
    "timber",
    "umber",
    "velvet",
    "willow",
    "zephyr",
)


def words(rng: random.Random) -> str:
    # One draw picks one or two words: this runs for most strings of a body.
    draw = int(rng.random() * 2 * len(_WORDS) ** 2)
    first, second = divmod(draw >> 1, len(_WORDS))
    return f"{_WORDS[first]} {_WORDS[second]}" if draw & 1 else _WORDS[first]


_EPOCH = date(2020, 1, 1).toordinal()


def _day(rng: random.Random) -> str:
    return date.fromordinal(_EPOCH + int(rng.random() * 2200)).isoformat()


def _clock(rng: random.Random) -> str:
    hours, rest = divmod(int(rng.random() * 86400), 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def _slug(rng: random.Random) -> str:
    draw = int(rng.random() * 99 * len(_WORDS))
    return f"{_WORDS[draw // 99]}{draw % 99 + 1}"


def _uuid4(rng: random.Random) -> str:
    digits = f"{rng.getrandbits(128):032x}"
    variant = "89ab"[int(digits[16], 16) & 3]
    return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-{variant}{digits[17:20]}-{digits[20:]}"


def _base64(rng: random.Random, size: int | None = None) -> str:
    count = rng.randint(3, 12) if size is None else size
    return base64.b64encode(bytes(rng.getrandbits(8) for _ in range(count))).decode("ascii")


def _secret(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(12))


#: A maker per format; each value passes the format checks of jsonschema and jsonschema-rs.
FORMATS: dict[str, Callable[[random.Random], str]] = {
    "uuid": _uuid4,
    "date": _day,
    "date-time": lambda r: f"{_day(r)}T{_clock(r)}Z",
    "time": lambda r: f"{_clock(r)}Z",
    "duration": lambda r: f"P{r.randint(1, 30)}D",
    "email": lambda r: f"{_slug(r)}@example.com",
    "idn-email": lambda r: f"{_slug(r)}@example.com",
    "uri": lambda r: f"https://example.com/{_slug(r)}",
    "url": lambda r: f"https://example.com/{_slug(r)}",
    "iri": lambda r: f"https://example.com/{_slug(r)}",
    "uri-reference": lambda r: f"/{_slug(r)}",
    "iri-reference": lambda r: f"/{_slug(r)}",
    "uri-template": lambda r: f"https://example.com/{_slug(r)}/{{id}}",
    "hostname": lambda r: f"{_slug(r)}.example.com",
    "idn-hostname": lambda r: f"{_slug(r)}.example.com",
    "ipv4": lambda r: f"192.0.2.{r.randint(1, 254)}",
    "ipv6": lambda r: f"2001:db8::{r.randint(1, 0xFFFF):x}",
    "byte": _base64,
    "binary": _secret,
    "password": _secret,
    "regex": lambda r: f"^{r.choice(_WORDS)}-[0-9]+$",
    "json-pointer": lambda r: f"/{r.choice(_WORDS)}/{r.randint(0, 9)}",
    "relative-json-pointer": lambda r: f"0/{r.choice(_WORDS)}",
    "int32": lambda r: str(r.randint(0, 1000)),
    "int64": lambda r: str(r.randint(0, 1000)),
    "float": lambda r: f"{r.uniform(0, 100):.2f}",
    "double": lambda r: f"{r.uniform(0, 100):.2f}",
    "decimal": lambda r: f"{r.uniform(0, 100):.2f}",
}
#: Formats whose values stay valid when letters are added at the end (or, for email, before @).
_PADDABLE = frozenset({"binary", "password", "uri", "url", "iri", "uri-reference", "iri-reference"})


def fit(text: str, fmt: str | None, rng: random.Random, low: int, high: int | None) -> str:
    if low <= len(text) and (high is None or len(text) <= high):
        return text
    if fmt == "byte":
        size = max(0, (high if high is not None and high < len(text) else low) // 4 * 3)
        encoded = _base64(rng, size)
        if len(encoded) < low:
            encoded = _base64(rng, size + 3)
        return encoded
    filler = "".join(rng.choice(string.ascii_lowercase) for _ in range(max(0, low - len(text))))
    if fmt in ("email", "idn-email"):
        local, _, domain = text.partition("@")
        return f"{local}{filler}@{domain}"
    if fmt in ("hostname", "idn-hostname"):
        label, _, rest = text.partition(".")
        return f"{(label + filler)[:63]}.{rest}"  # a label has at most 63 characters
    if fmt is None or fmt in _PADDABLE or fmt not in FORMATS:
        text = text + filler
        return text if high is None else text[:high]
    return text  # a fixed-shape format cannot meet the bounds: the final check says so
