"""Task registry: names, options, seeded models, data bundles, optimizers, criteria."""

from __future__ import annotations

import pickle

import pytest
import torch

from lrlab.data.loader import TensorLoader
from lrlab.errors import InvalidArgument
from lrlab.seeding import derive_seed
from lrlab.tasks import TASKS, OptimizerSpec, build_optimizer, get_task, list_tasks, parse_task_spec

SEED_003_FUNCTIONS = ["exp", "exp-neg", "exp7", "log", "inv", "linear", "sin", "step"]
REQUIRED = [
    *(f"function-{f}" for f in SEED_003_FUNCTIONS),
    "mnist1d-mlp",
    "mnist1d-cnn",
    "digits-mlp",
    "digits-cnn",
]
CHEAP = [
    *(f"function-{f}" for f in ("log", "step")),
    "mnist1d-cnn",
    "mnist1d-mlp",
    "digits-mlp",
    "digits-cnn",
]


def test_required_tasks_are_registered_and_listed():
    assert set(REQUIRED) <= set(TASKS)
    assert [t.name for t in list_tasks()] == list(TASKS)
    for task in list_tasks():
        assert task.kind in ("classification", "regression")
        lo, hi = task.lr_range
        assert 0 < lo < hi
        assert task.batch_size >= 1 and task.epochs >= 1
        assert task.optimizer.name in ("sgd", "adam", "adamw")
        pickle.loads(pickle.dumps(task))  # process pools and Ray ship tasks


def test_unknown_task_suggests_close_names():
    with pytest.raises(InvalidArgument, match="Did you mean 'mnist1d-cnn'"):
        get_task("mnist1d-cn")
    with pytest.raises(InvalidArgument, match="lrlab tasks"):
        get_task("imagenet")


def test_unknown_option_lists_the_known_ones():
    with pytest.raises(InvalidArgument, match="Did you mean 'channels'") as err:
        get_task("mnist1d-cnn", channel=10)
    assert "batch_size" in str(err.value)


def test_options_reach_model_data_and_fields():
    task = get_task("mnist1d-cnn", channels=8, batch_size=50, epochs=3, lr_range=(1e-4, 1))
    assert task.batch_size == 50 and task.epochs == 3 and task.lr_range == (1e-4, 1.0)
    model = task.model(0)
    assert model.features[0].out_channels == 8
    assert TASKS["mnist1d-cnn"].model_options["channels"] == 25  # the registry is untouched
    f = get_task("function-sin", samples=101, act="tanh", optimizer="sgd")
    assert f.data(0).n_train == 101
    assert isinstance(f.model(0).layers[1], torch.nn.Tanh)
    assert f.optimizer == OptimizerSpec("sgd", {"lr": 3.2e-2})


def test_task_spec_string_carries_options():
    assert parse_task_spec("csv-pixels:path=fer.csv,epochs=5,lr=1e-3,norm=false") == (
        "csv-pixels",
        {"path": "fer.csv", "epochs": 5, "lr": 1e-3, "norm": False},
    )
    assert get_task("function-log:samples=51").data(0).n_train == 51
    with pytest.raises(InvalidArgument, match="KEY=VALUE"):
        parse_task_spec("x:oops")


@pytest.mark.parametrize("name", CHEAP)
def test_same_seed_same_weights_and_global_rng_untouched(name):
    task = get_task(name)
    torch.manual_seed(5)
    before = torch.random.get_rng_state()
    a, b, c = task.model(seed=1), task.model(seed=1), task.model(seed=2)
    assert torch.equal(torch.random.get_rng_state(), before)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa if sa[k].is_floating_point())


def test_model_seed_is_derive_seed_init():
    task = get_task("function-log")
    torch.manual_seed(derive_seed(3, "init"))
    ref = task.model_fn(num_classes=None, input_shape=(1,), **task.model_options)
    got = task.model(seed=3)
    assert all(torch.equal(p, q) for p, q in zip(ref.parameters(), got.parameters(), strict=True))


@pytest.mark.parametrize("name", CHEAP)
def test_data_bundle_shapes_and_determinism(name):
    task = get_task(name)
    bundle = task.data(seed=0, device="cpu")
    assert isinstance(bundle.train, TensorLoader) and isinstance(bundle.eval, TensorLoader)
    assert bundle.n_train == task.train_size and bundle.n_eval == task.eval_size
    assert bundle.input_shape == task.input_shape
    assert bundle.chance_level == pytest.approx(task.chance_level) if task.chance_level else True
    xb, yb = next(iter(bundle.train))
    assert xb.shape == (task.batch_size, *task.input_shape)
    assert xb.dtype == torch.float32
    assert yb.dtype == (torch.int64 if task.kind == "classification" else torch.float32)
    out = task.model(0)(xb)
    loss = task.criterion()(out, yb)
    assert loss.ndim == 0 and torch.isfinite(loss)
    again = next(iter(task.data(seed=0).train))
    other = next(iter(task.data(seed=1).train))
    assert torch.equal(xb, again[0]) and not torch.equal(xb, other[0])
    assert task.data(0, batch_size=7).train.batch_size == 7


def test_chance_level_is_the_majority_class_share_of_the_eval_split():
    for name in ("mnist1d-cnn", "digits-cnn"):
        task = get_task(name)
        y = task.splits().y_eval
        assert task.chance_level == pytest.approx(torch.bincount(y).max().item() / len(y))
    assert get_task("function-sin").chance_level is None


def test_make_optimizer_defaults_and_overrides():
    task = get_task("digits-mlp")
    model = task.model(0)
    opt = task.make_optimizer(model)
    assert isinstance(opt, torch.optim.SGD)
    assert opt.defaults["lr"] == 0.05 and opt.defaults["momentum"] == 0.9
    opt = task.make_optimizer(model, lr=0.3, momentum=0.95, weight_decay=1e-4)
    assert opt.defaults["lr"] == 0.3 and opt.defaults["momentum"] == 0.95
    assert opt.defaults["weight_decay"] == 1e-4
    with pytest.raises(InvalidArgument, match="Known optimizers"):
        build_optimizer("adamax2", model.parameters())
    with pytest.raises(InvalidArgument, match="betas"):
        task.make_optimizer(model, betas=(0.9, 0.99))  # SGD has no betas


def test_criteria():
    assert isinstance(get_task("function-exp").criterion(), torch.nn.MSELoss)
    assert isinstance(get_task("digits-cnn").criterion(), torch.nn.CrossEntropyLoss)


def test_to_dict_is_json_safe():
    from lrlab._io import jsonable

    d = get_task("mnist1d-cnn").to_dict()
    assert jsonable(d) == d or d["name"] == "mnist1d-cnn"
    assert d["requires"] == ["datasets"]
