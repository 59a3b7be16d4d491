import pytest

from server.idcard import check_char, is_valid_id_card, mask_id_number, parse_id_card

# The example number of GB 11643 itself.
VALID = "11010519491231002X"


def test_valid_number_gives_birth_date_and_sex():
    born, sex = parse_id_card(VALID)
    assert born.isoformat() == "1949-12-31" and sex == "female"
    assert parse_id_card("11010519491231002x")[0] == born  # a lower-case x is the same number
    assert check_char("44052418800101001") == "4"
    assert parse_id_card("440524188001010014")[1] == "male"


@pytest.mark.parametrize("number, reason", [
    ("110105194912310021", "checksum"),      # last character wrong
    ("11010519491231002", "length"),         # 17 characters
    ("1101051949123100211", "length"),       # 19 characters
    ("11010519491331002X", "birth_date"),    # month 13
    ("1101051949123100X2", "length"),        # X not last
    ("110105491231002", "length"),           # old 15-digit card, no longer valid
])
def test_invalid_numbers(number, reason):
    with pytest.raises(ValueError, match=reason):
        parse_id_card(number)
    assert not is_valid_id_card(number)


def test_masking():
    assert mask_id_number(VALID) == "110105********002X"
    assert mask_id_number("E12345678") == "E******78"
    assert mask_id_number("") == "" and mask_id_number("123") == "****"
