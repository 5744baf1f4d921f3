"""A synthetic command world with ground truth: what an operator tells a robot, and what it means.

Why synthetic, as for the scenes: the intent-and-slot model must be trained and scored on data
that ships with the code, and a run must score its live outputs. Every command is a pure
function of ``(seed, index)``, so training, the ``text_commands`` source and the accuracy
tests see the same distribution.

A command has an intent (the action: ``pick_up``, ``go_to``, ...) and slots tagged word by word
in BIO form (``B-object``, ``I-place``, ``O``) over the five slot kinds ``action``, ``object``,
``colour``, ``place``, ``count``. What makes batching by length matter is the length
distribution, so it is shaped like spoken commands: most are short ("stop", "pick up the red
cube"), a long tail is padded with politeness, hesitation fillers and a second clause ("um
could you please go to dock three and then bring me two blue bolts"), capped at
:data:`MAX_WORDS`. Typos (a dropped, doubled or swapped letter) change a word's spelling, never
its tag, as a speech recogniser's or a typist's slips do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Intents, in label order (the NLU model's intent head uses this order).
INTENTS: tuple[str, ...] = ("pick_up", "put_down", "go_to", "bring", "count", "inspect", "stop",
                            "follow")
#: Slot kinds; BIO tags over them, in label order, are :data:`SLOT_TAGS`.
SLOT_KINDS: tuple[str, ...] = ("action", "object", "colour", "place", "count")
SLOT_TAGS: tuple[str, ...] = ("O", *(f"{p}-{kind}" for kind in SLOT_KINDS for p in ("B", "I")))
#: The longest command, in words.
MAX_WORDS = 40
#: Share of commands that ramble (many extras): the long tail of the length distribution.
RAMBLING = 0.05

_ACTIONS: dict[str, tuple[tuple[str, ...], ...]] = {
    "pick_up": (("pick", "up"), ("grab",), ("take",), ("lift",)),
    "put_down": (("put", "down"), ("drop",), ("place",), ("set", "down")),
    "go_to": (("go", "to"), ("move", "to"), ("drive", "to"), ("head", "to")),
    "bring": (("bring", "me"), ("fetch",), ("deliver",)),
    "count": (("count",), ("how", "many")),
    "inspect": (("inspect",), ("check",), ("look", "at")),
    "stop": (("stop",), ("halt",), ("freeze",), ("emergency", "stop")),
    "follow": (("follow",), ("come", "with"), ("track",)),
}
_OBJECTS = ("cube", "ball", "box", "bolt", "crate", "pallet", "tool", "cup", "bottle", "part",
            "tray", "cone")
_COLOURS = ("red", "blue", "green", "yellow", "black", "white", "orange", "grey")
_PLACES = (("dock", "one"), ("dock", "two"), ("dock", "three"), ("the", "shelf"),
           ("the", "charging", "station"), ("bay", "four"), ("the", "loading", "area"),
           ("the", "conveyor"), ("the", "left", "bin"), ("the", "right", "bin"), ("aisle", "seven"))
_COUNTS = ("one", "two", "three", "four", "five", "six")
_PEOPLE = (("me",), ("the", "operator"), ("the", "person", "in", "the", "vest"))
_POLITE = (("please",), ("could", "you"), ("can", "you", "please"), ("robot",), ("hey", "robot"),
           ("i", "need", "you", "to"))
_FILLERS = ("um", "uh", "er", "like", "okay", "so", "now", "quickly", "carefully", "right")
_THEN = (("and", "then"), ("then",), ("after", "that"), ("and",))
_CLOSINGS = (("thanks",), ("thank", "you"), ("when", "you", "are", "ready"), ("right", "now"),
             ("as", "soon", "as", "possible"))

Tagged = list[tuple[str, str]]


@dataclass(frozen=True)
class Command:
    """One command and its truth: the words, the intent and one BIO tag per word."""

    words: tuple[str, ...]
    intent: str
    tags: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.words)

    @property
    def intent_id(self) -> int:
        return INTENTS.index(self.intent)

    @property
    def tag_ids(self) -> tuple[int, ...]:
        return tuple(SLOT_TAGS.index(tag) for tag in self.tags)

    def slots(self) -> dict[str, list[str]]:
        """Slot values as written (``{"colour": ["red"], "place": ["dock three"]}``)."""
        return slot_values(self.words, self.tags)


def slot_values(words: tuple[str, ...] | list[str], tags: tuple[str, ...] | list[str]
                ) -> dict[str, list[str]]:
    """The spans a BIO tagging marks, by slot kind (an ``I-`` after another kind starts a
    span, as the CoNLL scorer reads it)."""
    spans: dict[str, list[str]] = {}
    kind: str | None = None
    for word, tag in zip(words, tags, strict=True):
        prefix, _, tag_kind = tag.partition("-")
        if prefix == "B" or (prefix == "I" and tag_kind != kind):
            spans.setdefault(tag_kind, []).append(word)
            kind = tag_kind
        elif prefix == "I":
            spans[tag_kind][-1] += f" {word}"
        else:
            kind = None
    return spans


def _span(words: tuple[str, ...], kind: str) -> Tagged:
    return [(w, f"{'B' if i == 0 else 'I'}-{kind}") for i, w in enumerate(words)]


def _plain(words: tuple[str, ...]) -> Tagged:
    return [(w, "O") for w in words]


class CommandGenerator:
    """Commands as a pure function of ``(seed, index)`` (see the module docstring).

    ``verbosity`` is the mean number of extras (politeness, fillers, a second clause, a
    closing) a command carries, and :data:`RAMBLING` of the commands carry several more: with
    the defaults the median command has seven words, a quarter four or fewer, about one in
    fifteen twenty or more, and under 1 % reach :data:`MAX_WORDS`. ``typo_rate`` is the chance
    that a word is misspelt.
    """

    def __init__(self, seed: int = 0, *, verbosity: float = 1.2, typo_rate: float = 0.03) -> None:
        self.seed = seed
        self.verbosity = verbosity
        self.typo_rate = typo_rate

    def command(self, index: int) -> Command:
        rng = np.random.default_rng([self.seed, index, 0xC0DE])
        intent = INTENTS[int(rng.integers(len(INTENTS)))]
        tagged = self._clause(rng, intent)
        extras = int(rng.poisson(self.verbosity))
        if rng.random() < RAMBLING:  # the long tail: a hesitant, wordy operator
            extras += int(rng.poisson(2 * self.verbosity + 4))
        for _ in range(extras):
            tagged = self._extra(rng, tagged)
        tagged = tagged[:MAX_WORDS]
        words = tuple(self._typo(rng, w) for w, _ in tagged)
        return Command(words, intent, tuple(tag for _, tag in tagged))

    def commands(self, count: int, start: int = 0) -> list[Command]:
        return [self.command(i) for i in range(start, start + count)]

    def _clause(self, rng: np.random.Generator, intent: str) -> Tagged:
        verbs = _ACTIONS[intent]
        tagged = _span(verbs[int(rng.integers(len(verbs)))], "action")
        if intent == "stop":
            return tagged
        if intent == "go_to":
            return tagged + self._place(rng)
        if intent == "follow":
            people = _PEOPLE[int(rng.integers(len(_PEOPLE)))]
            return tagged + _plain(people)
        tagged += self._object(rng, counted=intent in ("bring", "count", "pick_up"))
        if intent in ("put_down", "bring") and rng.random() < 0.6:
            tagged += _plain(("at",) if intent == "put_down" else ("from",)) + self._place(rng)
        return tagged

    def _object(self, rng: np.random.Generator, *, counted: bool) -> Tagged:
        tagged: Tagged = []
        if counted and rng.random() < 0.3:
            tagged += _span((_COUNTS[int(rng.integers(len(_COUNTS)))],), "count")
        else:
            tagged += _plain(("the",))
        if rng.random() < 0.7:
            tagged += _span((_COLOURS[int(rng.integers(len(_COLOURS)))],), "colour")
        noun = _OBJECTS[int(rng.integers(len(_OBJECTS)))]
        plural = tagged[0][1] == "B-count" and tagged[0][0] != "one"
        return tagged + _span((noun + "s" if plural else noun,), "object")

    def _place(self, rng: np.random.Generator) -> Tagged:
        return _span(_PLACES[int(rng.integers(len(_PLACES)))], "place")

    def _extra(self, rng: np.random.Generator, tagged: Tagged) -> Tagged:
        """One more of: politeness before, a filler anywhere, a closing, a second clause."""
        kind = int(rng.integers(4))
        if kind == 0:
            return _plain(_POLITE[int(rng.integers(len(_POLITE)))]) + tagged
        if kind == 1:
            # between spans, never inside one ("pick um up" would split the action's tags)
            gaps = [i for i in range(len(tagged) + 1)
                    if i == len(tagged) or not tagged[i][1].startswith("I-")]
            at = gaps[int(rng.integers(len(gaps)))]
            return [*tagged[:at], (_FILLERS[int(rng.integers(len(_FILLERS)))], "O"), *tagged[at:]]
        if kind == 2:
            return tagged + _plain(_CLOSINGS[int(rng.integers(len(_CLOSINGS)))])
        # a second clause: its slots are tagged, the intent stays the first clause's
        then = _plain(_THEN[int(rng.integers(len(_THEN)))])
        second = INTENTS[int(rng.integers(len(INTENTS) - 2))]  # not stop or follow
        return tagged + then + self._clause(rng, second)

    def _typo(self, rng: np.random.Generator, word: str) -> str:
        if len(word) < 4 or rng.random() >= self.typo_rate:
            return word
        at = int(rng.integers(1, len(word) - 1))
        edit = int(rng.integers(3))
        if edit == 0:
            return word[:at] + word[at + 1:]  # dropped letter
        if edit == 1:
            return word[:at] + word[at] + word[at:]  # doubled letter
        return word[:at - 1] + word[at] + word[at - 1] + word[at + 1:]  # swapped letters
