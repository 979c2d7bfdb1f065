"""Ray for real (issue 13): a two-node cluster on this machine (``ray.cluster_utils.Cluster``:
a head that runs nothing and worker nodes of one CPU each, every node its own raylet), an
experiment sent to it with ``address=``, and a worker node killed in the middle of a trial.

The records must equal those of a sequential run in this process, and after the node dies
the trial is run again on another node (Ray's task retry), resumed from its checkpoint:
nothing lost, no epoch twice. On one machine the run directory is shared by construction;
docs/ray.md says what changes on several machines.
"""

from __future__ import annotations

import importlib.util
import threading
import time

import pytest

from lrlab._io import read_jsonl
from lrlab.experiment import Experiment, run_experiment

pytestmark = [
    pytest.mark.ray,
    pytest.mark.skipif(
        importlib.util.find_spec("ray") is None,
        reason="ray is not installed (pip install 'lrlab[ray]'); the Ray cluster is not tested",
    ),
]

WALL_CLOCK = ("epoch_time", "elapsed", "eval_time")
EXPERIMENT = Experiment(
    name="cluster",
    task="digits-mlp",
    seeds=[0],
    epochs=40,
    device="cpu",
    optimizer={"name": "sgd", "lr": 0.01, "momentum": 0.9},
    variants=[
        {"name": "constant", "schedule": {"name": "constant", "lr": 0.01}},
        {"name": "one-cycle", "schedule": {"name": "one-cycle", "max_lr": 0.1}},
    ],
)


def measured(result):
    return {
        (t.variant, t.seed): [
            {k: v for k, v in r.items() if k not in WALL_CLOCK} for r in t.records
        ]
        for t in result.trials
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return run_experiment(
        EXPERIMENT, executor="sequential", out=tmp_path_factory.mktemp("seq"), quiet=True
    )


@pytest.fixture
def cluster():
    import ray
    from ray.cluster_utils import Cluster

    # The head schedules no task: every trial runs on a worker node, in another raylet.
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    yield c
    ray.shutdown()
    c.shutdown()


def _kill_node_when(cluster, node, trials, *, lines: int, timeout: float = 300.0) -> list:
    """In the background: once every one of ``trials`` (records files) holds ``lines``
    epochs, kill ``node`` without warning (its raylet and its workers); record how many
    epochs each trial had then."""
    happened: list = []

    def count(path):
        return len(read_jsonl(path)) if path.is_file() else 0

    def watch():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(count(p) >= lines for p in trials):
                cluster.remove_node(node, allow_graceful=False)
                happened.append([count(p) for p in trials])
                return
            time.sleep(0.02)

    threading.Thread(target=watch, daemon=True).start()
    return happened


def test_a_cluster_reproduces_the_local_records_and_survives_a_dead_node(
    cluster, reference, tmp_path
):
    # Two worker nodes of one CPU: the two trials run at once, one on each node.
    doomed = cluster.add_node(num_cpus=1)
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    root = tmp_path / EXPERIMENT.name
    trials = [root / v.name / "seed-0" / "records.jsonl" for v in EXPERIMENT.variants]
    killed = _kill_node_when(cluster, doomed, trials, lines=5)

    result = run_experiment(
        EXPERIMENT, executor="ray", address=cluster.address, out=tmp_path, quiet=True
    )

    assert killed, "the node was never killed: a trial ended before it had 5 epochs"
    assert all(n <= EXPERIMENT.epochs for n in killed[0])  # both trials were mid-run
    assert result.executor == "ray"
    assert [t.status for t in result.trials] == ["completed", "completed"]
    assert measured(result) == measured(reference)  # same records as one local process
    for path in trials:  # the killed node's trial resumed on the other: each epoch once
        assert [r["epoch"] for r in read_jsonl(path)] == list(range(EXPERIMENT.epochs + 1))
