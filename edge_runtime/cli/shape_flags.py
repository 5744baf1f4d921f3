"""trtexec's shape flags on ``build``: ``--shapes=x:1x3x480x640``, ``--minShapes`` /
``--optShapes`` / ``--maxShapes``, turned into the recipe's ``inputs`` (one :class:`~edge_runtime.
config.recipe.ShapeProfile` per input).

People who build TensorRT engines already type these (``trtexec --onnx=m.onnx
--shapes=x:1x3x480x640``), so a model with dynamic dimensions builds from the command line
without writing a recipe. The spellings are trtexec's: inputs separated by commas, the name
before the last colon (names such as ``input:0`` keep their own colons), dimensions joined by
``x``. As in trtexec, an input given only ``--optShapes`` gets it as its min and max too; one
given ``--minShapes`` or ``--maxShapes`` needs ``--optShapes``.
"""

from __future__ import annotations

from typing import Any

from edge_runtime.errors import UserError

#: What a malformed spec's error shows.
EXAMPLE = "x:1x3x480x640 (several inputs: x:1x3x480x640,mask:1x1x480x640)"


def parse_shapes(text: str, flag: str) -> dict[str, list[int]]:
    """``"x:1x3x480x640,y:1x8"`` -> ``{"x": [1, 3, 480, 640], "y": [1, 8]}``; a malformed
    spec is a one-line error naming ``flag`` with an example."""
    shapes: dict[str, list[int]] = {}
    for spec in text.split(","):
        name, colon, dims = spec.strip().rpartition(":")
        name = name.strip().strip("'\"")
        if not colon or not name or not dims:
            raise UserError(f"'{spec}' is not NAME:DIMS; write e.g. {flag}={EXAMPLE}", key=flag)
        try:
            shape = [int(d) for d in dims.lower().split("x")]
        except ValueError:
            raise UserError(f"'{spec}': the dimensions must be whole numbers joined by 'x'; "
                            f"write e.g. {flag}={EXAMPLE}", key=flag) from None
        if any(d < 1 for d in shape):
            raise UserError(f"'{spec}': every dimension must be at least 1 (a shape flag "
                            f"gives the sizes to build for); e.g. {flag}={EXAMPLE}", key=flag)
        if name in shapes:
            raise UserError(f"input '{name}' is given twice", key=flag)
        shapes[name] = shape
    return shapes


def input_profiles(shapes: str | None, min_shapes: str | None, opt_shapes: str | None,
                   max_shapes: str | None) -> dict[str, dict[str, Any]]:
    """The recipe's ``inputs`` from the four flags (each ``None`` when not given)."""
    fixed = parse_shapes(shapes, "--shapes") if shapes else {}
    lows = parse_shapes(min_shapes, "--minShapes") if min_shapes else {}
    opts = parse_shapes(opt_shapes, "--optShapes") if opt_shapes else {}
    highs = parse_shapes(max_shapes, "--maxShapes") if max_shapes else {}
    inputs: dict[str, dict[str, Any]] = {name: {"shape": shape} for name, shape in fixed.items()}
    for name in {*lows, *opts, *highs}:
        if name in fixed:
            raise UserError(f"input '{name}' has --shapes and a min/opt/max profile; give "
                            "one or the other", key="--shapes")
        if name not in opts:
            raise UserError(f"input '{name}' has --minShapes or --maxShapes but no "
                            f"--optShapes; add --optShapes={name}:...", key="--optShapes")
        opt = opts[name]
        inputs[name] = {"min": lows.get(name, opt), "opt": opt, "max": highs.get(name, opt)}
    return inputs
