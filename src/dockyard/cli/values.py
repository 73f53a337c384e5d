"""Flag values with Go's and go-units' grammar and words: sizes (``RAMInBytes``),
durations (``time.ParseDuration``), CPU counts, restart policies. Shared by ``run``,
``create``, ``update`` and the ``--since``/``--until`` parser; ValueError carries the
reason as the docker CLI words it (the flag parser adds ``invalid argument "x" for
"--flag" flag:``).
"""

from __future__ import annotations

_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40,
               "p": 1 << 50}
_DURATION_UNITS = {"ns": 1, "us": 1000, "µs": 1000, "μs": 1000, "ms": 1000_000,
                   "s": 1000_000_000, "m": 60 * 1000_000_000, "h": 3600 * 1000_000_000}


def ram_in_bytes(text: str) -> int:
    """go-units ``RAMInBytes`` (binary units): ``512``, ``512k``, ``1.5g``, ``64mb``,
    ``2GiB``, ``10 m``; ValueError with its words (``invalid size: 'x'``, ``invalid
    suffix: 'q'``)."""
    sep = max(text.rfind(c) for c in "0123456789. ")
    if sep == -1:
        raise ValueError(f"invalid size: '{text}'")
    num, sfx = (text[:sep + 1], text[sep + 1:]) if text[sep] != " " else \
        (text[:sep], text[sep + 1:])
    try:
        size = float(num)
    except ValueError:
        raise ValueError(f'strconv.ParseFloat: parsing "{num}": invalid syntax') from None
    if size < 0:
        raise ValueError(f"invalid size: '{text}'")
    if not sfx:
        return int(size)
    low = sfx.lower()
    if len(sfx) > 3 or (low[0] == "b" and len(low) > 1) or (
            low[0] != "b" and (low[0] not in _SIZE_UNITS or (len(low) == 2 and low[1] != "b")
                               or (len(low) == 3 and low[1:] != "ib"))):
        raise ValueError(f"invalid suffix: '{low if len(sfx) <= 3 else sfx}'")
    return int(size * _SIZE_UNITS[low[0]])


def memory_swap(text: str) -> int:
    """``--memory-swap``: a size or ``-1`` (unlimited)."""
    return -1 if text.strip() == "-1" else ram_in_bytes(text)


def go_duration(text: str) -> int:
    """Go's ``time.ParseDuration`` in nanoseconds: ``30s``, ``1m30s``, ``1.5h``,
    ``500ms``, ``0``."""
    s = text.strip()
    if s in ("0", "+0", "-0"):
        return 0
    sign = -1 if s.startswith("-") else 1
    s = s.lstrip("+-")
    if not s:
        raise ValueError(f'time: invalid duration "{text}"')
    total = 0.0
    i = 0
    while i < len(s):
        j = i
        while j < len(s) and (s[j].isdigit() or s[j] == "."):
            j += 1
        if j == i:
            raise ValueError(f'time: invalid duration "{text}"')
        k = j
        while k < len(s) and not (s[k].isdigit() or s[k] == "."):
            k += 1
        unit = s[j:k]
        if unit not in _DURATION_UNITS:
            raise ValueError(f'time: missing unit in duration "{text}"' if not unit
                             else f'time: unknown unit "{unit}" in duration "{text}"')
        try:
            total += float(s[i:j]) * _DURATION_UNITS[unit]
        except ValueError:
            raise ValueError(f'time: invalid duration "{text}"') from None
        i = k
    return sign * round(total)


def nano_cpus(text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"failed to parse {text} as a rational number") from None
    if value < 0:
        raise ValueError(f"failed to parse {text} as a rational number")
    return round(value * 1e9)


def restart_policy(text: str) -> dict[str, object]:
    """The docker CLI's ``ParseRestartPolicy``: ``name[:count]``; the name is the
    daemon's to check (``invalid restart policy 'x'``)."""
    name, colon, count = text.partition(":")
    if colon and not name:
        raise ValueError("invalid restart policy format: no policy provided before colon")
    policy: dict[str, object] = {"Name": name}
    if count:
        try:
            policy["MaximumRetryCount"] = int(count)
        except ValueError:
            raise ValueError("invalid restart policy format: maximum retry count must be "
                             "an integer") from None
    return policy
