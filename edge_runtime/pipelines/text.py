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

from edge_runtime.errors import UserError

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
    return [tags[int(np.argmax(slot_logits[index]))] for index in first_tokens(word_ids)]
