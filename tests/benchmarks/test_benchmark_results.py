"""benchmarks/_results.py: writing benchmark results that aecore.book.report.load_benchmark reads."""

import json
import subprocess

import torch

from aecore.book import report
from benchmarks import _results


def test_saved_results_load_back_with_their_provenance(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "BENCHMARK_RESULTS", tmp_path / "benchmark_results")
    path = _results.save_benchmark("demo", [{"variant": "a", "PSNR (dB)": 21.5}], {"PSNR (dB)": ".2f"}, "Short runs",
                                   per_seed={"0": [1.0, 2.0]})
    assert path == tmp_path / "benchmark_results" / "demo.json"
    assert [p.name for p in path.parent.iterdir()] == ["demo.json"], "no temporary file left behind"
    result = report.load_benchmark("demo")
    assert result["rows"] == [{"variant": "a", "PSNR (dB)": 21.5}] and result["formats"] == {"PSNR (dB)": ".2f"}
    assert result["per_seed"] == {"0": [1.0, 2.0]}
    provenance = result["provenance"]
    assert provenance["threads"] == torch.get_num_threads() and provenance["torch"] == torch.__version__.split("+")[0]
    assert result["caption"] == (f"Short runs (measured {provenance['date']} on {provenance['machine']}, "
                                 f"{provenance['device']}, {provenance['threads']} threads, "
                                 f"torch {provenance['torch']}, "
                                 f"commit {provenance['commit']})")


def test_commit_names_head_and_local_changes(tmp_path):
    def git(*args):
        return subprocess.run(["git", *args], cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()

    git("init", "-q")
    (tmp_path / "a.txt").write_text("1")
    git("add", "a.txt")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "one")
    head = git("rev-parse", "--short", "HEAD")
    assert _results.git_commit(tmp_path) == head
    (tmp_path / "a.txt").write_text("2")
    assert _results.git_commit(tmp_path) == f"{head} + local changes"


def test_commit_is_unknown_outside_a_repository_or_without_git(tmp_path, monkeypatch):
    assert _results.git_commit(tmp_path) == "unknown"  # tmp_path is no git repository

    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(subprocess, "run", no_git)
    assert _results.git_commit() == "unknown"


def test_throughput_benchmark_counts_the_networks_flop_and_times_its_products():
    from aecore.labs import lab1
    from benchmarks import mnist_throughput

    model = lab1.autoencoder(latent_dim=2)
    assert mnist_throughput.weight_count(model) == 2 * (784 * 512 + 512 * 256 + 256 * 2)
    assert mnist_throughput.matmul_epoch(model, 2 * mnist_throughput.BATCH) > 0
    assert mnist_throughput.matmul_adam_epoch(model, mnist_throughput.BATCH) > 0
    images = torch.rand(3 * mnist_throughput.BATCH, 1, 28, 28)
    before = [p.detach().clone() for p in model.parameters()]
    assert mnist_throughput.in_memory_epoch(model, images, {"fused": True}) > 0
    assert all(not torch.equal(a, p) for a, p in zip(before, model.parameters())), "the epoch trained every weight"


def test_throughput_rounds_take_turns_after_one_warm_up_each():
    from benchmarks import mnist_throughput

    calls = []

    def way(name, seconds):
        def run():
            calls.append(name)
            return seconds
        return run

    seconds = mnist_throughput.interleaved_rounds({"a": way("a", 2.0), "b": way("b", 4.0)}, rounds=3, n_images=8)
    assert calls == ["a", "b"] * 4, "one warm-up call each, then the ways in turn, round after round"
    assert seconds == {"a": [2.0] * 3, "b": [4.0] * 3}
    assert mnist_throughput.rate_range(60, [2.0, 3.0, 1.5]) == "20–40"
    assert mnist_throughput.rate_range(60_000, [3.0]) == "20,000"


def test_hand_written_step_gives_autograds_loss_and_gradients():
    from aecore.labs import lab1
    from benchmarks import mnist_throughput

    torch.manual_seed(0)
    model = lab1.autoencoder(latent_dim=2)
    x = torch.rand(16, 1, 28, 28)
    x[:, :, :4] = 0  # blank rows, as MNIST's borders: ReLUs switch off for some units
    loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), x, reduction="sum") / len(x)
    loss.backward()
    expected = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    layers = mnist_throughput.linear_layers(model)
    assert [relu for _, relu in layers] == [True, True, False, True, True, False]
    by_hand = mnist_throughput.hand_written_step(layers, x.flatten(1))
    torch.testing.assert_close(by_hand, loss.detach())
    for p, grad in zip(model.parameters(), expected):
        torch.testing.assert_close(p.grad, grad, rtol=1e-4, atol=1e-6)
    assert mnist_throughput.hand_written_epoch(model, torch.rand(2 * mnist_throughput.BATCH, 1, 28, 28)) > 0


def test_the_claims_study_counts_seeds_per_claim_and_a_claim_checked_in_a_loop_holds_only_if_all_do():
    from benchmarks import claims

    def run(*verdicts):
        return {"claims": [{"text": t, "holds": h, "measured": {}} for t, h in verdicts], "errors": [], "seconds": 1.0}

    runs = {"03_mnist_vae": {"0": run(("a", True), ("loop", True), ("loop", True)),
                             "1": run(("a", False), ("loop", True), ("loop", False)),
                             "2": run(("a", True), ("loop", True))},
            "01_mnist_autoencoder": {"0": run(("b", True))}}
    assert claims.summary_rows(runs) == [
        {"notebook": "01_mnist_autoencoder", "claim": "b", "held on": "1 of 1", "seeds run": "0",
         "failed on seeds": "none"},
        {"notebook": "03_mnist_vae", "claim": "a", "held on": "2 of 3", "seeds run": "0, 1, 2", "failed on seeds": "1"},
        {"notebook": "03_mnist_vae", "claim": "loop", "held on": "2 of 3", "seeds run": "0, 1, 2",
         "failed on seeds": "1"},
    ]


def test_a_claim_absent_from_the_notebooks_latest_clean_run_is_retired_not_counted():
    from benchmarks import claims

    def run(recorded, *texts, errors=()):
        return {"claims": [{"text": t, "holds": t != "dropped", "measured": {}} for t in texts],
                "errors": list(errors), "seconds": 1.0, **({"recorded": recorded} if recorded else {})}

    runs = {"02_dogs_conv_autoencoder": {
        "0": run(None, "kept", "dropped"),                      # recorded before runs carried a time
        "1": run("2026-12-04T08:00:00Z", "kept", "dropped"),
        "2": run("2026-12-04T12:00:00Z", "kept"),              # the notebook after "dropped" was rewritten
        "3": run("2026-12-04T13:00:00Z", errors=["c1: ValueError: x"]),  # raised early: says nothing of the claims
    }}
    assert claims.current_claims(runs["02_dogs_conv_autoencoder"]) == {"kept"}
    assert claims.summary_rows(runs) == [{"notebook": "02_dogs_conv_autoencoder", "claim": "kept", "held on": "3 of 3",
                                          "seeds run": "0, 1, 2", "failed on seeds": "none"}]
    assert claims.summary_rows(runs, retired=True) == [
        {"notebook": "02_dogs_conv_autoencoder", "claim": "dropped", "held on": "0 of 2", "seeds run": "0, 1",
         "failed on seeds": "0, 1"}]
    assert claims.current_claims({"0": run(None, "a")}) is None, "old runs only: every claim still counts"


def test_each_claims_run_is_merged_into_the_file_so_two_studies_at_once_keep_both(tmp_path):
    from benchmarks import claims

    path = tmp_path / "claims.json"
    first = {"claims": [{"text": "a", "holds": True, "measured": {"x": 1}}], "errors": [], "seconds": 1.0}
    second = {"claims": [{"text": "b", "holds": False, "measured": {}}], "errors": [], "seconds": 2.0}
    claims.record_run(path, "03_mnist_vae", 0, first)
    saved_by_the_other_study = json.loads(path.read_text())
    claims.record_run(path, "01_mnist_autoencoder", 2, second)  # a second process: it knew nothing of the first
    blob = json.loads(path.read_text())
    assert {name: {seed: {k: v for k, v in run.items() if k != "recorded"} for seed, run in by_seed.items()}
            for name, by_seed in blob["runs"].items()} == {"03_mnist_vae": {"0": first},
                                                           "01_mnist_autoencoder": {"2": second}}
    assert all(run["recorded"].endswith("Z") for by_seed in blob["runs"].values() for run in by_seed.values())
    assert list(saved_by_the_other_study["runs"]) == ["03_mnist_vae"] and blob["retired"] == []
    assert [row["claim"] for row in blob["rows"]] == ["b", "a"]
    assert blob["provenance"]["commit"]
