"""Identity documents: the 18-digit mainland ID card check (GB 11643) and masking.

Other documents (passports, Hong Kong/Macau/Taiwan permits) are kept as typed, unchecked.
"""

from __future__ import annotations

from datetime import date

ID_TYPES = ("id_card", "hk_macau_permit", "taiwan_permit", "passport", "foreign_permanent", "other")
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"


def check_char(first17: str) -> str:
    """The 18th character for the first 17 digits."""
    return CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


def parse_id_card(number: str) -> tuple[date, str]:
    """(birth date, 'male'|'female') of a valid 18-digit ID number; ValueError otherwise."""
    number = number.strip().upper()
    if len(number) != 18 or not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise ValueError("length")
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise ValueError("birth_date") from None
    if check_char(number[:17]) != number[17]:
        raise ValueError("checksum")
    return born, "male" if int(number[16]) % 2 else "female"


def is_valid_id_card(number: str) -> bool:
    try:
        parse_id_card(number)
    except ValueError:
        return False
    return True


def mask_id_number(number: str) -> str:
    """110101********1234 for an ID card; the ends only of shorter documents."""
    if not number:
        return ""
    if len(number) >= 15:
        return number[:6] + "*" * (len(number) - 10) + number[-4:]
    if len(number) > 4:
        return number[:1] + "*" * (len(number) - 3) + number[-2:]
    return "****"
