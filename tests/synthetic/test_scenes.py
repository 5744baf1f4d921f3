"""The synthetic world is deterministic, and its ground truth matches its pixels."""

from __future__ import annotations

import numpy as np

from edge_runtime.synthetic import SHAPE_CLASSES, SceneGenerator, SceneKind


def test_same_seed_and_index_render_the_same_frame() -> None:
    a = SceneGenerator(96, 64, SceneKind.MULTI, seed=5).render(17)
    b = SceneGenerator(96, 64, SceneKind.MULTI, seed=5).render(17)
    c = SceneGenerator(96, 64, SceneKind.MULTI, seed=6).render(17)
    assert np.array_equal(a.image, b.image) and a.objects == b.objects
    assert not np.array_equal(a.image, c.image)


def test_boxes_are_normalised_and_inside_the_frame() -> None:
    generator = SceneGenerator(160, 120, SceneKind.MULTI, seed=1, max_objects=4)
    counts = []
    for index in range(50):
        scene = generator.render(index)
        counts.append(len(scene.objects))
        for obj in scene.objects:
            x1, y1, x2, y2 = obj.box
            assert 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1
            assert obj.label in SHAPE_CLASSES
    assert min(counts) >= 1 and max(counts) <= 4


def test_single_scenes_hold_one_large_object_and_every_class_appears() -> None:
    generator = SceneGenerator(64, 64, SceneKind.SINGLE, seed=2)
    seen = set()
    for index in range(200):
        (obj,) = generator.render(index).objects
        x1, y1, x2, y2 = obj.box
        assert (x2 - x1) * (y2 - y1) > 0.01
        seen.add(obj.class_id)
    assert seen == set(range(len(SHAPE_CLASSES)))


def test_an_object_is_visible_where_its_box_says() -> None:
    """Shapes are drawn >= 30 luma levels from the background under them."""
    generator = SceneGenerator(128, 128, SceneKind.SINGLE, seed=3, noise=0.0)
    for index in range(10):
        scene = generator.render(index)
        luma = scene.image.astype(float) @ np.array([0.299, 0.587, 0.114])
        x1, y1, x2, y2 = (np.array(scene.objects[0].box) * 128).round().astype(int)
        ring = np.concatenate([luma[max(y1 - 3, 0), x1:x2], luma[min(y2 + 2, 127), x1:x2]])
        inside = luma[y1:y2, x1:x2]
        assert (np.abs(inside - np.median(ring)) > 15).mean() > 0.2, index
