"""Users' own workloads: ``load_user_task("pkg.module:factory")`` (the CLI's ``--model``).

The factory is called with ``seed=`` when it accepts it (else with no argument), inside a
forked RNG seeded with ``derive_seed(seed, "init")`` — so even a factory that ignores the
seed builds the same model for the same seed, and the caller's RNG is untouched. It returns
either a ready :class:`~lrlab.tasks.base.Task`, or a dict:

=================  =========================================================================
``model``          an ``nn.Module`` (required)
``criterion``      the loss, ``(outputs, targets) -> scalar`` (required)
``train_data``     an iterable of batches (a ``DataLoader``, a ``TensorLoader``, a list) or a
                   tuple ``(x, y)`` of tensors, served by a ``TensorLoader`` (required)
``eval_data``      same forms (optional)
``optimizer``      an optimizer built on ``model``'s parameters, or a callable
                   ``params -> optimizer`` (optional; default SGD, momentum 0.9)
``metrics``        names (``"accuracy"``) or ``{name: fn}`` (optional)
``lr_range``, ``batch_size``, ``epochs``, ``kind``, ``chance_level``, ``description``
                   (optional defaults for the commands)
=================  =========================================================================
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from lrlab.data.loader import TensorLoader
from lrlab.devices import resolve_device
from lrlab.errors import InvalidArgument, LrlabError, UserCodeError
from lrlab.optim.registry import OptimizerSpec
from lrlab.seeding import derive_seed
from lrlab.tasks.base import DataBundle, Task
from lrlab.values import integer

REQUIRED_KEYS = ("model", "criterion", "train_data")
OPTIONAL_KEYS = (
    "eval_data",
    "optimizer",
    "metrics",
    "lr_range",
    "batch_size",
    "epochs",
    "kind",
    "chance_level",
    "description",
    "num_classes",
)
_DEFAULT_OPTIMIZER = OptimizerSpec("sgd", {"lr": 0.01, "momentum": 0.9})
_HINT = "The factory must return a Task or a dict with model, criterion and train_data."


def _accepts_seed(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "seed" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _call(factory: Callable[..., Any], seed: int | None, where: str) -> Any:
    kwargs = {"seed": seed} if _accepts_seed(factory) else {}
    try:
        inspect.signature(factory).bind(**kwargs)
    except TypeError as exc:  # it needs arguments lrlab cannot know
        called = f"{where}({'seed=N' if kwargs else ''})"
        raise InvalidArgument(
            f"{where} cannot be called as lrlab calls it, {called}: {exc}.",
            hint="Give its other parameters defaults, or wrap it: "
            "def make(seed=0): return factory(width=64, seed=seed).",
        ) from None
    except ValueError:
        pass  # no signature to read (a builtin): just call it
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(derive_seed(int(seed), "init"))
        return call_user(factory, where, **kwargs)


def call_user(fn: Callable[..., Any], where: str, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` where ``fn`` is the user's code: its exception is shown as
    theirs, in one line (:class:`~lrlab.errors.UserCodeError`, the original chained for
    ``--debug``), not as a traceback through lrlab."""
    try:
        return fn(*args, **kwargs)
    except LrlabError:
        raise
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise UserCodeError(
            f"{where} raised {type(exc).__name__}: {first}",
            hint="That error is in your code; lrlab --debug ... shows its traceback.",
        ) from exc


def _check_result(result: Any, where: str) -> Mapping[str, Any]:
    if isinstance(result, nn.Module):
        raise InvalidArgument(
            f"{where} returned a model but no data or loss.",
            hint="Return dict(model=..., criterion=..., train_data=...) instead.",
        )
    if not isinstance(result, Mapping):
        raise InvalidArgument(f"{where} returned a {type(result).__name__}.", hint=_HINT)
    known = REQUIRED_KEYS + OPTIONAL_KEYS
    for key in result:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.5)
            maybe = f" Did you mean {close[0]!r}?" if close else ""
            raise InvalidArgument(
                f"{where} returned an unknown key {key!r}.{maybe}",
                hint=f"Known keys: {', '.join(known)}.",
            )
    missing = [k for k in REQUIRED_KEYS if k not in result]
    if missing:
        raise InvalidArgument(f"{where} returned a dict without {missing}.", hint=_HINT)
    if not isinstance(result["model"], nn.Module):
        raise InvalidArgument(
            f"{where}: 'model' is a {type(result['model']).__name__}, not a torch.nn.Module."
        )
    if not callable(result["criterion"]):
        raise InvalidArgument(f"{where}: 'criterion' is not callable.")
    return result


def _is_xy(data: Any) -> bool:
    return (
        isinstance(data, tuple)
        and len(data) == 2
        and all(isinstance(t, torch.Tensor) for t in data)
        and data[0].dim() > 0
        and data[1].dim() > 0
        and data[0].shape[0] == data[1].shape[0]
    )


def _kind(result: Mapping[str, Any]) -> str:
    if "kind" in result:
        return str(result["kind"])
    if isinstance(result["criterion"], (nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss)):
        return "regression"
    return "classification"


@dataclass(frozen=True, eq=False)
class UserTask(Task):
    """A :class:`Task` whose model, data, loss and optimizer come from a user's factory."""

    factory: Callable[..., Any] | None = None
    # results of factory calls whose model has not been handed out yet, by seed
    _built: dict[Any, Mapping[str, Any]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:  # the loss is the user's own: no LOSSES name to check
        pass

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_built"] = {}  # models and loaders stay in this process
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            object.__setattr__(self, k, v)

    def _result(self, seed: int | None, *, take: bool) -> Mapping[str, Any]:
        key = seed
        if key in self._built:
            return self._built.pop(key) if take else self._built[key]
        result = _check_result(_call(self.factory, seed, self.name), self.name)
        if not take:  # keep one seed's result for data(): the model is still unused
            first = self._built.get("first")
            self._built.clear()
            if first is not None:
                self._built["first"] = first
            self._built[key] = result
        return result

    def splits(self) -> Any:
        """Not available: the factory gives loaders, not raw splits."""
        raise InvalidArgument(f"Task {self.name!r} comes from a factory: it has no raw splits.")

    def model(
        self, seed: int | None = None, *, device: torch.device | str | None = None, **options: Any
    ) -> nn.Module:
        if options:
            raise InvalidArgument(
                f"Task {self.name!r} comes from a factory and takes no model options "
                f"({sorted(options)}).",
                hint="Give your factory the arguments it needs instead.",
            )
        model = self._result(seed, take=True)["model"]
        return model.to(resolve_device(device)) if device is not None else model

    def data(
        self,
        seed: int = 0,
        device: torch.device | str | None = "cpu",
        batch_size: int | None = None,
        *,
        eval_batch_size: int | None = None,
        augment: bool = True,
    ) -> DataBundle:
        """The factory's data. ``(x, y)`` tensors become :class:`TensorLoader` s (seeded,
        on ``device``, ``batch_size``); other iterables are used as given (their batch size
        and device are the user's)."""
        result = self._result(seed, take=False)
        dev = resolve_device(device) if device is not None else None
        bs = self.batch_size if batch_size is None else integer("batch_size", batch_size, minimum=1)

        def loader(data: Any, train: bool) -> Any:
            if data is None or not _is_xy(data):
                return data
            return TensorLoader(
                data[0],
                data[1],
                bs if train else int(eval_batch_size or bs),
                shuffle=train,
                seed=derive_seed(int(seed), "data"),
                device=dev,
            )

        train, evl = loader(result["train_data"], True), loader(result.get("eval_data"), False)
        return DataBundle(
            train=train,
            eval=evl,
            num_classes=result.get("num_classes"),
            chance_level=result.get("chance_level"),
        )

    def _first(self) -> Mapping[str, Any]:
        if "first" not in self._built:  # after unpickling
            self._built["first"] = _check_result(_call(self.factory, 0, self.name), self.name)
        return self._built["first"]

    def criterion(self) -> Any:
        """The factory's loss (the same object every call; losses hold no state)."""
        return self._first()["criterion"]

    def make_optimizer(
        self, model: nn.Module, lr: float | None = None, **overrides: Any
    ) -> torch.optim.Optimizer:
        """The factory's optimizer rebuilt on ``model``: a callable is called on
        ``model.parameters()``; an optimizer instance is reused when it already holds
        ``model``'s parameters, else rebuilt from its defaults. ``lr`` scales every group
        (keeping their ratios) and ``overrides`` set hyper-parameters in every group."""
        spec = self._first().get("optimizer")
        params = list(model.parameters())
        if spec is None:
            opt = _DEFAULT_OPTIMIZER.build(params)
        elif isinstance(spec, torch.optim.Optimizer):
            held = {id(p) for g in spec.param_groups for p in g["params"]}
            opt = spec if held == {id(p) for p in params} else type(spec)(params, **spec.defaults)
        elif callable(spec):
            opt = call_user(spec, f"{self.name}: the optimizer callable", params)
        else:
            raise InvalidArgument(
                f"{self.name}: 'optimizer' is a {type(spec).__name__}.",
                hint="Give an optimizer instance or a callable params -> optimizer.",
            )
        if not isinstance(opt, torch.optim.Optimizer):
            raise InvalidArgument(
                f"{self.name}: the optimizer callable returned {type(opt).__name__}."
            )
        if lr is not None:
            base = opt.param_groups[0]["lr"]
            for g in opt.param_groups:
                g["lr"] = float(lr) * (g["lr"] / base if base else 1.0)
        for key, value in overrides.items():
            if key not in opt.defaults:
                raise InvalidArgument(
                    f"{type(opt).__name__} has no hyper-parameter {key!r}.",
                    hint=f"Its hyper-parameters: {sorted(opt.defaults)}.",
                )
            for g in opt.param_groups:
                g[key] = value
        return opt


def _import_factory(spec: str) -> Callable[..., Any]:
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name.strip() or not attr.strip():
        raise InvalidArgument(
            f"{spec!r} is not 'pkg.module:function'.",
            hint="For example --model my_project.models:make (run from the project's folder).",
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise InvalidArgument(
                f"Cannot import {module_name!r} (module {exc.name!r} not found).",
                hint="Run from the folder that contains it, or add that folder to PYTHONPATH.",
            ) from exc
        raise InvalidArgument(
            f"Importing {module_name!r} failed: it needs {exc.name!r}, which is not installed."
        ) from exc
    except Exception as exc:  # the user's module failed while importing
        raise InvalidArgument(
            f"Importing {module_name!r} raised {type(exc).__name__}: {exc}",
            hint="Fix the module (run it with python to see the traceback).",
        ) from exc
    factory = getattr(module, attr, None)
    if factory is None:
        names = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
        close = difflib.get_close_matches(attr, names, n=3, cutoff=0.5)
        maybe = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise InvalidArgument(
            f"Module {module_name!r} has no {attr!r}.{maybe}",
            hint=f"Its callables: {', '.join(sorted(names)) or 'none'}.",
        )
    if not callable(factory):
        raise InvalidArgument(f"{spec!r} is a {type(factory).__name__}, not a function.")
    return factory


def load_user_task(spec: str, **defaults: Any) -> Task:
    """Wrap the factory ``spec = "pkg.module:function"`` into a :class:`Task`.

    The factory is called once now (with seed 0) to check what it returns; that result
    serves the first ``model(0)`` / ``data(0)``. ``defaults`` fill fields the factory does
    not return (``batch_size``, ``epochs``, ``lr_range``, ``metrics``…).
    """
    factory = _import_factory(spec)
    first = _call(factory, 0, spec)
    if isinstance(first, Task):
        return first
    result = _check_result(first, spec)
    info = {**defaults, **{k: result[k] for k in OPTIONAL_KEYS if k in result}}
    train = result["train_data"]
    batch_size = info.get("batch_size") or getattr(train, "batch_size", None) or 32
    metrics = info.get("metrics")
    if metrics is None:
        metrics = ("accuracy",) if _kind(result) == "classification" else ()
    elif isinstance(metrics, str):
        metrics = (metrics,)
    elif not isinstance(metrics, Mapping):
        metrics = tuple(metrics)
    lr_range = tuple(float(v) for v in info.get("lr_range", (1e-7, 10.0)))
    if len(lr_range) != 2 or not 0 < lr_range[0] < lr_range[1]:
        raise InvalidArgument(
            f"{spec}: lr_range={lr_range} must be (low, high) with 0 < low < high."
        )
    optimizer = result.get("optimizer")
    spec_opt = (
        OptimizerSpec(type(optimizer).__name__.lower(), dict(optimizer.defaults))
        if isinstance(optimizer, torch.optim.Optimizer)
        else _DEFAULT_OPTIMIZER
    )
    task = UserTask(
        name=spec,
        description=str(info.get("description", f"user task from {spec}")),
        kind=_kind(result),
        model_fn=factory,
        data_fn=factory,
        batch_size=int(batch_size),
        epochs=int(info.get("epochs", 10)),
        lr_range=(lr_range[0], lr_range[1]),
        optimizer=spec_opt,
        loss=type(result["criterion"]).__name__,
        metrics=metrics,
        chance_level=info.get("chance_level"),
        num_classes=info.get("num_classes"),
        factory=factory,
    )
    task._built[0] = result
    task._built["first"] = result  # criterion and optimizer come from here
    return task
