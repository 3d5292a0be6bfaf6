"""`reconcile_payments --settlement`: a row the file garbled is a finding on its row, never a
traceback, and is compared with nothing."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db

HEADER = b"reference,kind,amount,currency\n"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"cap_\x00x,capture,100,JPY\n", "reference contains a NUL character."),
        (b"cap_1,capture\x00,100,JPY\n", "kind contains a NUL character."),
        (
            b'cap_1,capture,100,"' + b"J" * 1_000_000 + b'"\n',
            "A cell is longer than 131072 characters, the most a file may hold.",
        ),
        (
            "決済,capture,100,JPY\n".encode("cp932"),
            "reference is not valid utf-8-sig text; is the file in another encoding?",
        ),
        (b"cap_1,capture,100\n", "The row has 3 cells; the header has 4 columns."),
        (b"cap_1,capture,100,JPY,x\n", "The row has 5 cells; the header has 4 columns."),
        (b"cap_1,capture,sNaN,JPY\n", "amount is not a number"),
        (b"cap_1,capture," + b"9" * 5000 + b"e99999999999,JPY\n", None),
    ],
    ids=["nul-reference", "nul-kind", "1mb-cell", "bad-encoding", "short", "long", "snan", "huge"],
)
def test_reconcile_payments_reports_a_garbled_settlement_row(tmp_path, body, detail):
    path = tmp_path / "settlement.csv"
    path.write_bytes(HEADER + body)
    out = io.StringIO()

    with pytest.raises(CommandError, match=r"^1 payment difference\(s\) found\.$"):
        call_command("reconcile_payments", "--settlement", str(path), stdout=out)

    if detail is None:  # a number, just not one of ours
        assert out.getvalue() == "settlement_missing\tcap_1\trow 2: not in our books\n"
    else:
        assert out.getvalue() == f"settlement_row\trow 2\t{detail}\n"


def test_reconcile_payments_refuses_a_header_naming_a_column_twice(tmp_path):
    path = tmp_path / "settlement.csv"
    path.write_bytes(b"reference,kind,amount,currency,amount\ncap_1,capture,1,JPY,2\n")

    with pytest.raises(CommandError, match="Column amount appears twice"):
        call_command("reconcile_payments", "--settlement", str(path), stdout=io.StringIO())
