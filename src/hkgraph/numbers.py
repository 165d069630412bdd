"""Read the numbers a Chinese text states (1 300, 2,000万, 330亿, 二万, 十亿, 四成, 三分之一) as values."""

from __future__ import annotations

import re

DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
SMALL_UNITS = {"十": 10, "百": 100, "千": 1000}
LARGE_UNITS = {"万": 10_000, "亿": 100_000_000}
CHINESE = "零〇一二两三四五六七八九十百千万亿"

ARABIC = re.compile(r"(\d{1,3}(?:[ \u00a0\u2009,]\d{3})+|\d+)(\.\d+)?\s*(百万|万|亿)?")
CHINESE_RUN = re.compile(f"[{CHINESE}]+")
FRACTION = re.compile(f"([{CHINESE}]+)分之([{CHINESE}]+)")
TENTHS = re.compile(f"([{CHINESE}\\d]+)成")


def chinese_to_int(text: str) -> int | None:
    """Value of a Chinese numeral (二万 20000, 十亿 1000000000, 一千二百 1200, 二零二四 2024)."""
    if not text or any(ch not in CHINESE for ch in text):
        return None
    if not any(ch in SMALL_UNITS or ch in LARGE_UNITS for ch in text):
        return int("".join(str(DIGITS[ch]) for ch in text))  # digit by digit, as in years
    total = section = digit = 0
    for ch in text:
        if ch in DIGITS:
            digit = DIGITS[ch]
        elif ch in SMALL_UNITS:
            section += (digit or 1) * SMALL_UNITS[ch]
            digit = 0
        else:
            section += digit
            total = (
                (total + section) * LARGE_UNITS[ch] if LARGE_UNITS[ch] > 10_000 else total + section * 10_000
            )
            section = digit = 0
    return total + section + digit


def numbers_in(text: str) -> list[float]:
    """Every number a text states, multipliers applied; percentages and 成 as percent values."""
    found: list[float] = []
    for m in ARABIC.finditer(text):
        value = float(re.sub(r"[ \u00a0\u2009,]", "", m.group(1)) + (m.group(2) or ""))
        found.append(value * {"万": 1e4, "亿": 1e8, "百万": 1e6, None: 1}[m.group(3)])
        found.append(value)
    for m in CHINESE_RUN.finditer(text):
        run = m.group(0)
        value = chinese_to_int(run)
        if value is not None:
            found.append(float(value))
        # Also read the parts on either side of a trailing unit (e.g. 三分 in 三分之一 or 一比一).
        for part in re.split("[^零〇一二两三四五六七八九十百千万亿]", run):
            v = chinese_to_int(part)
            if v is not None:
                found.append(float(v))
    for m in FRACTION.finditer(text):
        den, num = chinese_to_int(m.group(1)), chinese_to_int(m.group(2))
        if den and num is not None:
            found.append(num / den)
            found.append(100 * num / den)
    for m in TENTHS.finditer(text):
        v = chinese_to_int(m.group(1)) if not m.group(1).isdigit() else int(m.group(1))
        if v is not None:
            found.append(float(v * 10))
    return found


def states_value(text: str, value: float, tolerance: float = 1e-3) -> bool:
    """Whether the text states the value (relative tolerance for fractions such as 三分之一)."""
    return any(abs(n - value) <= tolerance * max(1.0, abs(value)) for n in numbers_in(text))
