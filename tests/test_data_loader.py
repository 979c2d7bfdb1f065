"""TensorLoader: order as a function of (seed, epoch), batching, epochs, errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lrlab.batches import cycle, set_epoch
from lrlab.data.augment import ImageAugment, Normalize
from lrlab.data.loader import TensorLoader
from lrlab.errors import DataError, InvalidArgument
from lrlab.seeding import derive_seed


def _data(n: int = 10):
    x = torch.arange(n, dtype=torch.float32).reshape(n, 1)
    y = torch.arange(n)
    return x, y


def _ids(loader: TensorLoader) -> list[int]:
    return [int(v) for _, y in loader for v in y]


def test_every_sample_once_per_epoch_and_batch_sizes():
    x, y = _data(10)
    loader = TensorLoader(x, y, 4, seed=3)
    batches = list(loader)
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    assert len(loader) == 3
    ids = [int(v) for _, yb in batches for v in yb]
    assert sorted(ids) == list(range(10))
    # inputs travel with their targets
    for xb, yb in batches:
        assert torch.equal(xb[:, 0].long(), yb)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 60),
    st.integers(1, 70),
    st.booleans(),
    st.booleans(),
    st.integers(0, 2**40),
    st.integers(0, 50),
)
def test_each_epoch_is_its_order_cut_into_batches(n, batch_size, drop_last, shuffle, seed, epoch):
    x, y = _data(n)
    if drop_last and batch_size > n:
        with pytest.raises(InvalidArgument):
            TensorLoader(x, y, batch_size, drop_last=drop_last)
        return
    loader = TensorLoader(x, y, batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last)
    loader.set_epoch(epoch)
    batches = [yb.tolist() for _, yb in loader]
    assert len(batches) == len(loader)
    full, rest = divmod(n, batch_size)
    expected = full + (0 if drop_last or rest == 0 else 1)
    assert len(batches) == expected
    assert all(len(b) == batch_size for b in batches[:full])
    order = loader.order(epoch).tolist()
    assert sorted(order) == list(range(n))
    served = [v for b in batches for v in b]
    assert served == order[: len(served)]
    assert len(served) == (full * batch_size if drop_last else n)


def test_drop_last():
    x, y = _data(10)
    loader = TensorLoader(x, y, 4, drop_last=True)
    assert len(loader) == 2
    assert [len(b[1]) for b in loader] == [4, 4]


def test_order_is_the_seeded_permutation_of_the_epoch():
    x, y = _data(50)
    loader = TensorLoader(x, y, 7, seed=11)
    loader.set_epoch(5)
    expected = torch.randperm(
        50, generator=torch.Generator().manual_seed(derive_seed(11, "order", 5))
    )
    assert _ids(loader) == expected.tolist()


def test_order_depends_on_seed_and_epoch_only_not_global_rng():
    x, y = _data(30)
    a = TensorLoader(x, y, 8, seed=1)
    torch.manual_seed(123)
    first = _ids(a)
    b = TensorLoader(x, y, 8, seed=1)
    torch.manual_seed(999)
    np.random.seed(5)
    assert _ids(b) == first
    assert _ids(TensorLoader(x, y, 8, seed=2)) != first
    # the global RNG was not consumed
    torch.manual_seed(7)
    ref = torch.rand(3)
    torch.manual_seed(7)
    list(TensorLoader(x, y, 8, seed=1))
    assert torch.equal(torch.rand(3), ref)


def test_each_pass_advances_the_epoch_and_set_epoch_rewinds():
    x, y = _data(20)
    loader = TensorLoader(x, y, 20, seed=0)
    e0, e1, e2 = _ids(loader), _ids(loader), _ids(loader)
    assert e0 != e1 and e1 != e2
    loader.set_epoch(1)
    assert _ids(loader) == e1
    assert _ids(loader) == e2  # continues from the epoch set
    set_epoch(loader, 0)  # lrlab.batches.set_epoch finds it
    assert _ids(loader) == e0
    assert loader.epoch == 0


def test_cycle_gets_a_new_order_each_pass():
    x, y = _data(6)
    loader = TensorLoader(x, y, 6, seed=4)
    first_two = list(itertools.islice(cycle(loader), 2))
    assert sorted(first_two[0][1].tolist()) == sorted(first_two[1][1].tolist())
    assert first_two[0][1].tolist() != first_two[1][1].tolist()


def test_order_does_not_depend_on_batch_size():
    x, y = _data(37)
    assert _ids(TensorLoader(x, y, 5, seed=9)) == _ids(TensorLoader(x, y, 16, seed=9))


def test_no_shuffle_keeps_the_stored_order():
    x, y = _data(9)
    assert _ids(TensorLoader(x, y, 4, shuffle=False)) == list(range(9))


def test_numpy_inputs_and_transform():
    x = np.full((6, 3, 4, 4), 255, dtype=np.uint8)
    y = np.zeros(6, dtype=np.int64)
    norm = Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    loader = TensorLoader(x, y, 3, transform=norm)
    xb, yb = next(iter(loader))
    assert xb.dtype == torch.float32 and yb.dtype == torch.int64
    assert torch.allclose(xb, torch.ones_like(xb))  # (1 - 0.5) / 0.5


def test_augmentation_is_deterministic_per_seed_and_epoch_and_batch_size_free():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (24, 3, 8, 8), dtype=torch.uint8, generator=g)
    y = torch.arange(24)
    aug = ImageAugment(padding=2, cutout=3)

    def epoch(bs: int, seed: int, e: int):
        loader = TensorLoader(x, y, bs, seed=seed, augment=aug)
        loader.set_epoch(e)
        return torch.cat([xb for xb, _ in loader])

    a = epoch(5, 0, 1)
    assert torch.equal(a, epoch(5, 0, 1))
    assert torch.equal(a, epoch(24, 0, 1))  # same samples, same augmentation, other batching
    assert not torch.equal(a, epoch(5, 0, 2))
    assert not torch.equal(a, epoch(5, 1, 1))


def test_plain_callable_augment_gets_a_seeded_generator():
    x, y = _data(8)
    calls = []

    def noise(xb, gen):
        calls.append(gen)
        return xb + torch.rand(xb.shape, generator=gen)

    a = torch.cat([xb for xb, _ in TensorLoader(x, y, 4, augment=noise, seed=2)])
    b = torch.cat([xb for xb, _ in TensorLoader(x, y, 4, augment=noise, seed=2)])
    assert torch.equal(a, b) and len(calls) == 4


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"x": torch.zeros(3, 2), "y": torch.zeros(4)}, DataError),
        ({"x": torch.zeros(0, 2), "y": torch.zeros(0)}, DataError),
        ({"batch_size": 0}, InvalidArgument),
        ({"batch_size": 2.5}, InvalidArgument),
        ({"batch_size": 11, "drop_last": True}, InvalidArgument),
        ({"x": object()}, DataError),
    ],
)
def test_bad_input_raises_clear_errors(kwargs, error):
    x, y = _data(10)
    args = {"x": x, "y": y, "batch_size": 4, **kwargs}
    with pytest.raises(error):
        TensorLoader(args.pop("x"), args.pop("y"), args.pop("batch_size"), **args)


def test_data_is_moved_to_the_device():
    x, y = _data(4)
    loader = TensorLoader(x, y, 2, device="meta")
    assert loader.x.device.type == "meta" and loader.device.type == "meta"


@pytest.mark.gpu
def test_cuda_batches_match_cpu_batches():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (32, 3, 8, 8), dtype=torch.uint8, generator=g)
    y = torch.arange(32)
    aug = ImageAugment(padding=2, cutout=3)
    cpu = [xb for xb, _ in TensorLoader(x, y, 8, augment=aug, seed=1)]
    gpu = [xb.cpu() for xb, _ in TensorLoader(x, y, 8, augment=aug, seed=1, device="cuda")]
    assert all(torch.equal(a, b) for a, b in zip(cpu, gpu, strict=True))


def test_data_path_benchmark_runs_and_writes_json(tmp_path, monkeypatch):
    import importlib.util
    from pathlib import Path

    from lrlab._io import read_json

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "data_path.py"
    monkeypatch.syspath_prepend(str(script.parent))  # its provenance comes from _common
    spec = importlib.util.spec_from_file_location("bench_data_path", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "dp.json"
    result = module.main(
        ["--samples", "256", "--batch-size", "64", "--epochs", "1", "--out", str(out)]
    )
    saved = read_json(out)
    assert saved["lrlab"]["batches"] == saved["dataloader"]["batches"] == 4
    assert len(saved["ratio_per_round"]) == 1
    assert saved["ratio_batches_per_s"] == pytest.approx(result["ratio_batches_per_s"])
