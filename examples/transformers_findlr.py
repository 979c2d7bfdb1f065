"""lrlab's ``find_lr`` for a Hugging Face ``Trainer``: the peak LR for the schedule it will run.

A small BERT built from a config (no download) learns a synthetic sequence task (which of two
overlapping ranges of the vocabulary a sequence is drawn from). The Trainer is set up as usual
(AdamW, linear decay with 10 % warm-up); ``find_lr(trainer, apply=True)`` trains short runs of
*that* schedule with the Trainer's own optimizer, collator, ``compute_loss`` and eval set,
restores the model, and sets ``trainer.args.learning_rate``; ``trainer.train()`` then runs at
it. (``FindLRCallback`` does the same from ``Trainer(callbacks=[...])``.) Run::

    python examples/transformers_findlr.py [--quick]
"""

from __future__ import annotations

import argparse

import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

from lrlab.integrations.transformers import find_lr


class TwoVocabularies(torch.utils.data.Dataset):
    """Random token sequences drawn from one of two overlapping ranges of the vocabulary
    (8-43 or 28-63): the label says which; a sequence's tokens tell it together."""

    def __init__(self, n: int, seed: int, length: int = 16) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.labels = torch.randint(0, 2, (n,), generator=gen)
        self.ids = 8 + 20 * self.labels[:, None] + torch.randint(0, 36, (n, length), generator=gen)
        self.ids[:, 0] = 1  # [CLS]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "labels": self.labels[i]}


def accuracy(prediction) -> dict[str, float]:
    logits, labels = prediction
    return {"accuracy": float((logits.argmax(-1) == labels).mean())}


def main(quick: bool = False) -> dict:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=32, num_labels=2,
        attn_implementation="eager",  # find_lr trains its candidates at once (vmap) with it
    )  # fmt: skip
    args = TrainingArguments(
        "runs/examples/transformers_findlr",
        num_train_epochs=2 if quick else 6,
        per_device_train_batch_size=32,
        lr_scheduler_type="linear",
        warmup_steps=0.1,  # a fraction of the run
        eval_strategy="epoch",
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=BertForSequenceClassification(config),
        args=args,
        train_dataset=TwoVocabularies(512 if quick else 4096, seed=0),
        eval_dataset=TwoVocabularies(256, seed=1),
        compute_metrics=accuracy,
    )
    found = find_lr(trainer, apply=True)
    print(found)
    print(f"  planned: {found.schedule['name']} over {found.total_steps} optimizer steps; "
          f"trainer.args.learning_rate = {trainer.args.learning_rate:.3g}")  # fmt: skip
    trainer.train()
    metrics = trainer.evaluate()
    print(f"  eval accuracy after {args.num_train_epochs:g} epochs: {metrics['eval_accuracy']:.3f}")
    return {"found": found, "metrics": metrics}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small budget (tests)")
    main(quick=parser.parse_args().quick)
