"""Recognise models that are plain stacks of ``nn.Linear`` and elementwise layers.

The grouped engine (:mod:`.grouped`) trains K copies of such a model with batched matrix
products and a hand-written backward pass, which on a CPU is several times faster than the
general vmapped path. It must only ever see models it computes exactly, so recognition is
conservative:

1. the model is traced with ``torch.fx.symbolic_trace`` (data-dependent Python fails here);
2. the graph must be one chain ``x → [flatten(1)] → op → op → … → output`` where every op
   is a whitelisted module — ``nn.Linear``, an activation of :data:`ELEMENTWISE_MODULES`,
   ``nn.Dropout``, ``nn.Identity`` — or one of the functions of :data:`ELEMENTWISE_FUNCTIONS`
   (``F.relu``, ``torch.tanh``, …), each op feeding only the next;
3. every parameter of the model is a weight or bias of one of those ``nn.Linear`` layers,
   each used once, untied, and the model has no buffers;
4. the grouped engine then checks, on the first training batch and before any update, that
   its forward pass gives the module's own output (:func:`lrlab.copies.grouped`).

Everything else (convolutions, BatchNorm, residual connections, tied weights, ...) goes to
the general vmapped engine, which handles any model ``torch.func`` can batch.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

_aten = torch.ops.aten

Tensor = torch.Tensor


@dataclass(frozen=True)
class Activation:
    """An elementwise function ``y = f(x)`` and its vector-Jacobian product.

    ``forward(x, out)`` writes ``f(x)`` into ``out`` (which may be ``x`` itself when
    ``uses == "output"``: the backward pass then needs only ``y``). ``backward(g, x, y)``
    returns ``g · f′(x)``, written into ``g``; it is the formula autograd uses
    (``derivatives.yaml``), so the gradients are those of the sequential engine.
    """

    name: str
    forward: Callable[[Tensor, Tensor], Tensor]
    backward: Callable[[Tensor, Tensor, Tensor], Tensor]
    uses: str  # "output" (f′ from y: computed in place) or "input" (f′ from x)


def _relu() -> Activation:
    return Activation(
        "relu",
        lambda x, out: torch.clamp_min(x, 0.0, out=out),
        lambda g, x, y: _aten.threshold_backward.grad_input(g, y, 0.0, grad_input=g),
        "output",
    )


def _tanh() -> Activation:
    return Activation(
        "tanh",
        lambda x, out: torch.tanh(x, out=out),
        lambda g, x, y: _aten.tanh_backward.grad_input(g, y, grad_input=g),
        "output",
    )


def _sigmoid() -> Activation:
    return Activation(
        "sigmoid",
        lambda x, out: torch.sigmoid(x, out=out),
        lambda g, x, y: _aten.sigmoid_backward.grad_input(g, y, grad_input=g),
        "output",
    )


def _leaky_relu(slope: float) -> Activation:
    return Activation(
        "leaky_relu",
        lambda x, out: _aten.leaky_relu.out(x, slope, out=out),
        lambda g, x, y: _aten.leaky_relu_backward.grad_input(g, x, slope, False, grad_input=g),
        "input",
    )


def _gelu(approximate: str) -> Activation:
    return Activation(
        "gelu",
        lambda x, out: _aten.gelu.out(x, approximate=approximate, out=out),
        lambda g, x, y: _aten.gelu_backward.grad_input(g, x, approximate=approximate, grad_input=g),
        "input",
    )


def _silu() -> Activation:
    return Activation(
        "silu",
        lambda x, out: _aten.silu.out(x, out=out),
        lambda g, x, y: _aten.silu_backward.grad_input(g, x, grad_input=g),
        "input",
    )


def _elu(alpha: float) -> Activation:
    return Activation(
        "elu",
        lambda x, out: _aten.elu.out(x, alpha, 1.0, 1.0, out=out),
        lambda g, x, y: _aten.elu_backward.grad_input(g, alpha, 1.0, 1.0, False, x, grad_input=g),
        "input",
    )


def _softplus(beta: float, threshold: float) -> Activation:
    return Activation(
        "softplus",
        lambda x, out: _aten.softplus.out(x, beta, threshold, out=out),
        lambda g, x, y: _aten.softplus_backward.grad_input(g, x, beta, threshold, grad_input=g),
        "input",
    )


# Activation modules the grouped engine computes itself: module type -> its rule.
ELEMENTWISE_MODULES: dict[type[nn.Module], Callable[[nn.Module], Activation]] = {
    nn.ReLU: lambda m: _relu(),
    nn.Tanh: lambda m: _tanh(),
    nn.Sigmoid: lambda m: _sigmoid(),
    nn.LeakyReLU: lambda m: _leaky_relu(float(m.negative_slope)),  # type: ignore[arg-type]
    nn.GELU: lambda m: _gelu(str(m.approximate)),
    nn.SiLU: lambda m: _silu(),
    nn.ELU: lambda m: _elu(float(m.alpha)),  # type: ignore[arg-type]
    nn.Softplus: lambda m: _softplus(float(m.beta), float(m.threshold)),  # type: ignore[arg-type]
}

# The same activations called as functions in a forward (default arguments only).
ELEMENTWISE_FUNCTIONS: dict[Callable[..., Tensor], Callable[[], Activation]] = {
    F.relu: _relu,
    torch.relu: _relu,
    torch.tanh: _tanh,
    torch.sigmoid: _sigmoid,
    F.silu: _silu,
}


@dataclass(frozen=True)
class Linear:
    """``y = W·x + b`` with ``W`` and ``b`` named as in ``model.named_parameters()``."""

    weight: str
    bias: str | None
    in_features: int
    out_features: int


@dataclass(frozen=True)
class Dropout:
    """``nn.Dropout(p)``: in train mode ``x·mask/(1 − p)``, the mask drawn as torch draws it."""

    p: float


Layer = Linear | Activation | Dropout


@dataclass(frozen=True)
class LinearStack:
    """A model as a chain of layers applied to ``x.flatten(1)`` (or ``x`` when it is 2-D)."""

    layers: tuple[Layer, ...]
    flatten: bool  # the forward flattens its input to (N, features) first

    @property
    def linears(self) -> list[Linear]:
        """The linear layers, in order."""
        return [layer for layer in self.layers if isinstance(layer, Linear)]

    @property
    def in_features(self) -> int:
        """Width of the (flattened) input."""
        return self.linears[0].in_features


def find_linear_stack(model: nn.Module) -> tuple[LinearStack | None, str]:
    """``(stack, "")`` when ``model`` is a plain stack, else ``(None, reason)``."""
    if any(True for _ in model.buffers()):
        return None, "the model has buffers"
    before = _attributes(model)
    try:
        # The graph only (no GraphModule, no code generation, no autowrapping of math
        # functions, which a plain stack does not call): about a millisecond.
        graph = torch.fx.Tracer(autowrap_modules=(), autowrap_functions=()).trace(model)
    except Exception as exc:  # any tracing failure just means "not a plain stack"
        return None, f"torch.fx cannot trace the model ({type(exc).__name__})"
    if _changed(model, before):
        # The forward keeps Python state (a call counter, a cache...): the engine would
        # skip it, so this is not a plain stack whatever the graph looks like. The state
        # is put back, so that the engine that does run sees the model as it was.
        for module, attributes in before:
            vars(module).update(attributes)
        return None, "the forward changes the module's attributes"
    nodes = list(graph.nodes)
    if len(nodes) < 3 or nodes[0].op != "placeholder" or nodes[-1].op != "output":
        return None, "the forward is not one input -> ... -> output chain"
    if sum(n.op == "placeholder" for n in nodes) != 1:
        return None, "the forward takes several inputs"
    layers: list[Layer] = []
    flatten = False
    used: set[str] = set()
    previous = nodes[0]
    for node in nodes[1:-1]:
        if node.args[:1] != (previous,) or len(previous.users) != 1:
            return None, f"{node.name} is not a link of a single chain"
        layer = _layer(model, node, first=previous is nodes[0])
        if layer is None:
            return None, f"{node.op} {node.target!r} is not a supported layer"
        if layer == "flatten":
            flatten = True
        elif layer != "identity":
            if isinstance(layer, Linear):
                if layer.weight in used:
                    return None, f"{layer.weight} is used twice"
                used.add(layer.weight)
                if layer.bias is not None:
                    used.add(layer.bias)
            layers.append(layer)
        previous = node
    if nodes[-1].args != (previous,) or len(previous.users) != 1:
        return None, "the output is not the end of the chain"
    linears = [layer for layer in layers if isinstance(layer, Linear)]
    if not linears or not isinstance(layers[0], Linear):
        return None, "the chain does not start with nn.Linear"
    params = {name for name, _ in model.named_parameters()}
    if params != used:
        return None, "some parameters are not those of the chain's linear layers (tied?)"
    for a, b in itertools.pairwise(linears):
        if a.out_features != b.in_features:
            return None, "consecutive linear layers do not fit"
    return LinearStack(tuple(layers), flatten), ""


def _attributes(model: nn.Module) -> list[tuple[nn.Module, dict[str, object]]]:
    """Every submodule with a shallow copy of its attributes (``vars``)."""
    return [(module, dict(vars(module))) for module in model.modules()]


def _changed(model: nn.Module, before: list[tuple[nn.Module, dict[str, object]]]) -> bool:
    """Whether an attribute of a submodule was set, added or removed since ``before``
    (values compared by identity: an attribute changed in place is not seen)."""
    if [m for m, _ in before] != list(model.modules()):
        return True
    return any(
        vars(module).keys() != attributes.keys()
        or any(vars(module)[k] is not v for k, v in attributes.items())
        for module, attributes in before
    )


def _layer(model: nn.Module, node: torch.fx.Node, *, first: bool) -> Layer | str | None:
    """The layer of one graph node, ``"flatten"``/``"identity"``, or ``None``."""
    if node.op == "call_module":
        module = model.get_submodule(str(node.target))
        if len(node.args) != 1 or node.kwargs:
            return None
        if type(module) is nn.Linear:
            names = {id(p): n for n, p in model.named_parameters()}
            weight = names.get(id(module.weight))
            bias = None if module.bias is None else names.get(id(module.bias))
            if weight != f"{node.target}.weight" or (
                module.bias is not None and bias != f"{node.target}.bias"
            ):
                return None  # a tied parameter: its canonical name is another module's
            return Linear(weight, bias, module.in_features, module.out_features)
        if type(module) is nn.Dropout:
            return Dropout(float(module.p))
        if type(module) is nn.Identity:
            return "identity"
        if type(module) is nn.Flatten and first:
            return "flatten" if (module.start_dim, module.end_dim) == (1, -1) else None
        rule = ELEMENTWISE_MODULES.get(type(module))
        return None if rule is None else rule(module)
    if node.op == "call_method" and node.target == "flatten" and first:
        start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
        end = node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1)
        return "flatten" if (start, end) == (1, -1) else None
    if node.op == "call_function" and node.target in ELEMENTWISE_FUNCTIONS:
        if len(node.args) != 1 or any(v not in (False, None) for v in node.kwargs.values()):
            return None
        return ELEMENTWISE_FUNCTIONS[node.target]()  # type: ignore[index]
    return None
