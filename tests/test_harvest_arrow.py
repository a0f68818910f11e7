"""``harvest_schema.arrow_table``: the same table as ``pyarrow.Table.from_pylist``, without pandas."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

from refocus_bench.datasets.exif import PHOTO_FIELDS
from refocus_bench.datasets.harvest_schema import FILE_FIELDS, PART_FIELDS, arrow_schema, arrow_table

SCHEMA = pa.schema([("s", pa.string()), ("f", pa.float64()), ("i", pa.int64()), ("j", pa.int32()), ("b", pa.bool_())])
ROWS = [
    {"s": "héllo ✓", "f": math.inf, "i": 2**40, "j": -7, "b": True},
    {"s": None, "f": None, "i": None, "j": None, "b": None},
    {"s": "", "f": 3, "i": -1, "j": 2**31 - 1, "b": False},
    {"f": -0.0, "b": True},  # missing keys are nulls
    *({"s": f"row {k}", "f": k / 3, "i": k, "j": k, "b": k % 2 == 0} for k in range(13)),
]


def test_equal_to_from_pylist_and_valid():
    got = arrow_table(ROWS, SCHEMA)
    got.validate(full=True)
    assert got.equals(pa.Table.from_pylist(ROWS, schema=SCHEMA))
    assert got.column("f").to_pylist()[:4] == [math.inf, None, 3.0, -0.0]
    assert got.column("s").null_count == 2 and got.column("b").null_count == 1


def test_empty_and_all_null():
    assert arrow_table([], SCHEMA).equals(pa.Table.from_pylist([], schema=SCHEMA))
    rows = [{}, {}, {}]
    assert arrow_table(rows, SCHEMA).equals(pa.Table.from_pylist(rows, schema=SCHEMA))


@pytest.mark.parametrize(
    "row",
    [
        {"i": 1.5},  # a float into an integer column
        {"j": 2**40},  # out of int32 range
        {"s": 5},  # not a string
        {"s": "\udcff"},  # a surrogate escape: not encodable
        {"b": 1},  # not a bool
    ],
)
def test_odd_values_get_pyarrows_own_answer(row):
    """Values outside the plain types go through pyarrow's conversion: its table or its error."""
    try:
        want = pa.Table.from_pylist([row], schema=SCHEMA)
    except (pa.ArrowException, TypeError, ValueError, UnicodeEncodeError) as err:
        with pytest.raises(type(err)):
            arrow_table([row], SCHEMA)
    else:
        assert arrow_table([row], SCHEMA).equals(want)


def test_harvest_schemas_keep_their_metadata():
    for fields in (PART_FIELDS, FILE_FIELDS + PHOTO_FIELDS):
        schema = arrow_schema(fields)
        row = {name: None for name, _, _ in fields}
        table = arrow_table([row], schema)
        assert table.schema.equals(schema, check_metadata=True) and table.num_rows == 1
