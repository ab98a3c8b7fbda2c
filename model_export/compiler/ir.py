"""The compiler's intermediate form: what a compiled model computes for each row, with no SQL.

Scalar expressions are m2cgen's AST (`m2cgen.ast`: NumVal, BinNumExpr, CompExpr, IfExpr,
PowExpr, ExpExpr, SigmoidExpr) plus the few nodes scoring logs needs (named values, text,
float32 rounding, argmax, constant lookup tables). A `Program` evaluates them per row of a
source, through bindings that name values once per row (`Let`), sum a vocabulary seed's
weights over a text's tokens (`TermSums`) or evaluate a sub-program once per distinct key
(`Memoized`). Seeds are data. Every node checks its invariants when it is built, so an
assembler cannot hand an interpreter something it would have to guess about.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import Enum

from m2cgen import ast

from model_export.compiler.names import TEMPLATE_VERSION
from model_export.training.features import FEATURE_NAMES

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")


def _identifier(name: str) -> str:
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a lowercase identifier: {name!r}")
    return name


class DType(Enum):
    """Value types. FLOAT32 is a float64 rounded to float32 (what scikit-learn's trees
    compare); INT only holds a tree's leaf ordinal."""

    FLOAT64 = "float64"
    FLOAT32 = "float32"
    INT = "int"
    TEXT = "text"
    BOOL = "bool"
    BITS = "bits"  # a bit string (a tree's reachable leaves: ForestOverTerms)


# --- scalar nodes (m2cgen.ast.Expr subclasses, so m2cgen's IfExpr/CompExpr/... hold them) ---


@dataclass(frozen=True)
class Ref(ast.Expr):
    """A value of the current row by name: a source column or a name bound earlier."""

    name: str

    def __post_init__(self) -> None:
        _identifier(self.name)


@dataclass(frozen=True)
class Text(ast.Expr):
    """A text constant (a class label, part of an explanation)."""

    value: str

    def __post_init__(self) -> None:
        if "\x00" in self.value:
            raise ValueError("text constants cannot hold NUL")


@dataclass(frozen=True)
class Bool(ast.Expr):
    """A boolean constant (the classes of a supervised anomaly detector)."""

    value: bool


@dataclass(frozen=True)
class Float32(ast.Expr):
    """`expr` rounded to float32, as numpy's astype(float32) does."""

    expr: ast.Expr


@dataclass(frozen=True)
class Max(ast.Expr):
    """The largest of `exprs`."""

    exprs: tuple[ast.Expr, ...]

    def __post_init__(self) -> None:
        if not self.exprs:
            raise ValueError("Max of nothing")


@dataclass(frozen=True)
class Argmax(ast.Expr):
    """values[k] for the first k whose score is the largest (numpy's argmax: ties go to the
    lowest index)."""

    scores: tuple[ast.Expr, ...]
    values: tuple[ast.Expr, ...]

    def __post_init__(self) -> None:
        if not self.scores or len(self.scores) != len(self.values):
            raise ValueError("Argmax needs one value per score, and at least one")


@dataclass(frozen=True)
class Lookup(ast.Expr):
    """table[index - 1]: a constant table read at a 1-based integer index (a tree's leaf
    ordinal)."""

    table: tuple[float, ...]
    index: ast.Expr

    def __post_init__(self) -> None:
        if not self.table:
            raise ValueError("empty lookup table")
        if dtype_of(self.index) not in (None, DType.INT):
            raise ValueError("a lookup index must be an integer")


@dataclass(frozen=True)
class Concat(ast.Expr):
    """Texts joined end to end."""

    parts: tuple[ast.Expr, ...]

    def __post_init__(self) -> None:
        if len(self.parts) < 2:
            raise ValueError("Concat needs at least two parts")


@dataclass(frozen=True)
class Digits(ast.Expr):
    """The decimal digits of floor(expr) (an integer below 2**53): numbers in explanations,
    written the same way in every language (no rounding mode, no locale)."""

    expr: ast.Expr


@dataclass(frozen=True)
class LogTemplate(ast.Expr):
    """The log template of a text (model_export.training.tokenizer.log_template), as the project's
    log_template macro computes it."""

    text: ast.Expr


# --- scalar nodes of bring-your-own pipelines (tabular inputs) ---


@dataclass(frozen=True)
class NumberColumn(ast.Expr):
    """A numeric column of the source as scikit-learn reads it from a DataFrame: float64,
    NULL as NaN; with `missing` (a SimpleImputer's statistic), NULL and NaN as that value."""

    column: Ref
    missing: ast.Expr | None = None


@dataclass(frozen=True)
class TextColumn(ast.Expr):
    """A column of the source as text (a category); NULL stays NULL (pandas' None)."""

    column: Ref


@dataclass(frozen=True)
class IsNaN(ast.Expr):
    """True when a float64 is NaN (scikit-learn's missing value)."""

    expr: ast.Expr


@dataclass(frozen=True)
class IsNull(ast.Expr):
    """True when a text is NULL (a missing category)."""

    expr: ast.Expr


@dataclass(frozen=True)
class Or(ast.Expr):
    """True when either condition holds."""

    left: ast.Expr
    right: ast.Expr


@dataclass(frozen=True)
class Fail(ast.Expr):
    """Stops the query with an error whose message is `message` followed by the text of
    `value` (where scikit-learn raises, e.g. an unknown category with handle_unknown='error')."""

    message: str
    value: ast.Expr


def children(expr: ast.Expr) -> Iterator[ast.Expr]:
    """The direct sub-expressions of any node, m2cgen's or ours."""
    for value in vars(expr).values():
        if isinstance(value, ast.Expr):
            yield value
        elif isinstance(value, list | tuple):
            yield from (item for item in value if isinstance(item, ast.Expr))


def refs(expr: ast.Expr) -> set[str]:
    """Names an expression reads."""
    if isinstance(expr, Ref):
        return {expr.name}
    found: set[str] = set()
    for child in children(expr):
        found |= refs(child)
    return found


_FLOAT_NODES = (
    ast.BinNumExpr,
    ast.PowExpr,
    ast.ExpExpr,
    ast.SigmoidExpr,
    ast.LogExpr,
    ast.AbsExpr,
    Max,
    Lookup,
    NumberColumn,
    Fail,
)


def dtype_of(expr: ast.Expr) -> DType | None:
    """The type of an expression where it does not depend on names (None: a Ref's type is
    that of the value it names)."""
    if isinstance(expr, ast.NumVal):
        return DType.INT if isinstance(expr.value, int) else DType.FLOAT64
    if isinstance(expr, Float32):
        return DType.FLOAT32
    if isinstance(expr, _FLOAT_NODES):
        return DType.FLOAT64
    if isinstance(expr, Text | Concat | LogTemplate | Digits | TextColumn):
        return DType.TEXT
    if isinstance(expr, Bool | ast.CompExpr | IsNaN | IsNull | Or):
        return DType.BOOL
    if isinstance(expr, ast.IfExpr):
        body, orelse = dtype_of(expr.body), dtype_of(expr.orelse)
        if body and orelse and body != orelse:
            raise ValueError(f"IfExpr branches of different types: {body} and {orelse}")
        return body or orelse
    if isinstance(expr, Argmax):
        types = {dtype_of(v) for v in expr.values} - {None}
        if len(types) > 1:
            raise ValueError(f"Argmax values of different types: {types}")
        return types.pop() if types else None
    return None


# --- data and sources ---


# How a seed's text cells are stored. A CSV reader does not hand every cell back as written:
# dbt's seed reader turns `null` and empty cells (any case, padded with spaces) into NULL even
# in a column typed text, other readers also `none`, `na`, `nan`, and reading through
# universal newlines rewrites a carriage return. So a cell is written as it is only when it
# is plain (letters, digits, underscores) and no null word; any other is written as
# TEXT_ESCAPE followed by the hex of its UTF-8 bytes, which every reader keeps (hex digits),
# and the SQL that reads the seed decodes it. TEXT_ESCAPE holds a ':', so no plain cell
# starts with it. Plain cells (every md5 hash, nearly every log word) stay readable and are
# read by plain SQL: a column without an escaped cell needs no decoding.
TEXT_ESCAPE = "hex:"
_PLAIN_TEXT = re.compile(r"[A-Za-z0-9_]+")
_NULL_WORDS = frozenset({"null", "none", "na", "nan"})


def seed_text(value: str) -> str:
    """A text cell as the seed's CSV holds it (see TEXT_ESCAPE)."""
    if _PLAIN_TEXT.fullmatch(value) and value.lower() not in _NULL_WORDS:
        return value
    return TEXT_ESCAPE + value.encode("utf-8").hex()


@dataclass(frozen=True)
class Seed:
    """A lookup table shipped as data beside the compiled model (a dbt seed). Text cells are
    written with seed_text; escaped_columns() are the text columns whose SQL must decode."""

    name: str
    columns: tuple[tuple[str, DType], ...]
    rows: tuple[tuple[object, ...], ...]
    # What the rows mean beyond their columns, written to the seed's meta (key, integer)
    meta: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        _identifier(self.name)
        names = [_identifier(n) for n, _ in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"seed {self.name}: duplicate columns")
        if any(len(row) != len(names) for row in self.rows):
            raise ValueError(f"seed {self.name}: a row does not have {len(names)} values")

    def column_names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.columns)

    def escaped_columns(self) -> tuple[str, ...]:
        """The text columns holding at least one escaped cell."""
        return tuple(
            name
            for i, (name, dtype) in enumerate(self.columns)
            if dtype is DType.TEXT and any(seed_text(str(r[i])) != r[i] for r in self.rows)
        )


@dataclass(frozen=True)
class Batch:
    """The rows to score: the relation the macro gets as `batch` (stg_log_entries' columns)."""

    columns: tuple[str, ...]


@dataclass(frozen=True)
class TemplateSeeds:
    """A model version's learned templates (model_export.training.templates.LearnedTemplates,
    template version 2 or 3, in the masks seed's meta: the shape its lines are read in):
    `masks` (token_count, mask_rank, mask: a bit string, 1 = wildcard) and `known`
    (template_hash: md5 of each learned template). The project's template_shape and
    learned_template macros (macros/templates.sql) assign a line its template from them."""

    masks: Seed
    known: Seed

    def __post_init__(self) -> None:
        if self.masks.column_names() != ("token_count", "mask_rank", "mask"):
            raise ValueError(f"{self.masks.name} lacks token_count, mask_rank, mask")
        if self.known.column_names() != ("template_hash",):
            raise ValueError(f"{self.known.name} is not one column template_hash")
        if TEMPLATE_VERSION not in dict(self.masks.meta):
            raise ValueError(f"{self.masks.name} has no {TEMPLATE_VERSION} in its meta")

    @property
    def version(self) -> int:
        """The template version, as the masks seed's meta records it for the listing too."""
        return dict(self.masks.meta)[TEMPLATE_VERSION]


@dataclass(frozen=True)
class LogFeatureRows:
    """One row per row of the batch with log_entry_id, the log features
    (model_export.training.features.LogFeatures; the project's log_features macro) and, when
    with_template, the line's log template; `frequency` holds the training frequency of each
    template."""

    frequency: Seed
    with_template: bool = False
    # With a history key (whose rows to read in the detector's state tables: a model
    # version's name, given by the caller): also the template's md5 and the line's history as
    # that version has counted it (model_export.training.anomaly_detectors.with_history): lines
    # of its (service, template) and of its service scored by earlier runs, from the state
    # tables the macro gets as `history`, plus those of `trained`. Lookups by equality:
    # row-local.
    history_key: str | None = None
    # With history: also template_label, the label of the line's template in this seed
    # (template_hash -> label: 1 anomalous, 0 normal), -1 for a template without one.
    labels: Seed | None = None
    # With history: the detector's training lines per (template_hash, md5 of the service),
    # and per service in the rows whose template_hash is 'all'.
    trained: Seed | None = None
    # The learned templates that decide template_hash and template_frequency (None: the
    # template is log_template, version 1). `template` stays log_template either way.
    templates: TemplateSeeds | None = None

    def __post_init__(self) -> None:
        if (self.labels is not None or self.trained is not None) and self.history_key is None:
            raise ValueError("template labels and training history are read with the history")

    @property
    def columns(self) -> tuple[str, ...]:
        template = ("template",) if self.with_template or self.history_key else ()
        history = HISTORY_COLUMNS if self.history_key else ()
        labels = ("template_label",) if self.labels else ()
        return ("log_entry_id", *template, *FEATURE_NAMES, *history, *labels)


HISTORY_COLUMNS = ("template_hash", "template_lines", "service_lines")


Source = Batch | LogFeatureRows


# --- bindings: values named once per row ---


@dataclass(frozen=True)
class Let:
    """Evaluate these expressions once per row (however often they are read) and name them."""

    name: str
    columns: tuple[tuple[str, ast.Expr], ...]
    dtype: DType

    def __post_init__(self) -> None:
        _identifier(self.name)
        if not self.columns or self.dtype is DType.TEXT:
            raise ValueError(f"Let {self.name}: no columns, or a type it cannot bind")
        for column, expr in self.columns:
            _identifier(column)
            if dtype_of(expr) not in (None, self.dtype):
                raise ValueError(f"Let {self.name}: {column} is not {self.dtype.value}")

    def names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.columns)

    def refs(self) -> tuple[Ref, ...]:
        return tuple(Ref(n) for n in self.names())

    def reads(self) -> set[str]:
        return set().union(*(refs(e) for _, e in self.columns))


def vector(name: str, exprs: Sequence[ast.Expr], dtype: DType) -> Let:
    """A Let of `exprs` named name_0, name_1, ..."""
    return Let(name, tuple((f"{name}_{k}", e) for k, e in enumerate(exprs)), dtype)


class Analyzer(Enum):
    """How a text splits into tokens."""

    TEMPLATE = "template"  # a log template: tokens separated by single spaces
    DEFAULT = "default"  # scikit-learn's default analyzer: (?u)\b\w\w+\b


@dataclass(frozen=True)
class Tokens:
    """The tokens of a text; lowercase only applies to the default analyzer (a template is
    lowercase already)."""

    text: ast.Expr
    analyzer: Analyzer
    lowercase: bool = False

    def __post_init__(self) -> None:
        if self.lowercase and self.analyzer is not Analyzer.DEFAULT:
            raise ValueError("a log template is lowercase already")


@dataclass(frozen=True)
class WordGrams:
    """scikit-learn's word n-grams: the tokens, less `stop_words`, then every run of n_min to
    n_max consecutive ones joined by single spaces (unigrams first, in text order)."""

    tokens: Tokens
    n_min: int
    n_max: int
    stop_words: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not 1 <= self.n_min <= self.n_max:
            raise ValueError(f"n-gram range ({self.n_min}, {self.n_max})")

    @property
    def text(self) -> ast.Expr:
        return self.tokens.text


class Tf(Enum):
    """The term frequency of a vectorizer: raw counts, binary, or 1 + ln(count)."""

    RAW = "raw"
    BINARY = "binary"
    SUBLINEAR = "sublinear"


class Norm(Enum):
    L1 = "l1"
    L2 = "l2"


@dataclass(frozen=True)
class TermSums:
    """Per row, the text's tf-idf vector x (scaled to unit `norm`) dotted with weight vectors
    over the vocabulary: sums[i] names x . w for a weight column of the vocabulary seed
    (a str), or x[j], one term's value, for a feature index j (an int). A row without any
    known term sums to 0. The vocabulary seed has term, feature_index, idf, then weights."""

    name: str
    tokens: Tokens | WordGrams
    vocabulary: Seed
    tf: Tf
    norm: Norm | None
    sums: tuple[tuple[str, str | int], ...]

    def __post_init__(self) -> None:
        _identifier(self.name)
        columns = self.vocabulary.column_names()
        if columns[:3] != ("term", "feature_index", "idf"):
            raise ValueError(f"vocabulary {self.vocabulary.name} lacks term, feature_index, idf")
        for sum_name, weight in self.sums:
            _identifier(sum_name)
            if isinstance(weight, str) and weight not in columns[3:]:
                raise ValueError(f"{weight} is not a weight column of {self.vocabulary.name}")
            if isinstance(weight, int) and not 0 <= weight < len(self.vocabulary.rows):
                raise ValueError(f"feature index {weight} is not in {self.vocabulary.name}")

    def names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.sums)

    def reads(self) -> set[str]:
        return refs(self.tokens.text)

    def per_occurrence(self) -> bool:
        """True when the sums need no per-term counts: without L2 norm, binary or sublinear
        tf, x . w is the sum over token occurrences of idf * w (equal to ~1e-16)."""
        return self.tf is Tf.RAW and self.norm is not Norm.L2


@dataclass(frozen=True)
class TopTerms:
    """The text's known terms (log-template tokens) with the largest positive contribution
    tf * idf * weight, at most `limit` of them, largest first (ties by term, bytewise),
    joined with ', ' ('' when none). `weight` is evaluated per vocabulary row: it reads the
    seed's weight columns by name and the row's values. The tf-idf is not normalised: a row's
    norm scales every contribution alike, so the choice and the order are the same."""

    name: str
    tokens: Tokens
    vocabulary: Seed
    weight: ast.Expr
    limit: int = 3

    def __post_init__(self) -> None:
        _identifier(self.name)
        if self.tokens.analyzer is not Analyzer.TEMPLATE or self.limit < 1:
            raise ValueError("top terms read a log template, at least one of them")

    def names(self) -> tuple[str, ...]:
        return (self.name,)

    def reads(self) -> set[str]:
        return refs(self.tokens.text) | (refs(self.weight) - set(self.vocabulary.column_names()))


@dataclass(frozen=True)
class Memoized:
    """`program` (one row, no source) depends on the row only through `key`, so it is
    evaluated once per distinct key; its outputs are bound under their names."""

    name: str
    key: Ref
    program: Program

    def __post_init__(self) -> None:
        _identifier(self.name)
        if self.program.source is not None:
            raise ValueError("a memoized program has no source: it reads the key")
        if self.program.free_names() != {self.key.name}:
            raise ValueError(f"{self.name} must read exactly its key {self.key.name}")

    def names(self) -> tuple[str, ...]:
        return self.program.output_names()

    def reads(self) -> set[str]:
        return {self.key.name}


@dataclass(frozen=True)
class TermCounts:
    """The text's known terms with their counts, as one text 'term=count,term=count' ordered
    by term ('' without a known term), each term as the vocabulary seed stores it
    (seed_text: plain or hex, never holding ',' or '='): two texts with the same vector get
    the same key, so a model memoized on it runs once per distinct vector."""

    name: str
    tokens: Tokens | WordGrams
    vocabulary: Seed

    def __post_init__(self) -> None:
        _identifier(self.name)

    def names(self) -> tuple[str, ...]:
        return (self.name,)

    def reads(self) -> set[str]:
        return refs(self.tokens.text)


@dataclass(frozen=True)
class ForestOverTerms:
    """Tree ensembles over a text's tf-idf vector x (read from the TermCounts key `counts`),
    stored as data (QuickScorer): per row, the leaf each tree reaches and, for every value
    column k of `leaves`, the sum over trees in tree order of the reached leaves' value_k,
    bound as sums[k].

    `nodes` has one row per split (feature_index, threshold, tree, mask): the split sends x
    right when x[feature_index] > threshold, and then no leaf of its left subtree can be
    reached; mask has a 0 for those leaves (leaves numbered left to right from 1). A tree's
    exit leaf is the first leaf left in the AND of the masks of the splits that send x
    right: leaf 1 when none does. Every threshold is >= 0, so a term absent from the text
    (x = 0) never sends right: only the text's known terms are joined. Thresholds are
    float64 already lifted so that x > threshold exactly when float32(x) > the tree's own
    threshold. `leaves` has leaf_id (tree * leaf_stride + leaf: one indexed key), tree, then
    the value columns; a tree without a split (a constant, such as a boosting's baseline) is
    one leaf, reached always. Trees are numbered from 0."""

    name: str
    counts: Ref
    vocabulary: Seed
    tf: Tf
    norm: Norm | None
    nodes: Seed
    leaves: Seed
    leaf_stride: int
    sums: tuple[str, ...]

    def __post_init__(self) -> None:
        _identifier(self.name)
        if self.vocabulary.column_names()[:3] != ("term", "feature_index", "idf"):
            raise ValueError(f"vocabulary {self.vocabulary.name} lacks term, feature_index, idf")
        if self.nodes.column_names() != ("feature_index", "threshold", "tree", "mask"):
            raise ValueError(f"{self.nodes.name}: feature_index, threshold, tree, mask")
        values = self.leaves.column_names()[2:]
        if self.leaves.column_names()[:2] != ("leaf_id", "tree") or len(values) != len(self.sums):
            raise ValueError(f"{self.leaves.name}: leaf_id, tree, then one column per sum")
        for row in self.leaves.rows:
            leaf = int(row[0]) - int(row[1]) * self.leaf_stride  # type: ignore[call-overload]
            if not 1 <= leaf < self.leaf_stride:
                raise ValueError(f"{self.leaves.name}: leaf_id is not tree * stride + leaf")
        if any(row[1] < 0 for row in self.nodes.rows):  # type: ignore[operator]
            raise ValueError("a threshold below 0 would send an absent term right")
        for name in self.sums:
            _identifier(name)

    def value_columns(self) -> tuple[str, ...]:
        return self.leaves.column_names()[2:]

    def first_leaves(self) -> list[tuple[float, ...]]:
        """Per tree in order, the values of its leaf 1 (where a text no split sends right
        exits)."""
        found = {int(r[1]): r[2:] for r in self.leaves.rows if int(r[0]) % self.leaf_stride == 1}  # type: ignore[call-overload]
        return [tuple(float(v) for v in found[t]) for t in range(len(found))]  # type: ignore[arg-type]

    def names(self) -> tuple[str, ...]:
        return self.sums

    def reads(self) -> set[str]:
        return {self.counts.name}


Binding = Let | TermSums | TopTerms | Memoized | TermCounts | ForestOverTerms


@dataclass(frozen=True)
class Program:
    """Per row of `source` (or one row, without a source): the bindings in order, then the
    outputs. Every name is bound once, before it is read; only a program without a source
    may read names it does not bind (those of the row it is evaluated for)."""

    source: Source | None
    bindings: tuple[Binding, ...]
    outputs: tuple[tuple[str, ast.Expr], ...]

    def __post_init__(self) -> None:
        if self.source is None and not self.bindings:
            raise ValueError("a program without a source needs a binding to read from")
        free = self.free_names()
        if free and self.source is not None:
            raise ValueError(f"unbound names: {sorted(free)}")

    def free_names(self) -> set[str]:
        """Names read before (or without) being bound; raises on a name bound twice."""
        bound = set(self.source.columns) if self.source else set()
        free: set[str] = set()
        labels: set[str] = set()
        for binding in self.bindings:
            if binding.name in labels:
                raise ValueError(f"two bindings named {binding.name}")
            labels.add(binding.name)
            free |= binding.reads() - bound
            for name in binding.names():
                if name in bound:
                    raise ValueError(f"{name} is bound twice")
                bound.add(name)
        names = [_identifier(n) for n, _ in self.outputs]
        if not names or len(set(names)) != len(names):
            raise ValueError("a program needs outputs with distinct names")
        for _, expr in self.outputs:
            free |= refs(expr) - bound
        return free

    def output_names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.outputs)

    def seeds(self) -> list[Seed]:
        """Every seed the program reads, in the order it reads them, once."""
        found = []
        if isinstance(self.source, LogFeatureRows):
            found.append(self.source.frequency)
            found += [s for s in (self.source.labels, self.source.trained) if s is not None]
            if self.source.templates is not None:
                found += [self.source.templates.masks, self.source.templates.known]
        for binding in self.bindings:
            if isinstance(binding, TermSums | TopTerms | TermCounts):
                found.append(binding.vocabulary)
            elif isinstance(binding, ForestOverTerms):
                found += [binding.vocabulary, binding.nodes, binding.leaves]
            elif isinstance(binding, Memoized):
                found += binding.program.seeds()
        return list({seed.name: seed for seed in found}.values())
