"""Error-rate arithmetic and the evaluation harness, including the accuracy regression guard."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from inkwitness import datasets as ds
from inkwitness.evaluation import eer, evaluate, fnmr_at_fmr, summarise

from .test_cli import run


def test_eer_of_separable_scores_is_zero_and_of_identical_is_half():
    assert eer([2, 3, 4], [0, 1])[0] == 0.0
    rate, _ = eer([1, 1, 1], [1, 1, 1])
    assert rate == pytest.approx(0.5, abs=0.5)
    rng = np.random.default_rng(0)
    g, i = rng.normal(1, 1, 20000), rng.normal(-1, 1, 20000)
    # Two unit Gaussians 2 apart cross at 0: EER = Phi(-1) = 15.87 %.
    assert eer(g, i)[0] == pytest.approx(0.1587, abs=0.01)


def test_fnmr_at_fmr():
    genuine = np.arange(100) / 100.0
    impostor = np.full(1000, -1.0)
    impostor[:5] = 0.5  # 0.5 % of impostors score 0.5
    assert fnmr_at_fmr(genuine, impostor, 0.01) == 0.0  # 10 impostors may pass: threshold stays at -1
    assert fnmr_at_fmr(genuine, impostor, 0.001) == pytest.approx(0.51)


@pytest.mark.data
def test_evaluation_is_reproducible_and_labelled(data_root):
    rows1, _ = evaluate("mcyt100", data_root, workers=2)
    rows2, _ = evaluate("mcyt100", data_root, workers=1)
    assert [(r.questioned, r.score) for r in rows1] == [(r.questioned, r.score) for r in rows2]
    assert {r.label for r in rows1} == {ds.GENUINE, ds.SKILLED}
    summary = summarise("mcyt100", rows1)
    assert summary.counts == {"genuine": 20, "skilled": 25, "random": 0}


@pytest.mark.data
def test_evaluation_on_a_dask_cluster_matches_the_local_pool(data_root):
    from distributed import Client, LocalCluster

    local, _ = evaluate("sigcomp2009-nfi", data_root, workers=1)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        remote, _ = evaluate("sigcomp2009-nfi", data_root, executor=client.get_executor())
    assert [(r.questioned, r.score) for r in remote] == [(r.questioned, r.score) for r in local]


@pytest.mark.data
def test_evaluate_cli_writes_scores_and_det(data_root, tmp_path):
    scores, det = tmp_path / "s.csv", tmp_path / "det.png"
    out = run("evaluate", "--dataset", "mcyt100", "--data", str(data_root), "--scores", str(scores), "--det", str(det))
    assert out.returncode == 0, out.stderr
    assert "skilled-forgery EER (global threshold)" in out.stdout
    assert "per-user thresholds" in out.stdout
    assert "FNMR" in out.stdout and "20 genuine comparisons" in out.stdout
    with open(scores) as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["dataset", "user", "questioned", "label", "score"]
    assert len(rows) == 20 + 25
    assert det.read_bytes()[:4] == b"\x89PNG"


def test_evaluate_cli_rejects_unknown_dataset():
    out = run("evaluate", "--dataset", "nope")
    assert out.returncode == 2 and "unknown dataset" in out.stderr


@pytest.mark.data
@pytest.mark.slow
def test_svc2004_task2_accuracy_under_writer_disjoint_cross_validation_does_not_regress(data_root):
    """Regression guard at the measured level (docs/accuracy.md); the issue's targets are not met yet.

    The 4-fold protocol of docs/accuracy.md: each fold of ten writers is scored by a model
    trained on the other thirty plus the other development datasets.
    """
    from inkwitness.training import DEVELOPMENT, run_protocol

    rows = run_protocol("svc2004-task2", "cv4", data_root, [n for n in DEVELOPMENT if n != "svc2004-task2"])
    summary = summarise("svc2004-task2", rows)
    assert summary.counts == {"genuine": 600, "skilled": 800, "random": 1560}
    assert summary.skilled_eer <= 0.1
    assert summary.user_threshold_skilled_eer <= 0.056
    assert summary.random_eer <= 0.003


@pytest.mark.data
@pytest.mark.slow
def test_the_shipped_model_keeps_its_accuracy_on_an_unseen_dataset(data_root):
    """SVC2004 Task1 (no pressure) is in no training set of the shipped model (measured 8.83 % / 0.33 %)."""
    rows, failures = evaluate("svc2004-task1", data_root)
    assert not failures
    summary = summarise("svc2004-task1", rows)
    assert summary.skilled_eer <= 0.095
    assert summary.random_eer <= 0.005
