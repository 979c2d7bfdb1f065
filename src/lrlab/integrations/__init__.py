"""Meeting users where they train: a Lightning callback and a transformers ``Trainer`` helper.

Each submodule imports its framework, which comes with an optional extra:

* :mod:`lrlab.integrations.lightning` — ``FindLR`` (a ``lightning.pytorch.Callback``) and
  ``find_lr(trainer, module)``: ``pip install 'lrlab[lightning]'``;
* :mod:`lrlab.integrations.transformers` — ``find_lr(trainer)`` and ``FindLRCallback`` for a
  Hugging Face ``Trainer``: ``pip install 'lrlab[transformers]'``.

Both run :func:`lrlab.find_lr` on the framework's own objects (its loss, optimizer, data and
planned length) and restore them afterwards. This package imports neither framework, and
nothing in lrlab's core imports it (``docs/integrations.md``).
"""
