"""Reading YAML the way lrlab's configs mean it: ``5e-4`` is a float, a key given twice is
an error (PyYAML keeps the last one silently), and a file that is not UTF-8 or not YAML is
one :class:`lrlab.errors.InvalidArgument` naming the file and the line.
"""

from __future__ import annotations

import os
import re
from typing import Any

import yaml

from lrlab._io import read_text
from lrlab.errors import InvalidArgument


class Loader(yaml.SafeLoader):
    """PyYAML's safe loader, reading ``5e-4`` as a float (YAML 1.1 wants ``5.0e-4``) and
    refusing a mapping that gives one key twice."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                first = seen[key]
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} is given twice (first on line {first.line + 1}); YAML would "
                    "keep only the last one",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def parse_yaml(text: str, where: str) -> Any:
    """The YAML value of ``text``; a syntax error or a duplicated key is an
    :class:`InvalidArgument` that says ``where`` (a file name, an option) and the line."""
    try:
        return yaml.load(text, Loader=Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidArgument(
            f"{where}:{at}: not valid YAML: {problem}.",
            hint="Fix that line (a key given twice: keep the one you mean).",
        ) from None


def read_yaml(path: str | os.PathLike, *, what: str = "YAML file") -> Any:
    """The YAML value of the file at ``path`` (:func:`lrlab._io.read_text`, then
    :func:`parse_yaml`)."""
    return parse_yaml(read_text(path, what=what), str(path))
