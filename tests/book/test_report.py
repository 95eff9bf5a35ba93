import json

import numpy as np
import pytest
import torch

from aecore.book import report
from aecore.book.report import Results, Table


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


@pytest.fixture
def glued(monkeypatch):
    """Record myst_nb.glue calls as (name, value, display) instead of displaying them."""
    import myst_nb

    calls = []
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: calls.append((name, value, display)))
    return calls


def l2_results() -> Results:
    results = Results("l2", {"setting": "L2", "bce": "test BCE (nats/img)", "w": "Σ‖w‖²"},
                      formats={"bce": ".1f", "w": ",.0f"})
    results.add("base", setting="none", bce=torch.tensor(131.26), w=np.float32(20512.4))
    results.add("wd2", setting="weight decay 1e-2", bce=140.04)  # no Σ‖w‖² for this row
    return results


def test_results_rows_and_columns_by_short_id():
    results = l2_results()
    assert list(results) == ["base", "wd2"] and len(results) == 2
    assert results["wd2"] == {"setting": "weight decay 1e-2", "bce": 140.04}
    base_bce = results["base"]["bce"]
    assert type(base_bce) is float and base_bce == pytest.approx(131.26, abs=1e-4)  # a plain number, not a tensor
    assert results.column("setting") == ["none", "weight decay 1e-2"] and results.column("w")[1] is None
    assert results.name("wd2", "bce") == "l2_wd2_bce"
    with pytest.raises(KeyError, match="wd3"):
        results["wd3"]


def test_results_table_shows_display_labels_and_formats():
    table = l2_results().table(caption="Test set")
    assert table.columns == ["L2", "test BCE (nats/img)", "Σ‖w‖²"] and table.caption == "Test set"
    lines = repr(table).splitlines()
    assert lines[1].split() == ["none", "131.3", "20,512"]
    assert lines[2].split() == ["weight", "decay", "1e-2", "140.0"]  # the missing Σ‖w‖² cell is empty
    assert "<td>140.0</td><td></td>" in table._repr_html_()


def test_results_glue_every_cell_under_prefix_row_column(glued):
    results = l2_results()
    names = results.glue()
    assert names == ["l2_base_setting", "l2_base_bce", "l2_base_w", "l2_wd2_setting", "l2_wd2_bce"]
    assert [name for name, _, _ in glued] == names and not any(display for _, _, display in glued)
    assert dict((name, value) for name, value, _ in glued)["l2_wd2_bce"] == 140.04
    glued.clear()
    assert results.glue("bce") == ["l2_base_bce", "l2_wd2_bce"] == [name for name, _, _ in glued]
    with pytest.raises(ValueError, match="unknown columns"):
        results.glue("psnr")


def test_results_refuse_ids_that_make_ambiguous_or_unknown_names():
    with pytest.raises(ValueError, match="prefix"):
        Results("2l", {"bce": "BCE"})
    with pytest.raises(ValueError, match="identifier"):
        Results("l2", {"test bce": "BCE"})
    with pytest.raises(ValueError, match="formats for unknown columns"):
        Results("l2", {"bce": "BCE"}, formats={"psnr": ".2f"})
    results = Results("l2", {"bce": "BCE"})
    with pytest.raises(ValueError, match="letters and digits"):
        results.add("wd_2", bce=1.0)  # l2_wd_2_bce could also be row "wd", column "2_bce"
    results.add("wd2", bce=1.0)
    with pytest.raises(ValueError, match="already"):
        results.add("wd2", bce=2.0)
    with pytest.raises(ValueError, match=r"unknown columns \['psnr'\]"):
        results.add("wd3", psnr=20.0)
    assert list(results) == ["wd2"]


def test_glue_values_glues_each_keyword_without_display(glued):
    from aecore.book.report import glue_values

    glue_values(a=1, b="x")
    assert glued == [("a", 1, False), ("b", "x", False)]


def test_lead_phrase_names_the_higher_score_and_its_margin():
    assert report.lead_phrase({"AE": 22.93, "VAE": 22.61}) == "the AE is 0.32 dB ahead"
    assert report.lead_phrase({"AE": 22.61, "VAE": 22.93}) == "the VAE is 0.32 dB ahead"
    assert report.lead_phrase({"AE": 0.812, "VAE": 0.78}, unit="SSIM", level_below=0.005,
                              digits=3) == "the AE is 0.032 SSIM ahead"


def test_lead_phrase_calls_a_gap_below_the_threshold_level_instead_of_naming_a_winner():
    assert report.lead_phrase({"AE": 22.661, "VAE": 22.665}) == "the two are level (0.004 dB apart)"
    assert report.lead_phrase({"AE": 1.0, "VAE": 1.06}, level_below=0.1) == "the two are level (0.060 dB apart)"


def test_lead_phrase_refuses_anything_but_two_scores():
    with pytest.raises(ValueError, match="two scores, got 3"):
        report.lead_phrase({"a": 1.0, "b": 2.0, "c": 3.0})


def test_change_phrase_gives_the_rounded_relative_change_and_its_direction():
    assert report.change_phrase(904, 981) == "grew by 9 %"
    assert report.change_phrase(1000, 970) == "fell by 3 %"
    assert report.change_phrase(5.0, 5.0) == "stayed the same (within 0.5 %)"
    assert report.change_phrase(1000, 1004) == "stayed the same (within 0.5 %)"
    with pytest.raises(ValueError, match="positive starting value, got 0"):
        report.change_phrase(0, 3)


def test_points_phrase_gives_the_change_in_whole_percentage_points_and_its_direction():
    assert report.points_phrase(88.7, 81.0) == "fell by 8 points"
    assert report.points_phrase(79.75, 81.5) == "rose by 2 points"
    assert report.points_phrase(50.0, 51.2) == "rose by 1 point"
    assert report.points_phrase(89.5, 89.2) == "stayed the same (within half a point)"


def test_load_benchmark_adds_the_provenance_to_the_caption(tmp_path, monkeypatch):
    import json

    from aecore.book import report

    monkeypatch.setattr(report, "BENCHMARK_RESULTS", tmp_path / "benchmark_results")
    with pytest.raises(FileNotFoundError, match=r"python -m benchmarks\.demo"):
        report.load_benchmark("demo")
    path = report.benchmark_path("demo")
    assert path == tmp_path / "benchmark_results" / "demo.json"
    provenance = {"date": "2026-01-02", "machine": "x86_64, 2 CPUs", "device": "cpu", "threads": 2, "torch": "2.5.1",
                  "commit": "abc1234"}
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"caption": "Short runs", "formats": {"PSNR (dB)": ".2f"},
                                "rows": [{"variant": "a", "PSNR (dB)": 21.5}], "provenance": provenance}))
    result = report.load_benchmark("demo")
    assert result["rows"] == [{"variant": "a", "PSNR (dB)": 21.5}] and result["formats"] == {"PSNR (dB)": ".2f"}
    assert result["caption"] == ("Short runs (measured 2026-01-02 on x86_64, 2 CPUs, cpu, 2 threads, torch 2.5.1, "
                                 "commit abc1234)")
    path.write_text('{"rows": []}')
    with pytest.raises(ValueError, match="lacks"):
        report.load_benchmark("demo")


def test_benchmark_table_keeps_the_chosen_rows_with_formats_and_provenance(tmp_path, monkeypatch):
    path = tmp_path / "study.json"
    path.write_text(json.dumps({
        "rows": [{"quantity": "Lab 1: a", "v": 1.234}, {"quantity": "Lab 2: b", "v": 2.0}], "formats": {"v": ".1f"},
        "caption": "Study", "provenance": {"date": "2026-01-01", "machine": "m", "threads": 1, "torch": "2",
                                            "commit": "abc"}}))
    monkeypatch.setattr(report, "benchmark_path", lambda name: path)
    table = report.benchmark_table("study", where=lambda row: row["quantity"].startswith("Lab 1:"))
    assert [row["quantity"] for row in table.rows] == ["Lab 1: a"] and table.cell("v", 1.234) == "1.2"
    assert table.caption.startswith("Study (measured 2026-01-01") and "commit abc" in table.caption
    assert len(report.benchmark_table("study").rows) == 2


def test_benchmark_results_take_each_rows_id_and_the_named_columns(tmp_path, monkeypatch):
    path = tmp_path / "study.json"
    study = {"rows": [{"id": "base", "test PSNR (dB)": 24.1, "cost": 3.0}, {"id": "wide", "test PSNR (dB)": 26.0,
                                                                          "cost": 5.0}],
             "formats": {}, "caption": "Study", "provenance": {"date": "2026-01-01", "machine": "m", "threads": 1,
                                                               "torch": "2", "commit": "abc"}}
    path.write_text(json.dumps(study))
    monkeypatch.setattr(report, "benchmark_path", lambda name: path)
    results = report.benchmark_results("study", "design", {"psnr": "test PSNR (dB)"})
    assert results["base"] == {"psnr": 24.1} and results["wide"] == {"psnr": 26.0}
    assert results.name("wide", "psnr") == "design_wide_psnr"
    del study["rows"][1]["id"]
    path.write_text(json.dumps(study))
    with pytest.raises(ValueError, match="no 'id'"):
        report.benchmark_results("study", "design", {"psnr": "test PSNR (dB)"})


def test_results_glue_only_the_rows_asked_for(glued):
    results = l2_results()
    assert results.glue("bce", rows=("wd2",)) == ["l2_wd2_bce"] == [name for name, _, _ in glued]
    assert results.glue(rows=("base",)) == ["l2_base_setting", "l2_base_bce", "l2_base_w"]
    with pytest.raises(KeyError, match="wd3"):
        results.glue("bce", rows=("wd3",))


def test_start_chapter_records_the_notebook_and_prints_the_setup(monkeypatch, capsys):
    from aecore import config

    monkeypatch.setenv("AECORE_SEED", "2")
    monkeypatch.setenv("AECORE_DEVICE", "cpu")
    monkeypatch.setattr(config, "_notebook", None)
    report.start_chapter("03_mnist_vae", settings={"epochs": 1})
    line = capsys.readouterr().out.strip()
    assert config.current_notebook() == "03_mnist_vae"
    assert "| device: cpu |" in line and "| seed: 2 |" in line and line.endswith("| settings: {'epochs': 1}")
    assert f"profile: {config.profile()}" in line and "threads: " in line
    report.start_chapter("00_data_tour")
    assert capsys.readouterr().out.strip().endswith("seed: 2") and config.current_notebook() == "00_data_tour"
    with pytest.raises(ValueError, match="file name"):
        report.start_chapter("notebooks/00_data_tour")


def test_show_training_times_displays_each_run_and_the_total(glued, monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", shown.append)
    total = report.show_training_times({"AE 10-D": 30.0, "VAE 10-D": 90.4})
    assert total == pytest.approx(120.4)
    assert glued == [("training_minutes", pytest.approx(120.4 / 60), False)]
    (table,) = shown
    assert [line.split()[-1] for line in repr(table).splitlines()] == ["seconds", "30", "90", "120"]
    assert repr(table).splitlines()[-1].startswith("total")
