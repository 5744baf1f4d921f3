"""The command world: deterministic, aligned truth, a spoken-command length distribution."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_runtime.synthetic.commands import (
    INTENTS,
    MAX_WORDS,
    SLOT_TAGS,
    CommandGenerator,
    slot_values,
)


def test_a_command_is_a_pure_function_of_seed_and_index() -> None:
    a, b = CommandGenerator(3), CommandGenerator(3)
    assert a.commands(50) == b.commands(50)
    assert a.command(7) == CommandGenerator(3).commands(1, start=7)[0]
    assert a.commands(50) != CommandGenerator(4).commands(50)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**16), index=st.integers(0, 2**20))
def test_every_word_has_one_valid_tag_and_spans_are_well_formed(seed: int, index: int) -> None:
    command = CommandGenerator(seed).command(index)
    assert 1 <= len(command.words) == len(command.tags) <= MAX_WORDS
    assert set(command.tags) <= set(SLOT_TAGS) and command.intent in INTENTS
    assert command.tags[0] != "O" or command.words[0] not in ("stop", "halt")
    for previous, tag in zip(("O", *command.tags), command.tags, strict=False):
        if tag.startswith("I-"):  # an inside tag continues a span of its own kind
            assert previous[2:] == tag[2:], command
    assert command.tag_ids == tuple(SLOT_TAGS.index(t) for t in command.tags)
    assert "action" in command.slots()


def test_lengths_skew_short_with_a_long_tail() -> None:
    commands = CommandGenerator(0).commands(4000)
    lengths = np.array([len(c.words) for c in commands])
    assert 5 <= np.median(lengths) <= 9
    assert 0.15 <= np.mean(lengths <= 4) <= 0.35  # many short commands ("stop", "grab the cube")
    assert 0.03 <= np.mean(lengths >= 20) <= 0.12 and lengths.max() == MAX_WORDS
    assert {c.intent for c in commands} == set(INTENTS)
    counts = np.bincount([c.intent_id for c in commands], minlength=len(INTENTS))
    assert counts.min() > 0.6 * counts.mean()  # intents roughly balanced


def test_typos_change_spelling_never_truth() -> None:
    clean = CommandGenerator(5, typo_rate=0.0).commands(300)
    noisy = CommandGenerator(5, typo_rate=0.5).commands(300)
    changed = 0
    for a, b in zip(clean, noisy, strict=True):
        assert (a.intent, a.tags) == (b.intent, b.tags)
        changed += sum(x != y for x, y in zip(a.words, b.words, strict=True))
    assert changed > 100


def test_slot_values_read_bio_as_conll_does() -> None:
    words = ("bring", "me", "two", "red", "bolts", "from", "dock", "three")
    tags = ("B-action", "I-action", "B-count", "B-colour", "B-object", "O", "B-place", "I-place")
    assert slot_values(words, tags) == {"action": ["bring me"], "count": ["two"],
                                        "colour": ["red"], "object": ["bolts"],
                                        "place": ["dock three"]}
    assert slot_values(("dock", "three"), ("I-place", "I-place")) == {"place": ["dock three"]}
