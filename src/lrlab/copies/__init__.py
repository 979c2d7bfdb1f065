"""K copies of one model trained at once, one learning rate per copy.

The engines behind the look-ahead scan (:mod:`lrlab.scanning`) and ``find_lr``'s short
trainings: :mod:`.batched` (stacked parameters under ``torch.func.vmap``), :mod:`.grouped`
(plain ``Linear``/activation stacks as grouped matrix products, CPU), :mod:`.sequential`
(one copy at a time with a real ``torch.optim`` optimizer: the fallback with the same
answer), and :mod:`.stacked` (the optimizers: which one every copy gets, in torch form and
in stacked form).
"""
