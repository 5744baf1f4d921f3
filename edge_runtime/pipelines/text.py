"""Text into token tensors and token outputs back into words: the command model's two ends.

The command model (``engines/models/commands_nlu.onnx``) reads ``input_ids`` and
``attention_mask`` (int64, ``[batch, length]``) made by its WordPiece tokenizer
(``commands_tokenizer.json``, the ``tokenizers`` library), and answers ``intent_logits``
``[batch, intents]`` and ``slot_logits`` ``[batch, length, tags]``. A word may become several
tokens; its slot tag is read from its first token (the usual BERT tagging rule), so the training
tool and the runtime share :func:`first_tokens`. Padding is to a length the caller chooses:
the batch's own longest member (what length-aware batching wants) or a fixed one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from edge_runtime.config.stages import CommandsPost, TokenizeConfig
from edge_runtime.errors import UserError
from edge_runtime.graph.tensors import Feed, Outputs, TensorSpec
from edge_runtime.pipelines.postprocess import CommandResult, softmax
from edge_runtime.synthetic.commands import slot_values

if TYPE_CHECKING:
    from tokenizers import Tokenizer

Int64Array = npt.NDArray[np.int64]


@dataclass(frozen=True)
class EncodedBatch:
    """Token tensors for a batch of texts, and which word each token belongs to."""

    input_ids: Int64Array
    attention_mask: Int64Array
    #: Per text, the word index of each token (None for [CLS], [SEP] and padding).
    word_ids: list[list[int | None]]

    @property
    def padding_fraction(self) -> float:
        """Padded tokens over all tokens of the batch."""
        return 1.0 - float(self.attention_mask.mean()) if self.attention_mask.size else 0.0


class CommandTokenizer:
    """A ``tokenizers`` WordPiece tokenizer over whitespace-separated words."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tokenizer = tokenizer

    @property
    def vocab_size(self) -> int:
        return int(self._tokenizer.get_vocab_size())

    @classmethod
    def from_file(cls, path: Path) -> CommandTokenizer:
        from tokenizers import Tokenizer

        try:
            return cls(Tokenizer.from_file(str(path)))
        except Exception as exc:  # tokenizers raises plain Exception for a bad file
            raise UserError(f"not a tokenizers JSON file ({str(exc).splitlines()[0]})",
                            file=path) from None

    def encode(self, texts: Sequence[str], *, pad_to: int | None = None,
               max_length: int = 64) -> EncodedBatch:
        """Tokens of ``texts`` padded to ``pad_to`` (default: the longest), cut at
        ``max_length`` (the [SEP] kept)."""
        from tokenizers import Encoding

        encodings: list[Encoding] = self._tokenizer.encode_batch(
            [text.split() for text in texts], is_pretokenized=True)
        rows = [[*e.ids[:max_length - 1], e.ids[-1]] if len(e.ids) > max_length else e.ids
                for e in encodings]
        words = [[*e.word_ids[:max_length - 1], None] if len(e.ids) > max_length
                 else list(e.word_ids) for e in encodings]
        length = max(pad_to or 0, max((len(r) for r in rows), default=0))
        ids = np.zeros((len(rows), length), np.int64)
        mask = np.zeros((len(rows), length), np.int64)
        for i, row in enumerate(rows):
            ids[i, :len(row)] = row
            mask[i, :len(row)] = 1
        return EncodedBatch(ids, mask, [w + [None] * (length - len(w)) for w in words])


def first_tokens(word_ids: Sequence[int | None]) -> list[int]:
    """The token index of each word's first token, in word order."""
    seen: set[int] = set()
    firsts: list[int] = []
    for index, word in enumerate(word_ids):
        if word is not None and word not in seen:
            seen.add(word)
            firsts.append(index)
    return firsts


def word_tags(slot_logits: npt.NDArray[np.floating], word_ids: Sequence[int | None],
              tags: Sequence[str]) -> list[str]:
    """One tag per word from one text's ``[length, tags]`` slot logits (first-token rule)."""
    firsts = first_tokens(word_ids)
    if not firsts:
        return []
    return [tags[int(best)] for best in np.argmax(slot_logits[firsts], axis=1)]


#: Texts whose word ids a :class:`TokenInput` keeps for the decoder (a queue's worth, many
#: times over).
WORD_IDS_KEPT = 1024
#: The engine inputs a token pipeline feeds.
TOKEN_INPUTS = ("input_ids", "attention_mask")


def tokens_misfit(inputs: Sequence[TensorSpec]) -> tuple[tuple[str, ...], str] | None:
    """Why token tensors cannot feed an engine with ``inputs`` (None: they can)."""
    by_name = {spec.name: spec for spec in inputs}
    for name in TOKEN_INPUTS:
        spec = by_name.get(name)
        if spec is None:
            return ("type",), (f"a tokens preprocess feeds {list(TOKEN_INPUTS)}, and the "
                               f"engine takes {list(by_name)}")
        if len(spec.shape) != 2 or spec.dtype != "int64":
            return ("type",), (f"input {spec.describe()} is not int64 [batch, length], "
                               "what a tokens preprocess makes")
    return None


class TokenInput:
    """Text to the engine's feed for one pipeline: a batch of one, as long as its own tokens
    (a batch of several is padded to its longest member when it is formed: the session's
    ``pad_batch``). The tokenizer is loaded once, at configure."""

    def __init__(self, config: TokenizeConfig) -> None:
        self.config = config
        self.tokenizer = CommandTokenizer.from_file(config.tokenizer)
        #: Word ids of texts tokenized lately, for the decoder (a pure function of the text,
        #: so a shared entry is always right; cleared when it grows past WORD_IDS_KEPT).
        self._word_ids: dict[str, list[int | None]] = {}

    def encode(self, text: str) -> EncodedBatch:
        return self.tokenizer.encode([text], max_length=self.config.max_length)

    def __call__(self, text: str) -> Feed:
        encoded = self.encode(text)
        if len(self._word_ids) >= WORD_IDS_KEPT:
            self._word_ids.clear()
        self._word_ids[text] = encoded.word_ids[0]
        return {"input_ids": encoded.input_ids, "attention_mask": encoded.attention_mask}

    def word_ids(self, text: str) -> list[int | None]:
        """The word of each token of ``text`` (None: a special token), as tokenized for its
        feed; tokenized again only if that was long ago."""
        found = self._word_ids.get(text)
        return found if found is not None else self.encode(text).word_ids[0]


class CommandDecoder:
    """Intent and slot logits of one text back to a :class:`CommandResult`: the intent is the
    argmax of ``intent_logits``, a word's tag its first token's argmax (first tokens from the
    word ids the feed was made with: :meth:`TokenInput.word_ids`)."""

    def __init__(self, config: CommandsPost, tokens: TokenInput, intents: Sequence[str],
                 tags: Sequence[str]) -> None:
        if not intents or not tags:
            raise ValueError("the command model names no intents or slot tags (its ONNX "
                             "metadata 'intents' and 'slot_tags')")
        self.config = config
        self.tokens = tokens
        self.intents = tuple(intents)
        self.tags = tuple(tags)

    def __call__(self, outputs: Outputs, text: str) -> CommandResult:
        intent_logits = np.asarray(outputs[self.config.intent_output], np.float32).reshape(-1)
        slot_logits = np.asarray(outputs[self.config.slot_output], np.float32)
        slot_logits = slot_logits.reshape(slot_logits.shape[-2], slot_logits.shape[-1])
        words = tuple(text.split())
        word_ids = self.tokens.word_ids(text)[:slot_logits.shape[0]]
        tags = tuple(word_tags(slot_logits, word_ids, self.tags))
        probabilities = softmax(intent_logits)
        best = int(np.argmax(probabilities))
        intent = self.intents[best] if best < len(self.intents) else str(best)
        return CommandResult(intent, float(probabilities[best]), words[:len(tags)], tags,
                             slot_values(list(words[:len(tags)]), list(tags)))
