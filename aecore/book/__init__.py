"""The book's layer: what turns the lab notebooks into the published book and the student edition.

Nothing here trains or loads a model; the chapters import from it to report their results.
"""
