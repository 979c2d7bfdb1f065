"""Task registry: names, options, seeded models, data bundles, optimizers, criteria."""

from __future__ import annotations

import pickle

import pytest
import torch

from lrlab.data.loader import TensorLoader
from lrlab.errors import InvalidArgument
from lrlab.optim.registry import OptimizerSpec, build_optimizer
from lrlab.seeding import derive_seed
from lrlab.tasks import TASKS, get_task, list_tasks, parse_task_spec

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


# --- image tasks on generated data ----------------------------------------------------------


@pytest.fixture
def cifar_archive(tmp_path, monkeypatch):
    from fixtures.cifar_archive import make_cifar_archive
    from lrlab.data import cifar

    monkeypatch.setenv("LRLAB_DATA_DIR", str(tmp_path / "empty"))
    cifar._read_cached.cache_clear()
    yield make_cifar_archive(tmp_path / "data", per_batch=8, n_test=10)
    cifar._read_cached.cache_clear()


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("cifar10-resnet9", 6_575_370),
        ("cifar10-resnet9-page", 6_573_120),
        ("cifar10-resnet20", 269_722),
        ("cifar10-resnet56", 853_018),
        ("cifar10-cnn", 757_326),
    ],
)
def test_cifar_tasks_on_a_tiny_archive(cifar_archive, name, params):
    task = get_task(name, path=str(cifar_archive), batch_size=8)
    bundle = task.data(seed=0)
    assert bundle.n_train == 40 and bundle.n_eval == 10 and bundle.num_classes == 10
    xb, yb = next(iter(bundle.train))
    assert xb.shape == (8, 3, 32, 32) and xb.dtype == torch.float32 and yb.dtype == torch.int64
    model = task.model(seed=0)
    assert sum(p.numel() for p in model.parameters()) == params
    model.eval()
    loss = task.criterion()(model(xb[:2]), yb[:2])
    assert torch.isfinite(loss)
    assert isinstance(
        task.criterion(), torch.nn.NLLLoss if name == "cifar10-cnn" else torch.nn.CrossEntropyLoss
    )


def test_cifar_pipeline_normalizes_with_train_statistics_and_augments_train_only(cifar_archive):
    task = get_task("cifar10-resnet9", path=str(cifar_archive), batch_size=40)
    bundle = task.data(seed=0)
    train = task.splits().x_train.double() / 255
    mean = train.mean(dim=(0, 2, 3))
    assert torch.allclose(torch.tensor(bundle.normalize.mean, dtype=torch.float64), mean)
    xe, _ = next(iter(bundle.eval))  # eval: normalised, not augmented
    raw = task.splits().x_eval
    assert torch.allclose(xe, bundle.normalize(raw[: xe.shape[0]]))
    xb, _ = next(iter(bundle.train))  # train: every image has an 8×8 cutout (zeros)
    assert ((xb == 0).all(dim=1).sum(dim=(1, 2)) >= 64).all()
    plain = task.with_options(augment=False).data(seed=0)
    xp, _ = next(iter(plain.train))
    assert not ((xp == 0).all(dim=1).sum(dim=(1, 2)) >= 64).all()
    assert get_task("cifar10-resnet9", cutout=0).pipeline.augment.cutout == 0


def test_channels_last_option(cifar_archive):
    task = get_task("cifar10-resnet20", path=str(cifar_archive), channels_last=True, batch_size=4)
    xb, _ = next(iter(task.data(0).train))
    assert xb.is_contiguous(memory_format=torch.channels_last)
    model = task.model(0)
    assert model.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert get_task("cifar10-resnet9", amp="bf16").amp_dtype == torch.bfloat16
    with pytest.raises(InvalidArgument, match="amp"):
        get_task("cifar10-resnet9", amp="int8")


def test_imagefolder_and_csv_tasks(tmp_path):
    from fixtures.images import make_image_folder, make_pixel_csv

    make_image_folder(tmp_path / "imgs", {"a": 6, "b": 4}, size=(16, 16))
    task = get_task(f"imagefolder:path={tmp_path / 'imgs'}", batch_size=4)
    bundle = task.data(seed=0)
    assert bundle.num_classes == 2 and bundle.input_shape == (3, 16, 16)
    assert bundle.chance_level == pytest.approx(0.5)
    xb, _ = next(iter(bundle.train))
    assert task.model(0)(xb).shape == (4, 2)
    make_pixel_csv(tmp_path / "fer.csv", [0, 1, 2, 3, 4, 5, 6] * 3, side=48)
    csv_task = get_task("csv-pixels", path=str(tmp_path / "fer.csv"), batch_size=5)
    b = csv_task.data(seed=0)
    assert b.input_shape == (1, 48, 48) and b.num_classes == 7
    assert csv_task.model(0)(next(iter(b.train))[0]).shape == (5, 7)
    from lrlab.errors import DataNotFound

    with pytest.raises(DataNotFound, match="path"):
        get_task("csv-pixels").data(0)


# --- user factories -------------------------------------------------------------------------

USER_MODULE = """
import torch
from torch import nn

CALLS = []

def make(seed=0):
    CALLS.append(seed)
    g = torch.Generator().manual_seed(123)
    x = torch.randn(64, 3, generator=g)
    y = (x.sum(1) > 0).long()
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
    return dict(
        model=model,
        criterion=nn.CrossEntropyLoss(),
        train_data=(x, y),
        eval_data=(x[:16], y[:16]),
        optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
        metrics=["accuracy"],
        batch_size=16,
        lr_range=(1e-5, 1.0),
    )

def no_seed():
    model = nn.Linear(2, 1)
    batches = [(torch.zeros(4, 2), torch.zeros(4, 1))]
    return dict(model=model, criterion=nn.MSELoss(), train_data=batches,
                optimizer=lambda params: torch.optim.SGD(params, lr=0.5, momentum=0.9))

def typo():
    return dict(model=nn.Linear(2, 1), criterion=nn.MSELoss(), train_loader=[])

def just_a_model():
    return nn.Linear(2, 2)

def a_task():
    from lrlab.tasks import get_task
    return get_task("function-sin")

NOT_CALLABLE = 3
"""


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    from fixtures.cli import user_module as write_user_module

    yield from write_user_module(USER_MODULE, tmp_path, monkeypatch, prefix="my_user_factories")


def test_user_task_from_a_factory(user_module):
    from lrlab.tasks import load_user_task

    task = load_user_task(f"{user_module}:make")
    assert task.kind == "classification" and task.batch_size == 16
    assert task.lr_range == (1e-5, 1.0) and task.metrics == ("accuracy",)
    torch.manual_seed(0)
    before = torch.random.get_rng_state()
    m0, m0b, m1 = task.model(0), task.model(0), task.model(1)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert m0 is not m0b  # each call hands out a fresh model
    assert all(torch.equal(p, q) for p, q in zip(m0.parameters(), m0b.parameters(), strict=True))
    assert not torch.equal(m0[0].weight, m1[0].weight)  # the init seed follows the run's seed
    bundle = task.data(seed=0, batch_size=8)
    assert isinstance(bundle.train, TensorLoader) and len(bundle.train) == 8
    assert not bundle.eval.shuffle
    opt = task.make_optimizer(m0, lr=0.01, weight_decay=1e-4)
    assert isinstance(opt, torch.optim.Adam) and opt.param_groups[0]["lr"] == 0.01
    assert opt.param_groups[0]["params"][0] is m0[0].weight
    with pytest.raises(InvalidArgument, match="hyper-parameter"):
        task.make_optimizer(m0, momentum=0.9)
    assert isinstance(task.criterion(), torch.nn.CrossEntropyLoss)
    pickle.loads(pickle.dumps(task)).model(2)


def test_user_factory_without_seed_and_callable_optimizer(user_module):
    from lrlab.tasks import load_user_task

    task = load_user_task(f"{user_module}:no_seed")
    assert task.kind == "regression" and task.batch_size == 32
    model = task.model(5)
    opt = task.make_optimizer(model, lr=0.1)
    assert isinstance(opt, torch.optim.SGD) and opt.param_groups[0]["lr"] == 0.1
    assert isinstance(task.data(0).train, list)


def test_user_factory_returning_a_task(user_module):
    from lrlab.tasks import load_user_task

    assert load_user_task(f"{user_module}:a_task").name == "function-sin"


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("no_colon_here", "pkg.module:function"),
        ("surely_not_a_module_xyz:make", "Cannot import"),
        ("{mod}:mkae", "Did you mean 'make'"),
        ("{mod}:NOT_CALLABLE", "not a function"),
        ("{mod}:typo", "Did you mean 'train_data'"),
        ("{mod}:just_a_model", "no data"),
    ],
)
def test_user_task_errors_name_the_fix(user_module, spec, match):
    from lrlab.tasks import load_user_task

    with pytest.raises(InvalidArgument, match=match):
        load_user_task(spec.format(mod=user_module))


def test_compile_option_wraps_the_seeded_model(monkeypatch):
    # torch.compile itself costs seconds to import: check the wiring with a stand-in.
    seen = []

    def fake_compile(model):
        seen.append(model)
        return ("compiled", model)

    monkeypatch.setattr(torch, "compile", fake_compile)
    plain = get_task("mnist1d-cnn").model(0)
    tag, inner = get_task("mnist1d-cnn", compile=True).model(0)
    assert tag == "compiled" and seen == [inner]
    assert all(
        torch.equal(p, q) for p, q in zip(plain.parameters(), inner.parameters(), strict=True)
    )


@pytest.mark.gpu
def test_cuda_resnet9_channels_last_bf16(cifar_archive):
    task = get_task(
        "cifar10-resnet9", path=str(cifar_archive), channels_last=True, amp="bf16", batch_size=8
    )
    bundle = task.data(seed=0, device="cuda")
    xb, yb = next(iter(bundle.train))
    assert xb.is_cuda and xb.is_contiguous(memory_format=torch.channels_last)
    model = task.model(seed=0, device="cuda")
    cpu_model = task.model(seed=0)
    assert torch.equal(model.fc.weight.cpu(), cpu_model.fc.weight)  # same init on every device
    with torch.autocast("cuda", dtype=task.amp_dtype):
        loss = task.criterion()(model(xb), yb)
    loss.backward()
    assert torch.isfinite(loss)
