"""Train the command model: a WordPiece tokenizer and a small transformer encoder with an intent
head and a BIO slot head, on the synthetic command world; export ONNX with dynamic batch and
length; score it on held-out commands.

Dev-time only (torch). Writes ``engines/models/commands_tokenizer.json``,
``engines/models/commands_nlu.onnx`` and ``engines/models/commands_nlu.metrics.json`` (intent
accuracy and slot F1 on commands of seeds from 7001, which training never sees). The attention is
written out (MatMul, Softmax) rather than taken from ``nn.MultiheadAttention`` so the ONNX is
plain MatMul/Softmax that onnxruntime's quantizer and TensorRT both read.

    python -m tools.train_commands            # ~2 minutes on two cores
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from edge_runtime.pipelines.scoring import CommandScore
from edge_runtime.pipelines.text import CommandTokenizer, EncodedBatch, first_tokens, word_tags
from edge_runtime.synthetic.commands import INTENTS, SLOT_TAGS, Command, CommandGenerator
from tools.training_common import HELD_OUT_SEED_MIN, MODELS_DIR, OPSET, seed_everything

MAX_LENGTH = 64
IGNORE = -100


def train_tokenizer(commands: list[Command], path: Path, vocab: int) -> CommandTokenizer:
    """WordPiece over the commands' words (lower-cased), [CLS] text [SEP]."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab,
                                        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"])
    tokenizer.train_from_iterator((c.text for c in commands), trainer)
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    path.parent.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(path))
    return CommandTokenizer.from_file(path)


class EncoderLayer(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.ff = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        q, k, v = self.qkv(self.norm1(x)).chunk(3, dim=-1)
        split = (batch, length, self.heads, width // self.heads)
        q, k, v = (t.reshape(split).transpose(1, 2) for t in (q, k, v))
        scores = q @ k.transpose(-1, -2) / math.sqrt(width // self.heads) + bias
        attended = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(batch, length, width)
        x = x + self.out(attended)
        return x + self.ff(self.norm2(x))


class CommandModel(nn.Module):
    def __init__(self, vocab: int, width: int = 96, layers: int = 3, heads: int = 4) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab, width)
        self.positions = nn.Embedding(MAX_LENGTH, width)
        self.layers = nn.ModuleList(EncoderLayer(width, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.intent = nn.Linear(width, len(INTENTS))
        self.slots = nn.Linear(width, len(SLOT_TAGS))

    def forward(self, input_ids: torch.Tensor,
                attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.tokens(input_ids) + self.positions(positions)[None]
        bias = ((1.0 - attention_mask.to(x.dtype)) * -1e4)[:, None, None, :]
        for layer in self.layers:
            x = layer(x, bias)
        x = self.norm(x)
        return self.intent(x[:, 0]), self.slots(x)


def targets(batch: EncodedBatch, commands: list[Command]) -> tuple[torch.Tensor, torch.Tensor]:
    intents = torch.tensor([c.intent_id for c in commands])
    slots = torch.full(batch.input_ids.shape, IGNORE, dtype=torch.long)
    for row, (words, command) in enumerate(zip(batch.word_ids, commands, strict=True)):
        for word, token in enumerate(first_tokens(words)):
            slots[row, token] = command.tag_ids[word]
    return intents, slots


def evaluate(session: ort.InferenceSession, tokenizer: CommandTokenizer,
             commands: list[Command]) -> dict[str, float]:
    """Intent accuracy and slot F1 (:class:`~edge_runtime.pipelines.scoring.CommandScore`, the
    accumulator live runs use) of the exported model on ``commands``."""
    score = CommandScore()
    for start in range(0, len(commands), 64):
        chunk = commands[start:start + 64]
        batch = tokenizer.encode([c.text for c in chunk], max_length=MAX_LENGTH)
        intent_logits, slot_logits = session.run(
            None, {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask})
        for row, command in enumerate(chunk):
            score.add(INTENTS[int(np.argmax(intent_logits[row]))],
                      word_tags(slot_logits[row], batch.word_ids[row], SLOT_TAGS), command)
    assert score.intent_accuracy is not None and score.slot_f1 is not None
    return {"intent_accuracy": score.intent_accuracy, "slot_f1": score.slot_f1}


def export(model: CommandModel, path: Path, batch: EncodedBatch) -> None:
    model = model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model, (torch.from_numpy(batch.input_ids), torch.from_numpy(batch.attention_mask)),
            str(path), input_names=["input_ids", "attention_mask"],
            output_names=["intent_logits", "slot_logits"],
            dynamic_axes={"input_ids": {0: "batch", 1: "length"},
                          "attention_mask": {0: "batch", 1: "length"},
                          "intent_logits": {0: "batch"},
                          "slot_logits": {0: "batch", 1: "length"}},
            opset_version=OPSET, do_constant_folding=True, dynamo=False)
    proto = onnx.load(str(path))
    for key, value in {"task": "intent_slots", "intents": json.dumps(list(INTENTS)),
                       "slot_tags": json.dumps(list(SLOT_TAGS)),
                       "trained_with": "tools/train_commands.py"}.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def train(args: argparse.Namespace) -> None:
    seed_everything(args.seed)
    world = CommandGenerator(args.seed)
    commands = world.commands(args.commands)
    tokenizer = train_tokenizer(commands, MODELS_DIR / "commands_tokenizer.json", args.vocab)
    model = CommandModel(tokenizer.vocab_size)
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    steps = args.epochs * math.ceil(len(commands) / args.batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, args.lr, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss(ignore_index=IGNORE)
    started = time.perf_counter()
    for epoch in range(args.epochs):
        order = np.random.default_rng(epoch).permutation(len(commands))
        total = 0.0
        for start in range(0, len(order), args.batch):
            chunk = [commands[i] for i in order[start:start + args.batch]]
            batch = tokenizer.encode([c.text for c in chunk], max_length=MAX_LENGTH)
            intents, slots = targets(batch, chunk)
            intent_logits, slot_logits = model(torch.from_numpy(batch.input_ids),
                                               torch.from_numpy(batch.attention_mask))
            loss = loss_fn(intent_logits, intents) + loss_fn(
                slot_logits.reshape(-1, len(SLOT_TAGS)), slots.reshape(-1))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item() * len(chunk)
        print(f"epoch {epoch + 1}/{args.epochs}: loss {total / len(commands):.4f} "
              f"({time.perf_counter() - started:.0f} s)", flush=True)
    path = MODELS_DIR / "commands_nlu.onnx"
    export(model, path, tokenizer.encode(["pick up the red cube", "stop"]))
    held_out = CommandGenerator(HELD_OUT_SEED_MIN + 1).commands(args.eval)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    scores = evaluate(session, tokenizer, held_out)
    metrics = {"model": "commands_nlu", "file": path.name,
               "tokenizer": "commands_tokenizer.json", "seed": HELD_OUT_SEED_MIN + 1,
               "commands": args.eval, "train_commands": args.commands,
               "bytes": path.stat().st_size,
               "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
               **{k: round(v, 4) for k, v in scores.items()}}
    (MODELS_DIR / "commands_nlu.metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps(metrics, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--commands", type=int, default=24000)
    parser.add_argument("--eval", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--vocab", type=int, default=600)
    train(parser.parse_args())


if __name__ == "__main__":
    main()
