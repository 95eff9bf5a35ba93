import pytest

from aecore.report import Table


def test_table_formats_columns_and_escapes_html():
    table = Table([{"model": "a<b", "PSNR (dB)": 20.1234}, {"model": "c", "PSNR (dB)": 3.0}],
                  formats={"PSNR (dB)": ".2f"}, caption="results")
    html = table._repr_html_()
    assert "<th>PSNR (dB)</th>" in html and "<td>20.12</td>" in html and "a&lt;b" in html
    assert "<caption>results</caption>" in html
    assert repr(table).splitlines()[1].split() == ["a<b", "20.12"]


def test_empty_table_is_an_error():
    with pytest.raises(ValueError):
        Table([])
