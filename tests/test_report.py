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


def test_benchmark_results_round_trip_with_provenance(tmp_path, monkeypatch):
    from aecore import report

    monkeypatch.setattr(report, "REPO_ROOT", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"python benchmarks/demo\.py"):
        report.load_benchmark("demo")
    path = report.save_benchmark("demo", [{"variant": "a", "PSNR (dB)": 21.5}], {"PSNR (dB)": ".2f"}, "Short runs")
    assert path == tmp_path / "benchmarks" / "results" / "demo.json"
    result = report.load_benchmark("demo")
    assert result["rows"] == [{"variant": "a", "PSNR (dB)": 21.5}] and result["formats"] == {"PSNR (dB)": ".2f"}
    assert result["caption"].startswith("Short runs (measured ") and result["provenance"]["threads"] >= 1
    path.write_text('{"rows": []}')
    with pytest.raises(ValueError, match="lacks"):
        report.load_benchmark("demo")
