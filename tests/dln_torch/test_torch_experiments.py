"""dln.torch.experiments at tiny sizes: they run, return JSON-ready dicts, and what they claim holds."""

import json

import numpy as np

from dln.torch import experiments as E


def test_mlp_compressed_tiny():
    r = E.mlp_compressed(hidden=16, width=48, rank=4, epochs=2, batch_size=128, seed=1)
    json.dumps(r)
    assert set(r["results"]) == {"plain", "wide", "compressed"}
    for v in r["results"].values():
        assert 0.0 <= v["test_accuracy"] <= 1.0 and v["seconds_per_epoch"] > 0
    # the compressed block holds 2r-wide factors: far fewer parameters than the wide one
    assert r["results"]["compressed"]["block_parameters"] == 8 * 16 * 2 + 3 * 8 * 8
    assert r["results"]["wide"]["block_parameters"] == 16 * 48 * 2 + 48 * 48
    again = E.mlp_compressed(hidden=16, width=48, rank=4, epochs=2, batch_size=128, seed=1)
    assert again["results"]["compressed"]["test_accuracy"] == r["results"]["compressed"]["test_accuracy"]


def test_deep_lora_tiny():
    r = E.deep_lora(samples=(16,), ranks=(2,), hidden=16, steps=20, pretrain_epochs=3, seed=0)
    json.dumps(r)
    kinds = [c["kind"] for c in r["cases"]]
    assert kinds == ["deep", "lora"]
    for c in r["cases"]:
        # merging the adapters changes no prediction
        assert c["merged_accuracy"] == c["shifted_test_accuracy"]
        assert len(c["update_ranks"]) == 3 and all(0 <= k <= 2 for k in c["update_ranks"])
    assert sum(r["update_rank_histogram"]["deep"]) == 3


def test_nonlinear_subspace_tiny():
    r = E.nonlinear_subspace(depths=(2,), scales=(1.0,), width=8, rank=1, samples=32, steps=40, every=10, seed=0)
    json.dumps(r)
    (case,) = r["cases"]
    assert case["loss_end"] < case["loss_start"]
    assert case["max_relative_error_bound"] <= 1e-12  # the recorder held every update whole
    for frac in case["fraction"].values():
        f = np.array(frac)
        assert f.shape == (4,) and np.all((f > 0) & (f <= 1 + 1e-12))
