"""A synthetic world with ground truth: coloured shapes on cluttered, noisy backgrounds.

Why synthetic: the bundled models must be trained and scored on data that ships with the code
(no model hubs or datasets are reachable), and a run must be able to score its live outputs.
Every frame is a pure function of ``(seed, index)``, so a simulated run repeats exactly and the
training tools, the camera source and the accuracy tests all see the same distribution.

Shapes are drawn from signed distance functions with a one-pixel soft edge (cheap
anti-aliasing); each object's box is measured from its rendered mask, so it is exact whatever
the shape and rotation.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge_runtime.imaging import resize_bilinear

#: Object classes, in label order. The bundled classifier and detector use this order.
SHAPE_CLASSES: tuple[str, ...] = (
    "circle",
    "square",
    "triangle",
    "diamond",
    "cross",
    "ring",
    "star",
    "hexagon",
)

FloatGrid = npt.NDArray[np.float32]

#: Sensor noise (std-dev, 8-bit levels) of the synthetic camera unless configured otherwise.
DEFAULT_NOISE = 8.0
SdfFn = Callable[[FloatGrid, FloatGrid, float], FloatGrid]


class SceneKind(str, enum.Enum):
    """What a frame contains: one large object (classification) or several (detection)."""

    SINGLE = "single"
    MULTI = "multi"


@dataclass(frozen=True)
class SceneObject:
    """One object's ground truth: class index and box in normalised (x1, y1, x2, y2)."""

    class_id: int
    box: tuple[float, float, float, float]

    @property
    def label(self) -> str:
        return SHAPE_CLASSES[self.class_id]


@dataclass(frozen=True)
class Scene:
    """A rendered frame (H x W x 3, uint8, RGB) and the objects in it."""

    image: npt.NDArray[np.uint8]
    objects: tuple[SceneObject, ...]
    index: int


def _f32(array: object) -> FloatGrid:
    """Typed float32 view (the SDFs already compute in float32; this only tells mypy)."""
    return np.asarray(array, dtype=np.float32)


# --- signed distance functions, in pixels, for a shape of "radius" r centred at the origin ------


def _sdf_circle(u: FloatGrid, v: FloatGrid, r: float) -> FloatGrid:
    return _f32(np.sqrt(u * u + v * v) - r)


def _sdf_box(u: FloatGrid, v: FloatGrid, hx: float, hy: float) -> FloatGrid:
    dx = np.abs(u) - hx
    dy = np.abs(v) - hy
    outside = np.sqrt(np.maximum(dx, 0.0) ** 2 + np.maximum(dy, 0.0) ** 2)
    inside = np.minimum(np.maximum(dx, dy), 0.0)
    return _f32((outside + inside).astype(np.float32))


def _sdf_square(u: FloatGrid, v: FloatGrid, r: float) -> FloatGrid:
    return _f32(_sdf_box(u, v, 0.8 * r, 0.8 * r))


def _sdf_regular_polygon(u: FloatGrid, v: FloatGrid, r: float, sides: int) -> FloatGrid:
    """Distance to a regular polygon's edges (exact inside, a close bound outside)."""
    angle = np.arctan2(v, u)
    sector = 2.0 * math.pi / sides
    local = np.mod(angle + sector / 2.0, sector) - sector / 2.0
    apothem = r * math.cos(math.pi / sides)
    return _f32((np.sqrt(u * u + v * v) * np.cos(local) - apothem).astype(np.float32))


def _sdf_triangle(u: FloatGrid, v: FloatGrid, r: float) -> FloatGrid:
    # Rotate so that one vertex points up (image y grows downwards).
    return _f32(_sdf_regular_polygon(-v, u, r, 3) + np.float32(0.25 * r))


def _sdf_hexagon(u: FloatGrid, v: FloatGrid, r: float) -> FloatGrid:
    return _f32(_sdf_regular_polygon(u, v, 0.95 * r, 6))


def _sdf_diamond(u: FloatGrid, v: FloatGrid, r: float) -> FloatGrid:
    return _f32(((np.abs(u) / 0.75 + np.abs(v)) - r) * np.float32(0.6))


def _sdf_cross(u: FloatGrid, v: FloatGrid, r: float) -> FloatGrid:
    bar = 0.28 * r
    return _f32(np.minimum(_sdf_box(u, v, r, bar), _sdf_box(u, v, bar, r)))


def _sdf_ring(u: FloatGrid, v: FloatGrid, r: float) -> FloatGrid:
    return _f32(np.abs(np.sqrt(u * u + v * v) - 0.72 * r) - np.float32(0.26 * r))


def _sdf_star(u: FloatGrid, v: FloatGrid, r: float) -> FloatGrid:
    angle = np.arctan2(u, -v)
    radius = r * (0.62 + 0.38 * np.cos(5.0 * angle))
    return _f32((np.sqrt(u * u + v * v) - radius).astype(np.float32) * np.float32(0.8))


_SDFS: dict[str, SdfFn] = {
    "circle": _sdf_circle,
    "square": _sdf_square,
    "triangle": _sdf_triangle,
    "diamond": _sdf_diamond,
    "cross": _sdf_cross,
    "ring": _sdf_ring,
    "star": _sdf_star,
    "hexagon": _sdf_hexagon,
}


# --- scene composition --------------------------------------------------------------------------


@dataclass(frozen=True)
class SceneGenerator:
    """Renders frame ``index`` of a deterministic synthetic stream.

    ``max_objects`` bounds MULTI scenes; ``noise`` is the std-dev of the sensor noise in 8-bit
    levels. The world is made hard enough that the bundled models do not score 100%: shapes can
    be low-contrast, partly hidden by other shapes, small, blurred (motion, focus) and
    under- or over-exposed, among blobs that are not objects. The same (seed, index) always
    renders the same pixels and ground truth.
    """

    width: int
    height: int
    kind: SceneKind = SceneKind.MULTI
    seed: int = 0
    max_objects: int = 4
    noise: float = DEFAULT_NOISE

    def render(self, index: int) -> Scene:
        rng = np.random.default_rng([self.seed, index, 0x5CE9E])
        canvas = _background(rng, self.height, self.width)
        _clutter(rng, canvas)
        _distractors(rng, canvas, int(rng.integers(0, 3 if self.kind is SceneKind.MULTI else 2)))
        if self.kind is SceneKind.SINGLE:
            placements = [_single_placement(rng, self.width, self.height)]
        else:
            placements = _multi_placements(rng, self.width, self.height, self.max_objects)
        objects = []
        for class_id, cx, cy, radius, theta in placements:
            box = _draw_shape(rng, canvas, class_id, cx, cy, radius, theta)
            if box is not None:
                objects.append(SceneObject(class_id, box))
        if self.kind is SceneKind.SINGLE and rng.random() < OCCLUDED_PROBABILITY:
            _, cx, cy, radius, _ = placements[0]
            _occluder(rng, canvas, cx, cy, radius)
        if rng.random() < BLUR_PROBABILITY:
            canvas = _box_blur(canvas, int(rng.integers(1, 3)))
        gain, offset = rng.uniform(0.7, 1.2), rng.uniform(-15.0, 15.0)
        canvas = canvas * np.float32(gain) + np.float32(offset)
        canvas += rng.standard_normal(canvas.shape, dtype=np.float32) * np.float32(self.noise)
        image = np.clip(canvas, 0.0, 255.0).astype(np.uint8)
        return Scene(image=image, objects=tuple(objects), index=index)


#: Share of frames blurred (motion or focus), with a 3x3 or 5x5 box.
BLUR_PROBABILITY = 0.35
#: Least luma difference between a shape and the background under it.
MIN_CONTRAST = 30.0
#: Share of single-object frames with a blob in front of the object.
OCCLUDED_PROBABILITY = 0.35


def _box_blur(canvas: FloatGrid, radius: int) -> FloatGrid:
    """A separable box blur of half-width ``radius`` (edges replicated)."""
    size = 2 * radius + 1
    padded = np.pad(canvas, ((radius, radius), (radius, radius), (0, 0)), mode="edge")
    rows = np.cumsum(padded, axis=0, dtype=np.float32)
    rows = np.concatenate([rows[size - 1:size], rows[size:] - rows[:-size]], axis=0)
    cols = np.cumsum(rows, axis=1, dtype=np.float32)
    cols = np.concatenate([cols[:, size - 1:size], cols[:, size:] - cols[:, :-size]], axis=1)
    return np.asarray(cols / np.float32(size * size), dtype=np.float32)


def _ellipse(rng: np.random.Generator, canvas: FloatGrid, cx: float, cy: float, radius: float,
             stretch: float, theta: float) -> None:
    """Composite a soft-edged ellipse (semi-axes ``radius * stretch`` and ``radius``)."""
    height, width = canvas.shape[:2]
    reach = radius * stretch + 2
    x0, x1 = max(int(cx - reach), 0), min(int(cx + reach) + 1, width)
    y0, y1 = max(int(cy - reach), 0), min(int(cy + reach) + 1, height)
    if x1 <= x0 or y1 <= y0:
        return
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dx, dy = xs + 0.5 - cx, ys + 0.5 - cy
    u = (math.cos(theta) * dx + math.sin(theta) * dy) / stretch
    v = -math.sin(theta) * dx + math.cos(theta) * dy
    alpha = np.clip(0.5 - (np.sqrt(u * u + v * v) - radius), 0.0, 1.0)[..., None]
    window = canvas[y0:y1, x0:x1]
    colour = rng.uniform(0, 255, 3).astype(np.float32)
    window[...] = window * (1.0 - alpha) + colour * alpha


def _distractors(rng: np.random.Generator, canvas: FloatGrid, count: int) -> None:
    """Ellipses that belong to no class: a detector must not report them."""
    height, width = canvas.shape[:2]
    side = min(width, height)
    for _ in range(count):
        _ellipse(rng, canvas, rng.uniform(0, width), rng.uniform(0, height),
                 rng.uniform(0.04, 0.12) * side, rng.uniform(1.6, 3.0), rng.uniform(0, math.pi))


def _occluder(rng: np.random.Generator, canvas: FloatGrid, cx: float, cy: float,
              radius: float) -> None:
    """A blob in front of an object, over one side of it: it hides part, never all."""
    angle = rng.uniform(0, 2 * math.pi)
    distance = rng.uniform(0.75, 1.0) * radius
    _ellipse(rng, canvas, cx + distance * math.cos(angle), cy + distance * math.sin(angle),
             rng.uniform(0.25, 0.4) * radius, rng.uniform(1.2, 2.0), angle + math.pi / 2)


def _background(rng: np.random.Generator, height: int, width: int) -> FloatGrid:
    """A two-colour gradient with low-frequency blotches: no two frames share a background.

    Both parts are smooth, so they are composed on a coarse grid and upsampled once.
    """
    c0 = rng.uniform(20, 235, 3).astype(np.float32)
    c1 = rng.uniform(20, 235, 3).astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    coarse_h, coarse_w = max(height // 16, 2), max(width // 16, 2)
    ys = np.linspace(0.0, math.sin(angle), coarse_h, dtype=np.float32)[:, None]
    xs = np.linspace(0.0, math.cos(angle), coarse_w, dtype=np.float32)[None, :]
    t = ys + xs
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    coarse = c0 + (c1 - c0) * t[..., None]
    blotches = rng.normal(0.0, 18.0, (4, 5, 3)).astype(np.float32)
    coarse += resize_bilinear(blotches, coarse_h, coarse_w)
    return np.array(resize_bilinear(coarse, height, width), dtype=np.float32)


def _clutter(rng: np.random.Generator, canvas: FloatGrid) -> None:
    """Thin lines that are not objects, so detectors learn to ignore edges that are not shapes."""
    height, width = canvas.shape[:2]
    for _ in range(int(rng.integers(0, 4))):
        x0, x1 = rng.uniform(0, width, 2)
        y0, y1 = rng.uniform(0, height, 2)
        steps = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        xs = np.clip(np.linspace(x0, x1, steps).astype(np.intp), 0, width - 1)
        ys = np.clip(np.linspace(y0, y1, steps).astype(np.intp), 0, height - 1)
        canvas[ys, xs] = rng.uniform(0, 255, 3).astype(np.float32)


def _single_placement(
    rng: np.random.Generator, width: int, height: int
) -> tuple[int, float, float, float, float]:
    side = min(width, height)
    radius = rng.uniform(0.16, 0.36) * side
    cx = width / 2 + rng.uniform(-0.15, 0.15) * width
    cy = height / 2 + rng.uniform(-0.15, 0.15) * height
    return int(rng.integers(len(SHAPE_CLASSES))), cx, cy, radius, rng.uniform(-0.6, 0.6)


def _multi_placements(
    rng: np.random.Generator, width: int, height: int, max_objects: int
) -> list[tuple[int, float, float, float, float]]:
    """Up to ``max_objects`` shapes; a later one may hide up to about a third of an earlier
    one (their bounding circles overlap by at most 30% of the radii)."""
    side = min(width, height)
    wanted = int(rng.integers(1, max_objects + 1))
    placed: list[tuple[int, float, float, float, float]] = []
    for _ in range(wanted * 12):
        if len(placed) == wanted:
            break
        radius = rng.uniform(0.055, 0.17) * side
        cx = rng.uniform(radius, width - radius)
        cy = rng.uniform(radius, height - radius)
        if all(math.hypot(cx - p[1], cy - p[2]) > 0.7 * (radius + p[3]) for p in placed):
            placed.append(
                (int(rng.integers(len(SHAPE_CLASSES))), cx, cy, radius, rng.uniform(-0.6, 0.6))
            )
    return placed


def _contrasting_colour(rng: np.random.Generator, local_mean: FloatGrid) -> FloatGrid:
    """A colour at least ``MIN_CONTRAST`` levels of luma away from the background under it."""
    luma_bg = float(local_mean @ np.array([0.299, 0.587, 0.114], dtype=np.float32))
    for _ in range(32):
        colour = rng.uniform(0, 255, 3).astype(np.float32)
        luma = float(colour @ np.array([0.299, 0.587, 0.114], dtype=np.float32))
        if abs(luma - luma_bg) > MIN_CONTRAST:
            return colour
    return np.full(3, 255.0 if luma_bg < 128 else 0.0, dtype=np.float32)


def _draw_shape(
    rng: np.random.Generator,
    canvas: FloatGrid,
    class_id: int,
    cx: float,
    cy: float,
    radius: float,
    theta: float,
) -> tuple[float, float, float, float] | None:
    """Composite one shape onto ``canvas``; returns its normalised box, or None if invisible."""
    height, width = canvas.shape[:2]
    reach = radius * 1.1 + 2
    x0, x1 = max(int(cx - reach), 0), min(int(cx + reach) + 1, width)
    y0, y1 = max(int(cy - reach), 0), min(int(cy + reach) + 1, height)
    if x1 <= x0 or y1 <= y0:
        return None
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dx, dy = xs + 0.5 - cx, ys + 0.5 - cy
    cos_t, sin_t = math.cos(theta), math.sin(theta)
    u = (cos_t * dx + sin_t * dy).astype(np.float32)
    v = (-sin_t * dx + cos_t * dy).astype(np.float32)
    sdf = _SDFS[SHAPE_CLASSES[class_id]](u, v, radius)
    alpha = np.clip(0.5 - sdf, 0.0, 1.0)[..., None]
    window = canvas[y0:y1, x0:x1]
    colour = _contrasting_colour(rng, window.reshape(-1, 3).mean(axis=0))
    shade = 1.0 + 0.15 * (v / max(radius, 1.0))[..., None]  # a little lighting, top to bottom
    window[...] = window * (1.0 - alpha) + (colour * shade) * alpha
    mask_rows, mask_cols = np.nonzero(alpha[..., 0] > 0.5)
    if mask_rows.size == 0:
        return None
    return (
        (x0 + float(mask_cols.min())) / width,
        (y0 + float(mask_rows.min())) / height,
        (x0 + float(mask_cols.max()) + 1.0) / width,
        (y0 + float(mask_rows.max()) + 1.0) / height,
    )
