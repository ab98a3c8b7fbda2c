"""Log templates: which lines are "the same message" (docs/internals/templates.md).

A model version records which template assignment it uses (`version`), so a registered
version keeps scoring exactly as it was trained:

- version 1, TokenTemplates: tokenizer.log_template (lowercased [a-zA-Z0-9] runs, tokens with a
  digit as NUM). Variable words stay: every user name makes a template of its own.
- version 2, LearnedTemplates: learned at training time, in the spirit of Drain. A line's
  tokens are its whitespace-separated words, a word with a digit written <*> (its shape).
  Lines with the same number of tokens form a group; a group is split by the position with
  the fewest distinct values, recursively, while that position tells events apart; a position
  that takes many values without telling anything apart becomes a wildcard. Templates that
  differ only where one of them has a wildcard are then merged.
- version 3, LearnedTemplates(version=3): version 2 on a shape where a value keeps its unit:
  a unit word after a <*> ("1 sec", "3 KB)") and a further value with its unit ("1190 bytes
  (1.16 KB)") are part of that <*>. So "0 bytes sent" and "1190 bytes (1.16 KB) sent" have one
  shape and one template, as one event logged with a value of another size.

What a version-2 model keeps is two small tables: per token count, the wildcard masks it
learned (bit strings, most specific first), and the md5 of every template it learned. A line
gets the first mask of its token count whose masked text is a learned template, and its
shape text (digit words as <*>) when none is: a line of a group never seen in training
still gets a template. Only equality lookups, so the SQL twin (macros/templates.sql) is
row-local and exact.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from model_export.training.tokenizer import log_template

TOKEN_TEMPLATES = 1
LEARNED_TEMPLATES = 2
UNIT_VALUES = 3
WILDCARD = "<*>"
# ASCII whitespace only: Python's \s and PostgreSQL's [[:space:]] disagree beyond it.
_SPACE = "[ \t\n\r\f\v]"
# A whole word holding a digit: greedy (Python) and longest (PostgreSQL) agree on a maximal run.
_DIGIT_WORD = re.compile(f"[^{_SPACE[1:-1]}]*[0-9][^{_SPACE[1:-1]}]*")
_SPACES = re.compile(f"{_SPACE}+")
# Version 3: a <*> word followed by units, or by <*> and a unit, one or more times: the <*> is
# kept and the rest goes. Units of size, time and share (any ASCII case), optionally opening
# with "(" and closing with )]},;:. The same pattern, flags ASCII and ignore case, is the SQL
# twin's (macros/templates.sql); each alternative matches a whole word (the lookahead), so
# PostgreSQL's longest match and Python's first match agree. % is written \x25: a query that
# also takes parameters would read a % as a placeholder.
UNIT_VALUE_PATTERN = (
    r"(^| )<\*>(?: (?:<\*> )?\(?(?:(?:[kmgtp]i?)?b|bytes?|[mun]?s|secs?|seconds?|mins?|minutes?"
    r"|hrs?|hours?|h|days?|\x25)[])},;:.]*(?= |$))+"
)
_UNIT_VALUE = re.compile(UNIT_VALUE_PATTERN, re.ASCII | re.IGNORECASE)


def md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def shape_text(text: str, version: int = UNIT_VALUES) -> str:
    """The whitespace-separated words of a line joined by single spaces, each word holding a
    digit as <*> (from version 3 with its units): the template of a line no learned template
    fits."""
    shape = " ".join(t for t in _SPACES.split(_DIGIT_WORD.sub(WILDCARD, text)) if t)
    return _UNIT_VALUE.sub(rf"\1{WILDCARD}", shape) if version >= UNIT_VALUES else shape


def shape_tokens(text: str, version: int = UNIT_VALUES) -> list[str]:
    shape = shape_text(text, version)
    return shape.split(" ") if shape else []


class TokenTemplates:
    """Template version 1: tokenizer.log_template (every version registered before #21)."""

    version = TOKEN_TEMPLATES

    def template(self, text: str) -> str:
        return log_template(text)

    def hash(self, text: str) -> str:
        return hashlib.md5(log_template(text).encode("ascii")).hexdigest()

    def hashes(self, texts: Iterable[str]) -> list[str]:
        return [self.hash(t) for t in texts]

    def summary(self) -> dict[str, object]:
        return {"version": self.version, "kind": "log_template"}


def _words(tokens: Sequence[str]) -> int:
    return sum(t != WILDCARD for t in tokens)


class LearnedTemplates(BaseEstimator):
    """Template versions 2 and 3 (see the module's docstring; `version`: 3 for every new fit, 2
    for a detector saved before). The constants were chosen on the first half of each loghub
    sample (trained on its first quarter, judged on its second), never on the half that
    docs/internals/templates.md reports (version 3 against 2 was judged there too):

    - few_values: a position with at most this many values in a group always splits it
      (GET/POST/DELETE, opened/closed): 3 beat 2 and 4;
    - min_evidence: a split position must tell apart children of at least this many lines
      each (a constant elsewhere that differs), else it is a wildcard (user names);
    - keep_share: two templates merge only if the merged one keeps this share of the words
      of each (no merge was better than 1/3, 1/2 or 2/3 on that half; they tie).
    """

    def __init__(
        self,
        few_values: int = 3,
        min_evidence: int = 2,
        keep_share: float = 0.5,
        version: int = UNIT_VALUES,
    ):
        self.few_values = few_values
        self.min_evidence = min_evidence
        self.keep_share = keep_share
        self.version = version

    def __setstate__(self, state: dict[str, object]) -> None:
        state.setdefault("version", LEARNED_TEMPLATES)  # saved before version 3
        super().__setstate__(state)

    def fit(self, texts: Iterable[str], y: object = None) -> LearnedTemplates:
        groups: dict[int, set[tuple[str, ...]]] = defaultdict(set)
        for text in texts:
            tokens = tuple(shape_tokens(str(text), self.version))
            if tokens:
                groups[len(tokens)].add(tokens)
        masks: dict[int, list[str]] = {}
        known: set[str] = set()
        for count in sorted(groups):
            leaves: list[tuple[tuple[str, ...], frozenset[int]]] = []
            self._partition(sorted(groups[count]), frozenset(), leaves)
            merged = self._merge(leaves)
            for tokens, _ in merged:
                known.add(md5(" ".join(tokens)))
            bits = {"".join("1" if i in wild else "0" for i in range(count)) for _, wild in merged}
            # most specific first: fewest wildcards, then the leftmost
            masks[count] = sorted(bits, key=lambda m: (m.count("1"), m[::-1]))
        self.masks_ = masks
        self.known_ = frozenset(known)
        return self

    def _partition(
        self,
        lines: list[tuple[str, ...]],
        wild: frozenset[int],
        leaves: list[tuple[tuple[str, ...], frozenset[int]]],
    ) -> None:
        values = {
            q: Counter(line[q] for line in lines) for q in range(len(lines[0])) if q not in wild
        }
        varying = [q for q, seen in values.items() if len(seen) > 1]
        if not varying:
            leaves.append(
                (tuple(WILDCARD if i in wild else t for i, t in enumerate(lines[0])), wild)
            )
            return
        position = min(varying, key=lambda q: (len(values[q]), q))
        children: dict[str, list[tuple[str, ...]]] = defaultdict(list)
        for line in lines:
            children[line[position]].append(line)
        # a wildcard here must leave a word that every line of the group shares
        anchored = any(
            len(seen) == 1 and WILDCARD not in seen for q, seen in values.items() if q != position
        )
        if (
            len(children) <= self.few_values
            or not anchored
            or self._tells_apart(list(children.values()), wild | {position})
        ):
            for child in children.values():
                self._partition(child, wild, leaves)
        else:
            self._partition(lines, wild | {position}, leaves)

    def _tells_apart(self, children: list[list[tuple[str, ...]]], skip: frozenset[int]) -> bool:
        """Whether two children of enough lines each have different constants somewhere else."""
        constants = []
        for child in children:
            if len(child) >= self.min_evidence:
                constants.append(
                    {
                        q: child[0][q]
                        for q in range(len(child[0]))
                        if q not in skip and all(line[q] == child[0][q] for line in child)
                    }
                )
        return any(
            any(q in b and b[q] != value for q, value in a.items())
            for i, a in enumerate(constants)
            for b in constants[i + 1 :]
        )

    def _mergeable(
        self, a: tuple[tuple[str, ...], frozenset[int]], b: tuple[tuple[str, ...], frozenset[int]]
    ) -> tuple[tuple[str, ...], frozenset[int]] | None:
        """The merge of two templates of one group: where they differ one of them has a
        wildcard, at least one of those a learned one (a digit word against a word is no
        evidence of a variable alone), and the merge keeps keep_share of each one's words."""
        (ta, wa), (tb, wb) = a, b
        differ = [i for i, (x, y) in enumerate(zip(ta, tb, strict=True)) if x != y]
        if not all(WILDCARD in (ta[i], tb[i]) for i in differ):
            return None
        if not any(i in wa or i in wb for i in differ):
            return None
        tokens = tuple(WILDCARD if i in differ else t for i, t in enumerate(ta))
        words = _words(tokens)
        if words == 0 or words < self.keep_share * max(_words(ta), _words(tb)):
            return None
        return tokens, wa | wb | frozenset(differ)

    def _merge(
        self, leaves: list[tuple[tuple[str, ...], frozenset[int]]]
    ) -> list[tuple[tuple[str, ...], frozenset[int]]]:
        templates = sorted(set(leaves), key=lambda t: (t[0], sorted(t[1])))
        merged = True
        while merged:
            merged = False
            for i, a in enumerate(templates):
                for j in range(i + 1, len(templates)):
                    found = self._mergeable(a, templates[j])
                    if found is not None:
                        rest = templates[:i] + templates[i + 1 : j] + templates[j + 1 :]
                        templates = sorted(set([*rest, found]), key=lambda t: (t[0], sorted(t[1])))
                        merged = True
                        break
                if merged:
                    break
        return templates

    def template(self, text: str) -> str:
        tokens = shape_tokens(text, self.version)
        for mask in self.masks_.get(len(tokens), ()):
            candidate = " ".join(
                WILDCARD if bit == "1" else t for bit, t in zip(mask, tokens, strict=True)
            )
            if md5(candidate) in self.known_:
                return candidate
        return " ".join(tokens)

    def hash(self, text: str) -> str:
        return md5(self.template(text))

    def templates(self, texts: Iterable[str]) -> list[str]:
        """template() of each text, computed once per distinct shape text."""
        found: dict[str, str] = {}
        out = []
        for text in texts:
            shape = shape_text(text, self.version)
            if shape not in found:
                found[shape] = self.template(shape)
            out.append(found[shape])
        return out

    def hashes(self, texts: Iterable[str]) -> list[str]:
        return [md5(t) for t in self.templates(texts)]

    def summary(self) -> dict[str, object]:
        """What the registry and the model card record of it."""
        return {
            "version": self.version,
            "kind": "learned",
            "templates": len(self.known_),
            "masks": sum(len(m) for m in self.masks_.values()),
            "settings": {k: v for k, v in self.get_params().items() if k != "version"},
        }


Templates = TokenTemplates | LearnedTemplates


def templates_of(detector: object) -> Templates:
    """The template assignment a fitted detector (or its Pipeline) counts its history by:
    LearnedTemplates where it learned some, else version 1 (every version saved before)."""
    step = detector.steps[-1][1] if isinstance(detector, Pipeline) else detector
    found = getattr(step, "templates", None)
    return found if isinstance(found, LearnedTemplates) else TokenTemplates()
