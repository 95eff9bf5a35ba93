"""Helpers to put computed numbers into the book: start a chapter, glue several values, show a table,
keep results with short ids (:class:`Results`), show training times, and read the results that
``benchmarks/*.py`` wrote. :func:`claim` (from :mod:`aecore.book.claims`) guards a sentence of the prose."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import config
from .claims import ClaimNotReproduced, claim  # noqa: F401  (claims are part of what a chapter reports)


def start_chapter(name: str, settings: Any = None) -> None:
    """Begin the notebook ``name`` (its file stem, e.g. ``"03_mnist_vae"``): record it with
    :func:`aecore.config.set_notebook` and print the run's setup in one line: aecore version,
    profile, device, torch threads and training seed, then ``settings`` (the lab's settings object)
    if given."""
    import torch

    from .. import __version__

    config.set_notebook(name)
    line = (f"aecore {__version__} | profile: {config.profile()} | device: {config.pick_device()} | "
            f"threads: {torch.get_num_threads()} | seed: {config.seed()}")
    print(line if settings is None else f"{line} | settings: {settings}")


def glue_values(**values: Any) -> None:
    """``myst_nb.glue(name, value, display=False)`` for each keyword: the prose cites them by name."""
    from myst_nb import glue

    for name, value in values.items():
        glue(name, value, display=False)


def lead_phrase(scores: Mapping[str, float], unit: str = "dB", level_below: float = 0.05,
                digits: int = 2) -> str:
    """Which of two scores (higher is better) is ahead, as a phrase for the prose: e.g.
    ``lead_phrase({"AE": 22.93, "VAE": 22.61})`` -> ``"the AE is 0.32 dB ahead"``. A gap below
    ``level_below`` (in ``unit``) reads ``"the two are level (0.004 dB apart)"``, so a run in which
    the order is a coin toss does not name a winner."""
    if len(scores) != 2:
        raise ValueError(f"lead_phrase compares two scores, got {len(scores)}: {sorted(scores)}")
    (name_a, a), (name_b, b) = scores.items()
    gap = abs(a - b)
    if gap < level_below:
        return f"the two are level ({gap:.{digits + 1}f} {unit} apart)"
    return f"the {name_a if a > b else name_b} is {gap:.{digits}f} {unit} ahead"


def change_phrase(before: float, after: float) -> str:
    """The relative change from ``before`` to ``after`` (both > 0) as a phrase: ``"grew by 8 %"`` or
    ``"fell by 3 %"``, rounded to a whole per cent; a change that rounds to 0 % reads
    ``"stayed the same (within 0.5 %)"`` rather than "grew by 0 %"."""
    if before <= 0:
        raise ValueError(f"change_phrase needs a positive starting value, got {before}")
    change = 100 * (after / before - 1)
    if round(abs(change)) == 0:
        return "stayed the same (within 0.5 %)"
    return f"grew by {change:.0f} %" if change > 0 else f"fell by {-change:.0f} %"


def points_phrase(before: float, after: float) -> str:
    """The change from ``before`` to ``after`` of a quantity that is itself a percentage, in percentage
    points rounded to a whole point: ``points_phrase(88.7, 81.0)`` -> ``"fell by 8 points"``,
    ``points_phrase(79.8, 81.5)`` -> ``"rose by 2 points"``; a change that rounds to 0 reads
    ``"stayed the same (within half a point)"``. For a change whose direction the seed decides."""
    change = after - before
    points = round(abs(change))
    if points == 0:
        return "stayed the same (within half a point)"
    return f"{'rose' if change > 0 else 'fell'} by {points} point{'s' if points != 1 else ''}"


class Table:
    """A small results table shown as HTML in notebooks and in the book.

    ``rows``: a sequence of dicts (one per row, same keys); ``formats``: optional
    format spec per column, e.g. ``{"PSNR (dB)": ".2f"}``.
    """

    def __init__(self, rows: Sequence[Mapping[str, Any]], formats: Mapping[str, str] | None = None,
                 caption: str | None = None):
        if not rows:
            raise ValueError("a table needs at least one row")
        self.columns = list(rows[0])
        self.rows, self.formats, self.caption = rows, dict(formats or {}), caption

    def cell(self, column: str, value: Any) -> str:
        """Formatted text of one cell."""
        spec = self.formats.get(column)
        return format(value, spec) if spec and isinstance(value, (int, float)) else str(value)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(self.cell(c, row.get(c, '')))}</td>" for c in self.columns) + "</tr>"
            for row in self.rows
        )
        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return f'<table class="table">{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'

    def __repr__(self) -> str:
        widths = [max(len(c), *(len(self.cell(c, r.get(c, ""))) for r in self.rows)) for c in self.columns]
        def line(cells: list[str]) -> str:
            return "  ".join(s.ljust(w) for s, w in zip(cells, widths))

        return "\n".join([line(self.columns)] + [line([self.cell(c, r.get(c, "")) for c in self.columns])
                                                for r in self.rows])


_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_ROW_ID = re.compile(r"[A-Za-z0-9]+")


class Results:
    """A results table whose rows and columns have short ids, glued under ``<prefix>_<row>_<column>``.

    ``prefix``: start of every glue name (letters, digits, ``_``); ``columns``: column id ->
    display label, in table order (ids are Python identifiers); ``formats``: column id ->
    format spec for the table, e.g. ``{"psnr": ".2f"}``. Row ids are letters and digits only,
    so every glue name splits back into prefix, row and column. Example::

        l2 = Results("l2", {"setting": "L2", "bce": "test BCE (nats/img)"}, formats={"bce": ".1f"})
        l2.add("wd2", setting="weight decay 1e-2", bce=140.2)
        display(l2.table(caption="Test set"))
        l2.glue()                    # glues l2_wd2_setting and l2_wd2_bce
        l2["wd2"]["bce"]             # 140.2; the prose cites {glue:text}`l2_wd2_bce:.1f`
    """

    def __init__(self, prefix: str, columns: Mapping[str, str], formats: Mapping[str, str] | None = None):
        if not _PREFIX.fullmatch(prefix):
            raise ValueError(f"prefix must be letters, digits and '_' starting with a letter, got {prefix!r}")
        bad = [c for c in columns if not c.isidentifier()]
        if not columns or bad:
            raise ValueError(f"columns must map at least one identifier to a label; not identifiers: {bad}")
        unknown = set(formats or {}) - set(columns)
        if unknown:
            raise ValueError(f"formats for unknown columns {sorted(unknown)}; columns are {list(columns)}")
        self.prefix, self.columns, self.formats = prefix, dict(columns), dict(formats or {})
        self._rows: dict[str, dict[str, Any]] = {}

    def add(self, row: str, **values: Any) -> None:
        """Add row ``row`` (letters and digits) with one keyword per column id; columns left out stay empty.

        0-d tensors and NumPy scalars are stored as Python numbers, so they format and glue cleanly.
        """
        if not _ROW_ID.fullmatch(row):
            raise ValueError(f"row ids must be letters and digits only (they become part of glue names), got {row!r}")
        if row in self._rows:
            raise ValueError(f"row {row!r} was already added to results {self.prefix!r}")
        unknown = set(values) - set(self.columns)
        if unknown:
            raise ValueError(f"unknown columns {sorted(unknown)} for results {self.prefix!r}; columns are "
                             f"{list(self.columns)}")
        self._rows[row] = {column: _plain(value) for column, value in values.items()}

    def __getitem__(self, row: str) -> dict[str, Any]:
        """The values of one row: ``{column id: value}`` (a copy)."""
        if row not in self._rows:
            raise KeyError(f"no row {row!r} in results {self.prefix!r}; rows are {list(self._rows)}")
        return dict(self._rows[row])

    def __iter__(self) -> Iterator[str]:
        """The row ids, in the order they were added."""
        return iter(list(self._rows))

    def __len__(self) -> int:
        return len(self._rows)

    def column(self, column: str) -> list[Any]:
        """One column's values, in row order (``None`` where a row left it empty)."""
        self._check_columns([column])
        return [values.get(column) for values in self._rows.values()]

    def name(self, row: str, column: str) -> str:
        """The glue name of one cell: ``<prefix>_<row>_<column>``."""
        return f"{self.prefix}_{row}_{column}"

    def table(self, caption: str | None = None) -> Table:
        """The rows as a :class:`Table`, headed by the display labels and formatted by ``formats``."""
        rows = [{label: values.get(c, "") for c, label in self.columns.items()} for values in self._rows.values()]
        formats = {self.columns[c]: spec for c, spec in self.formats.items()}
        return Table(rows, formats=formats, caption=caption)

    def glue(self, *columns: str, rows: Sequence[str] | None = None) -> list[str]:
        """Glue every filled cell of ``columns`` (default: all) in ``rows`` (default: all) with
        :func:`glue_values`; return the names glued. Glue only what the prose cites."""
        self._check_columns(columns)
        unknown = [row for row in rows or () if row not in self._rows]
        if unknown:
            raise KeyError(f"no rows {unknown} in results {self.prefix!r}; rows are {list(self._rows)}")
        chosen = columns or tuple(self.columns)
        values = {self.name(row, c): cells[c] for row, cells in self._rows.items()
                  if rows is None or row in rows for c in chosen if c in cells}
        glue_values(**values)
        return list(values)

    def _check_columns(self, columns: Sequence[str]) -> None:
        unknown = [c for c in columns if c not in self.columns]
        if unknown:
            raise ValueError(f"unknown columns {unknown} for results {self.prefix!r}; columns are {list(self.columns)}")


def show_training_times(seconds: Mapping[str, float]) -> float:
    """Display how long each model took to train (``seconds``: run label -> seconds, as in
    ``History.seconds``) with a total row, glue the total as ``training_minutes`` and return the
    total in seconds. The times are those of each model's first training (later runs load it)."""
    from IPython.display import display

    total = sum(seconds.values())
    display(Table([{"training run": run, "seconds": s} for run, s in seconds.items()]
                  + [{"training run": "total", "seconds": total}], formats={"seconds": ".0f"},
                  caption="Training time when each model was first trained (later runs load it from the cache)"))
    glue_values(training_minutes=total / 60)
    return total


def _plain(value: Any) -> Any:
    """A 0-d tensor or NumPy scalar as the Python number it holds; anything else unchanged."""
    return value.item() if getattr(value, "ndim", None) == 0 and hasattr(value, "item") else value


# Benchmark results ship inside the package, so an installed copy (Colab) shows the same tables.
BENCHMARK_RESULTS = Path(__file__).resolve().parent.parent / "benchmark_results"


def benchmark_path(name: str) -> Path:
    """Where ``benchmarks/<name>.py`` writes its results (with ``save_benchmark`` from
    ``benchmarks/_results.py``): ``aecore/benchmark_results/<name>.json``, package data that
    installs with aecore."""
    return BENCHMARK_RESULTS / f"{name}.json"


def load_benchmark(name: str) -> dict[str, Any]:
    """Results written by ``benchmarks/<name>.py``: a dict with ``rows`` (list of dicts), ``formats``
    (column -> format spec), ``caption`` (ending with when, where and how the numbers were measured)
    and ``provenance``. Raises FileNotFoundError naming the script to run if there are none yet."""
    path = benchmark_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"no benchmark results at {path}; run `python -m benchmarks.{name}` to create them")
    result = json.loads(path.read_text())
    missing = {"rows", "formats", "caption", "provenance"} - set(result)
    if missing:
        raise ValueError(f"{path} lacks {sorted(missing)}; re-run `python -m benchmarks.{name}`")
    p = result["provenance"]
    device = f"{p['device']}, " if "device" in p else ""
    result["caption"] = (f"{result['caption']} (measured {p['date']} on {p['machine']}, "
                         f"{device}{p['threads']} threads, torch {p['torch']}, commit {p['commit']})")
    return result


def benchmark_results(name: str, prefix: str, columns: Mapping[str, str]) -> Results:
    """The rows of ``benchmarks/<name>.py``'s results (:func:`load_benchmark`) as :class:`Results`
    under ``prefix``, one row per benchmark row ``id``; ``columns`` maps each column id to the
    benchmark column it holds, which is also its label (e.g. ``{"psnr": "test PSNR (dB)"}``)."""
    results = Results(prefix, columns)
    for row in load_benchmark(name)["rows"]:
        if "id" not in row:
            raise ValueError(f"a row of benchmark {name!r} has no 'id' (re-run benchmarks/{name}.py): {row}")
        results.add(row["id"], **{column: row[label] for column, label in columns.items()})
    return results


def benchmark_table(name: str, where: Callable[[Mapping[str, Any]], bool] | None = None,
                    drop: Sequence[str] = ()) -> Table:
    """The results of ``benchmarks/<name>.py`` (:func:`load_benchmark`) as a :class:`Table` with their
    formats and provenance caption; ``where(row)`` keeps only some rows, ``drop`` names columns left
    out (e.g. short row ids meant for the text, not the reader)."""
    result = load_benchmark(name)
    rows = [{k: v for k, v in row.items() if k not in drop} for row in result["rows"] if where is None or where(row)]
    return Table(rows, formats=result["formats"], caption=result["caption"])
