"""Studies and targets run by hand, each a module run from the repository root:
``python -m benchmarks.claims``, ``python -m benchmarks.quality_targets``,
``python -m benchmarks.lab2_architecture``, ``python -m benchmarks.dogs_scale``,
``python -m benchmarks.mnist_throughput``.

:mod:`benchmarks._results` writes every result: those a chapter shows to
``aecore/benchmark_results/<name>.json`` (read by :func:`aecore.book.report.load_benchmark`), those no
chapter shows (the claims study) to ``benchmarks/results/<name>.json``, outside the package and the
book's rebuild fingerprint. The labs come from :data:`aecore.labs.LABS`.
"""
