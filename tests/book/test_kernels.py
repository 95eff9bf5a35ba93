"""aecore.book.kernels: every kernel the project starts talks over Unix sockets in a private folder, not over
TCP ports that another process can take between jupyter_client choosing them and the kernel binding them
(a CI run failed so: ``ZMQError: Address already in use``, then a 120 s wait)."""

from __future__ import annotations

import ast
import stat
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from aecore.book.kernels import BlockingIpcKernelManager, IpcKernelManager
from aecore.config import REPO_ROOT

PROBE = ("import os\nfrom ipykernel.connect import get_connection_info\ninfo = get_connection_info(unpack=True)\n"
         "print(info['transport'], info['ip'], sorted(os.listdir(os.path.dirname(info['ip']))))")


def test_a_notebook_kernel_connects_over_unix_sockets_in_a_private_folder_removed_afterwards():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(PROBE)])
    client = NotebookClient(nb, kernel_name="python3", timeout=60, kernel_manager_class=IpcKernelManager)
    with client.setup_kernel():
        folder = Path(client.km.connection_file).parent
        assert stat.S_IMODE(folder.stat().st_mode) & 0o777 == 0o700 and folder.name.startswith("aecore-kernel-")
        client.execute_cell(nb.cells[0], 0)
    transport, prefix, files = nb.cells[0].outputs[0]["text"].split(" ", 2)
    assert transport == "ipc" and Path(prefix).parent == folder
    # the connection file and the five sockets (shell, iopub, stdin, control, heartbeat)
    assert ast.literal_eval(files) == sorted(["kernel.json"] + [f"socket-{n}" for n in range(1, 6)])
    assert len(str(prefix)) + 2 < 100  # a Unix socket's path holds at most about 100 characters
    assert not folder.exists()


def test_two_kernels_at_once_get_folders_of_their_own():
    first, second = BlockingIpcKernelManager(kernel_name="python3"), BlockingIpcKernelManager(kernel_name="python3")
    first.start_kernel()
    second.start_kernel()
    try:
        assert Path(first.connection_file).parent != Path(second.connection_file).parent
        for manager in (first, second):
            client = manager.client()
            client.start_channels()
            client.wait_for_ready(timeout=60)
            reply = client.execute_interactive("x = 6 * 7", timeout=60)
            assert reply["content"]["status"] == "ok"
            client.stop_channels()
    finally:
        first.shutdown_kernel(now=True)
        second.shutdown_kernel(now=True)


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and (getattr(node.func, "id", None) == name or getattr(node.func, "attr", None) == name)]


def test_every_kernel_the_project_starts_uses_the_unix_socket_managers():
    """A NotebookClient without ``kernel_manager_class`` or a bare jupyter_client KernelManager would bring
    the TCP race back."""
    offenders = []
    for folder in ("aecore", "benchmarks", "tests", "tools", "book/_ext"):
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            if path == Path(__file__):
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for call in _calls(tree, "NotebookClient"):
                if "kernel_manager_class" not in {k.arg for k in call.keywords}:
                    offenders.append(f"{path.relative_to(REPO_ROOT)}:{call.lineno} NotebookClient")
            for name in ("KernelManager", "AsyncKernelManager", "start_new_kernel"):
                offenders += [f"{path.relative_to(REPO_ROOT)}:{call.lineno} {name}" for call in _calls(tree, name)]
    assert offenders == []
