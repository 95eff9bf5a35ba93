"""Grading the labs with nbgrader (issue 34): ``make grade SUBMISSIONS=<folder>``.

- :mod:`~aecore.grading.markup`: the graded parts of a notebook, read from its nbgrader markup;
- :mod:`~aecore.grading.submissions`: finding the submissions in a TA's download folder;
- :mod:`~aecore.grading.course`: the throwaway nbgrader course and its assignments;
- :mod:`~aecore.grading.sandbox` and :mod:`~aecore.grading.sandbox_main`: the limits, folders and audit hook
  that a submission's code runs under;
- :mod:`~aecore.grading.worker`: grading one submission (autograde, the clean re-check, feedback);
- :mod:`~aecore.grading.verdicts`: verdicts in words;
- :mod:`~aecore.grading.report`: grades.csv, feedback files and the answers pages;
- :mod:`~aecore.grading.cycle`: the whole cycle (:func:`~aecore.grading.cycle.grade`).

Command line: ``python -m aecore.grading grade SUBMISSIONS [--out DIR]`` (``make grade``).
"""
