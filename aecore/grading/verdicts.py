"""Verdicts in words: what a graded cell's outputs, a sandbox refusal or the clean re-check say about an exercise."""

from __future__ import annotations

from typing import Any

PASSED = "passed"
TAMPERED = "the check was tampered with"


def cell_error(cell: Any) -> tuple[str, str] | None:
    """(ename, evalue) of the cell's error output (the last one), or None if it ran without error."""
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    return (str(errors[-1].get("ename", "")), str(errors[-1].get("evalue", ""))) if errors else None


def passed_line(cell: Any) -> str:
    """The ✓ line a passed check printed (its stdout), or ""."""
    text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("✓")]
    return "; ".join(lines)


def severe(ename: str, evalue: str) -> bool:
    """Whether an error means the code misbehaved (endless, too big, refused by the sandbox, killed), so that the
    whole exercise scores zero even where the function it defined passes its check."""
    return (ename in _TIMEOUTS or ename in _DEATHS or _out_of_memory(ename, evalue)
            or (ename == "PermissionError" and "grading sandbox" in evalue))


_TIMEOUTS = ("CellTimeoutError", "KeyboardInterrupt", "TimeoutError")
_DEATHS = ("DeadKernelError", "KernelDied")


def _out_of_memory(ename: str, evalue: str) -> bool:
    return ename == "MemoryError" or (ename == "RuntimeError" and ("allocate" in evalue or "out of memory" in evalue))


def _plain(ename: str, evalue: str) -> str:
    return f"{ename}: {evalue}" if evalue else ename


def describe_error(ename: str, evalue: str, exercise: str, cell_seconds: int, memory_bytes: int) -> str:
    """One sentence for an error a graded cell raised: the named mistake, a stub, a missing function, a timeout,
    the memory limit, a sandbox refusal, or the error as Python printed it."""
    if ename == "ExerciseMistake":
        return evalue
    if ename == "NotImplementedError":
        return f"not done: {exercise} still raises NotImplementedError (the stub)"
    if ename == "NameError" and exercise and exercise in evalue:
        return f"{exercise} is not defined: the exercise cell is missing or the function was renamed"
    if ename in _TIMEOUTS:
        return f"stopped after the time limit of {cell_seconds} s per cell (an endless loop?)"
    if _out_of_memory(ename, evalue):
        return f"ran out of memory: a submission may use {memory_bytes / 2 ** 30:.0f} GiB of address space"
    if ename == "PermissionError" and "grading sandbox" in evalue:
        return f"blocked: {evalue}"
    if ename in _DEATHS:
        return "the kernel died (killed at a memory or CPU limit)"
    return _plain(ename, evalue)
