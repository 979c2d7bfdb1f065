"""``lrlab.integrations.transformers`` against the real transformers ``Trainer``: find_lr
uses the Trainer's model, optimizer, collator, compute_loss, data and planned schedule,
restores everything, and with ``apply=True`` (or as a callback) the run trains at the answer.

A BERT built from a tiny config (eager attention, 8 tokens), no hub access.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

transformers = pytest.importorskip("transformers")

from lrlab import FindResult, RangeTestSettings  # noqa: E402
from lrlab.errors import InvalidArgument  # noqa: E402
from lrlab.finder.planned import as_fractions, planned_schedule  # noqa: E402
from lrlab.integrations._hf_schedules import args_for, planned_from_args  # noqa: E402
from lrlab.integrations.transformers import FindLRCallback, find_lr  # noqa: E402
from lrlab.snapshot import capture_rng, restore_rng  # noqa: E402

pytestmark = [pytest.mark.integrations, pytest.mark.filterwarnings("ignore::FutureWarning")]
FAST = {
    "max_candidates": 3,
    "fractions": (0.25,),
    "extensions": 0,
    "min_steps": 4,
    "checkpoints": 2,
    "eval_batches": 2,
    "range_test": RangeTestSettings(start_lr=1e-5, end_lr=1.0, num_iter=12),
}


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))


def tiny_bert():
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=32, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=16, num_labels=2, max_position_embeddings=16,
    )  # fmt: skip
    config._attn_implementation = "eager"  # vmap-friendly (no fused CPU attention kernel)
    return transformers.BertForSequenceClassification(config)


class Tokens(torch.utils.data.Dataset):
    """Items in the dataset's own format (``ids``, ``y``): only the collator below makes them
    model inputs (``input_ids``, ``labels``)."""

    def __init__(self, n: int, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, 32, (n, 8), generator=gen)
        self.y = (self.ids[:, 0] > 16).long()

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"ids": self.ids[i], "y": self.y[i]}


class Collator:
    def __init__(self) -> None:
        self.sizes: list[int] = []  # items per batch, call by call

    def __call__(self, items):
        self.sizes.append(len(items))
        ids = torch.stack([it["ids"] for it in items])
        return {"input_ids": ids, "labels": torch.stack([it["y"] for it in items])}


class LossCounting(transformers.Trainer):
    """A Trainer whose compute_loss is its own (label-smoothed), and counts its calls."""

    calls = 0

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        LossCounting.calls += 1
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        loss = torch.nn.functional.cross_entropy(outputs.logits, labels, label_smoothing=0.1)
        return (loss, outputs) if return_outputs else loss


class LRs(transformers.TrainerCallback):
    """Group 0's LR before every optimizer update."""

    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_step_begin(self, args, state, control, optimizer=None, **kwargs):
        self.lrs.append(optimizer.param_groups[0]["lr"])


def arguments(tmp_path, **kwargs):
    base = {
        "per_device_train_batch_size": 8, "max_steps": 32, "report_to": [], "use_cpu": True,
        "save_strategy": "no", "disable_tqdm": True, "remove_unused_columns": False,
        "warmup_steps": 3,
    }  # fmt: skip
    return transformers.TrainingArguments(str(tmp_path / "out"), **{**base, **kwargs})


def trainer(tmp_path, cls=transformers.Trainer, eval_set=True, callbacks=(), model=None,
            optimizers=(None, None), **kwargs):  # fmt: skip
    return cls(
        model=model or tiny_bert(), args=arguments(tmp_path, **kwargs), train_dataset=Tokens(128),
        eval_dataset=Tokens(32, seed=1) if eval_set else None, data_collator=Collator(),
        callbacks=list(callbacks), optimizers=optimizers,
    )  # fmt: skip


# -- the schedule the Trainer runs, planned -------------------------------------------------

SCHEDULES = [
    ("linear", 5, {}),
    ("linear", 0.1, {}),  # a warm-up ratio
    ("cosine", 7, {"num_cycles": 1.5}),
    ("constant", 5, {}),
    ("constant_with_warmup", 6, {}),
    (
        "warmup_stable_decay",
        5,
        {"num_decay_steps": 10, "decay_type": "1-sqrt", "min_lr_ratio": 0.1},
    ),
    ("inverse_sqrt", 4, {"timescale": 20}),
]


@pytest.mark.parametrize(("kind", "warmup", "kwargs"), SCHEDULES)
def test_the_planned_schedule_is_the_one_the_trainer_builds(tmp_path, kind, warmup, kwargs):
    total = 50
    args = arguments(
        tmp_path, lr_scheduler_type=kind, warmup_steps=warmup, lr_scheduler_kwargs=kwargs
    )
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.3)
    built = transformers.get_scheduler(
        kind, opt, num_warmup_steps=args.get_warmup_steps(total), num_training_steps=total,
        scheduler_specific_kwargs=kwargs,
    )  # fmt: skip
    theirs = []
    for _ in range(total):
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        built.step()
    policy, options = planned_from_args(args, total)
    ours = planned_schedule(policy, 0.3, total, as_fractions(options, total))
    assert [ours.lr(t) for t in range(total)] == theirs  # bit for bit
    # ... and back: the arguments args_for gives make the Trainer run the same plan.
    kind_back, warmup_back, kwargs_back = args_for(ours)
    assert planned_from_args(
        arguments(tmp_path, lr_scheduler_type=kind_back, warmup_steps=warmup_back,
                  lr_scheduler_kwargs=kwargs_back), total,
    ) == (policy, options)  # fmt: skip


def test_a_schedule_lrlab_cannot_plan_is_named(tmp_path):
    args = arguments(tmp_path, lr_scheduler_type="polynomial")
    with pytest.raises(InvalidArgument, match=r"'polynomial' has no lrlab plan.*schedule="):
        planned_from_args(args, 50)


# -- find_lr(trainer) ------------------------------------------------------------------------


def test_find_lr_uses_the_trainers_collator_loss_and_eval_set_and_restores_everything(tmp_path):
    """A Trainer given an optimizer that has trained a step (so it holds state)."""
    LossCounting.calls = 0
    model = tiny_bert()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.01)
    model(**Collator()([Tokens(8)[i] for i in range(8)])).loss.backward()
    optimizer.step()
    t = trainer(tmp_path, cls=LossCounting, model=model, optimizers=(optimizer, None))
    tensors = {k: v.clone() for k, v in model.state_dict(keep_vars=True).items()}
    grads = {k: p.grad.clone() for k, p in model.named_parameters()}
    moments = [(s["exp_avg"].clone(), s["exp_avg_sq"].clone()) for s in optimizer.state.values()]
    rng = capture_rng()
    registered = len(t.accelerator._dataloaders)
    result = find_lr(t, **FAST)
    assert isinstance(result, FindResult) and result.lr is not None
    # The Trainer's own pieces: the collator makes model inputs of the dataset's items,
    # compute_loss (label-smoothed here) computes every loss, the eval set judges, the
    # optimizer given to the Trainer is the one planned for.
    assert t.data_collator.sizes and LossCounting.calls > 0
    assert result.holdout.startswith("eval_data")
    assert result.total_steps == 32
    assert result.schedule == {"name": "warmup-linear", "options": {"warmup_fraction": 3 / 32}}
    # Restored, tensor by tensor: weights, buffers, gradients, the optimizer's moments; the
    # random streams; the arguments, the optimizer and the accelerator's loaders untouched.
    after = model.state_dict(keep_vars=True)
    assert tensors.keys() == after.keys()
    for name, tensor in tensors.items():
        assert torch.equal(tensor, after[name]), name
    for name, p in model.named_parameters():
        assert torch.equal(grads[name], p.grad), name
    assert moments and len(moments) == len(optimizer.state)
    for (avg, avg_sq), s in zip(moments, optimizer.state.values(), strict=True):
        assert torch.equal(avg, s["exp_avg"]) and torch.equal(avg_sq, s["exp_avg_sq"])
    assert [g["lr"] for g in optimizer.param_groups] == [3e-4]
    expected = torch.rand(3)
    restore_rng(rng)
    assert torch.equal(torch.rand(3), expected)
    assert t.optimizer is optimizer and t.args.learning_rate == 5e-5
    assert len(t.accelerator._dataloaders) == registered


def test_apply_switches_the_trainer_to_the_planned_schedule_at_the_found_peak(tmp_path):
    seen = LRs()
    t = trainer(tmp_path, eval_set=False, callbacks=[seen], max_steps=6)
    result = find_lr(
        t, schedule="warmup-cosine", schedule_options={"warmup_fraction": 0.5}, apply=True, **FAST
    )
    assert t.args.learning_rate == result.lr
    assert (t.args.lr_scheduler_type, t.args.warmup_steps) == ("cosine", 3)
    assert t.optimizer is None  # the one created for the find was dropped: train() builds it
    t.train()
    planned = result.schedule_for()
    assert seen.lrs == [planned.lr(s) for s in range(6)]
    assert max(seen.lrs) == result.lr


def test_what_cannot_be_done_is_refused_before_anything_trains(tmp_path):
    t = trainer(tmp_path)
    with pytest.raises(InvalidArgument, match="no lr_scheduler_type equals it"):
        find_lr(t, schedule="one-cycle", apply=True, **FAST)
    assert t.args.learning_rate == 5e-5 and t.optimizer is None
    with pytest.raises(InvalidArgument, match="optimizer: read from the Trainer"):
        find_lr(t, optimizer=torch.optim.SGD(t.model.parameters(), lr=0.1))
    with pytest.raises(InvalidArgument, match="the schedule the Trainer already built"):
        FindLRCallback(schedule="wsd")


@pytest.mark.parametrize("bound", [False, True])
def test_the_callback_moves_the_built_optimizer_and_scheduler_to_the_found_peak(tmp_path, bound):
    """Unbound, the callback sees what transformers shows callbacks: the model's own loss,
    a split of the training data. Bound to its Trainer: its compute_loss and eval set."""
    LossCounting.calls = 0
    seen = LRs()
    t = trainer(
        tmp_path, cls=LossCounting, eval_set=bound, callbacks=[seen], max_steps=6,
        gradient_accumulation_steps=2, lr_scheduler_type="cosine",
    )  # fmt: skip
    finder = FindLRCallback(t if bound else None, **FAST)
    t.add_callback(finder)
    t.train()
    result = finder.result
    assert result.total_steps == 6 and result.schedule["name"] == "warmup-cosine"
    assert t.args.learning_rate == result.lr != 5e-5
    # The training ran the Trainer's warm-up + cosine at the found peak, update by update.
    assert seen.lrs == pytest.approx([result.schedule_for().lr(s) for s in range(6)], rel=1e-12)
    # Two micro-batches of 8 per update, in the training and in find_lr's updates alike.
    assert max(t.data_collator.sizes) == 8
    assert result.config["range_test"]["accumulation_steps"] == 2
    assert result.config["transformers"]["compute_loss"] is bound
    training_calls = 6 * 2  # compute_loss per micro-batch of the real run
    if bound:
        assert LossCounting.calls > training_calls and result.holdout.startswith("eval_data")
    else:
        assert LossCounting.calls == training_calls
        assert result.holdout.endswith("train samples held out (seeded split)")


def test_without_transformers_the_import_names_the_extra():
    code = (
        "import sys; sys.modules['transformers'] = None\n"
        "try:\n    import lrlab.integrations.transformers\n"
        "except ImportError as e:\n    print(type(e).__name__, e)\n"
    )
    env = {**os.environ}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert "MissingExtra" in done.stdout and "lrlab[transformers]" in done.stdout, done.stderr


@pytest.mark.parametrize(("norm", "expected"), [(1.0, 1.0), (0.25, 0.25), (0.0, None)])
def test_the_short_runs_clip_as_the_trainer_clips(tmp_path, norm, expected):
    """The Trainer clips the gradient norm to ``max_grad_norm`` (1.0 unless told otherwise; 0:
    no clipping): the range test and every short run clip to it too."""
    t = trainer(tmp_path, max_grad_norm=norm)
    result = find_lr(t, **FAST)
    assert result.config["range_test"]["grad_clip"] == expected
    assert result.range_test.config["grad_clip"] == expected
    assert result.config["range_test"]["num_iter"] == 12  # the user's settings are kept
