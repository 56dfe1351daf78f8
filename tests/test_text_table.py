"""The plain-text table writer: unchanged when it fits, wrapped headers and text, then column blocks; nothing lost."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from marginlab.text_table import text_table


def test_a_table_that_fits_is_pandas_own() -> None:
    table = pd.DataFrame({"model": ["a", "b"], "margin_usd": [1500.0, np.nan]})
    assert text_table(table, float_format=lambda v: f"{v:,.2f}") == table.to_string(
        index=False, float_format=lambda v: f"{v:,.2f}", na_rep="-")


def test_long_text_wraps_and_headers_break_at_underscores() -> None:
    table = pd.DataFrame({"component": ["scan risk BTC", "total"], "initial_margin_usd": [225639.6, 225639.6],
                          "maintenance_margin_usd": [1.0, 2.0], "explanation": ["worst loss in the scenario " * 8, "-"]})
    text = text_table(table, width=80)
    lines = text.splitlines()
    assert max(map(len, lines)) <= 80
    assert lines[0].split() == ["initial_", "maintenance_"] and lines[1].split() == ["component", "margin_usd", "margin_usd",
                                                                                        "explanation"]
    assert "225,639.60" in lines[2] and lines[2].startswith("scan risk BTC")
    assert " ".join(text.split()).count("worst loss in the scenario") == 8  # every word kept


def test_too_many_columns_go_to_blocks_led_by_the_key() -> None:
    table = pd.DataFrame({"symbol": ["BTC", "ETH"], **{f"column{i:02d}": [1000.0 * i, 2.0] for i in range(20)}})
    text = text_table(table, width=60)
    assert max(map(len, text.splitlines())) <= 60
    blocks = text.split("\n\n")
    assert len(blocks) > 2 and all(block.splitlines()[-1].startswith("ETH") for block in blocks)
    assert sorted(set(re.findall(r"column\d\d", text))) == [f"column{i:02d}" for i in range(20)]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet="abc de_f", min_size=1, max_size=60), min_size=1, max_size=5),
       st.integers(min_value=40, max_value=120))
def test_never_wider_than_asked_and_no_word_lost(texts: list[str], width: int) -> None:
    table = pd.DataFrame({"key": list(range(len(texts))), "a_long_text_column": texts, "value_usd": np.arange(len(texts)) * 1e6})
    text = text_table(table, width=width)
    assert max(map(len, text.splitlines())) <= width
    words = [word for cell in texts for word in cell.split()]
    assert len(" ".join(text.split())) >= len(" ".join(words))
