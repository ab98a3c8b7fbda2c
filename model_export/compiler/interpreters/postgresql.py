"""The PostgreSQL interpreter: the intermediate form (`ir`) -> the body of a dbt macro.

The only module of the compiler that writes SQL, and the jinja calls dbt resolves in it:
`{{ batch }}` (the macro's argument), `{{ ref('seed') }}`, and the project's hand-written
macros `{{ log_features(...) }}` and `{{ log_template(...) }}`. Another dialect is another
module with the same `render` and `column_type`.

Exactness: every float is a float8 literal printed with repr() (text -> float8 round-trips;
a bare 0.5 would be numeric: slower and not IEEE); only leaf ordinals are integers. Float32
is a float4 cast, compared with float8 thresholds: PostgreSQL promotes float4 to float8
exactly, which is scikit-learn's float32(X) <= threshold(float64).

Shapes (why, measured: docs/internals/compiler.md, "Speed"). A program is one SELECT: its source,
then one FROM item per binding, in order.
- Let: `cross join lateral unnest(array[row(...)]) as name (...)`. A function scan is never
  flattened into the outer query (a subquery would be, copying e.g. a 50-tree expression
  into every reference of its outputs), one call evaluates every column, and it is
  row-local (Citus pushes it down). Not `lateral (values (...))`: PostgreSQL flattens a
  one-row VALUES (90 s instead of 4.4 s).
- TermSums over the rows of a source: every row's tokens joined with the vocabulary seed,
  aggregated per row in one GROUP BY (set based: the fastest form found for a batch) and
  left-joined back, so a row without known terms keeps its row.
- TermSums in a program without a source (one row): the same aggregate without GROUP BY,
  which returns its one row even when no token is known; `from lateral <split>(...)`: the
  keyword is a no-op for PostgreSQL, but Citus moves a function scan it does not see as
  lateral into a subquery of its own and its outer reference then points one level too far.
- CASE is always searched (`case when x = 'A'`), never simple (`case x when 'A'`): Citus
  folds the WHEN test of a simple CASE to NULL when it evaluates a statement's stable
  functions on the coordinator (an INSERT ... SELECT with statement_timestamp()).
- Memoized: `cross join lateral (<program> offset 0) as name`. The subquery's only outer
  reference is the key, so PostgreSQL memoizes it: once per distinct key, a cache lookup
  otherwise. `offset 0` keeps it one subquery: a simple subquery is pulled up into the
  outer query and joined piece by piece, leaving nothing to memoize. A CTE used to do that,
  but Citus's deparser loses the CTEs of a lateral subquery; Citus pushes a correlated
  subquery down whole, OFFSET included.
- Expressions: one CASE condition per line, indented by depth; a chain of additions (a
  forest's sum) written flat, left to right: the order scikit-learn accumulates in.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

from m2cgen import ast

from model_export.compiler import ir

WIDTH = 100  # lists, literals and conditions longer than this are wrapped
TAB = "    "
_COMPARISONS = {
    ast.CompOpType.GT: ">",
    ast.CompOpType.GTE: ">=",
    ast.CompOpType.LT: "<",
    ast.CompOpType.LTE: "<=",
    ast.CompOpType.EQ: "=",
    ast.CompOpType.NOT_EQ: "<>",
}
_TYPES = {
    ir.DType.FLOAT64: "float8",
    ir.DType.FLOAT32: "float4",
    ir.DType.INT: "integer",
    ir.DType.TEXT: "text",
    ir.DType.BOOL: "boolean",
    ir.DType.BITS: "varbit",
}
_NAME = re.compile(r"[a-z_][a-z0-9_.]*")


def column_type(dtype: ir.DType) -> str:
    """The PostgreSQL type of a value (a seed's column, a bound value)."""
    return _TYPES[dtype]


def float_literal(value: float) -> str:
    """A float8 literal that PostgreSQL reads back as exactly `value`."""
    value = float(value)
    if math.isnan(value):
        return "'NaN'::float8"
    if math.isinf(value):
        return "'Infinity'::float8" if value > 0 else "'-Infinity'::float8"
    # A minus in parentheses: the cast binds tighter than the sign.
    return f"{value!r}::float8" if math.copysign(1.0, value) > 0 else f"({value!r})::float8"


def render(program: ir.Program) -> str:
    """The body of a macro `name(batch)`: one SELECT with one row per row of `batch`."""
    if program.source is None:
        raise ValueError("a macro scores the rows of its batch: the program needs a source")
    return _Query().program(program, {})


def expression(expr: ast.Expr, scope: Mapping[str, str]) -> str:
    """A scalar expression; `scope` maps each name it reads to SQL. Lines after the first are
    indented relative to the first."""
    return _Expression(scope)(expr)


def split_tokens(
    tokens: ir.Tokens | ir.WordGrams, scope: Mapping[str, str], token: str
) -> tuple[str, str]:
    """(a set-returning call splitting the text into candidate tokens, the condition on the
    column `token` that keeps the real ones)."""
    if isinstance(tokens, ir.WordGrams):
        return word_grams(tokens, scope), "true"
    text = expression(tokens.text, scope)
    if tokens.analyzer is ir.Analyzer.TEMPLATE:
        return f"string_to_table({text}, ' ')", f"{token} <> ''"
    # \W+ splits into maximal runs of word characters; runs shorter than 2 are dropped, which
    # is exactly the set of matches of (?u)\b\w\w+\b. Word characters and lower() follow the
    # database's collation here, Unicode in Python: see docs/internals/compiler.md.
    text = f"lower({text})" if tokens.lowercase else text
    return f"regexp_split_to_table({text}, '\\W+')", f"length({token}) >= 2"


def word_grams(grams: ir.WordGrams, scope: Mapping[str, str]) -> str:
    """A subquery of the text's word n-grams (one per row, column 1), as scikit-learn's
    _word_ngrams builds them: the tokens in text order less the stop words, then every run of
    n consecutive ones joined by ' '."""
    split, keep = split_tokens(grams.tokens, scope, "ngram_split.token")
    if grams.stop_words:
        words = ", ".join(expression(ir.Text(w), {}) for w in sorted(grams.stop_words))
        keep += f"\n{TAB}and ngram_split.token <> all(array[{words}])"
    return _subquery(
        "select array_to_string(\n"
        f"{TAB}ngram_words.words[ngram_start.i:ngram_start.i + ngram_n.n - 1], ' '\n)\n"
        "from (\n"
        f"{TAB}select array_agg(ngram_split.token order by ngram_split.position) as words\n"
        f"{TAB}from {_indent(split)} with ordinality as ngram_split (token, position)\n"
        f"{TAB}where {_indent(keep)}\n"
        ") as ngram_words\n"
        f"cross join generate_series({grams.n_min}, {grams.n_max}) as ngram_n (n)\n"
        "cross join generate_series(1, cardinality(ngram_words.words) - ngram_n.n + 1)"
        " as ngram_start (i)"
    )


def _indent(text: str, spaces: int = 4) -> str:
    return text.replace("\n", "\n" + " " * spaces)


def _atom(sql: str) -> str:
    """`sql` as the operand of a cast or a minus: a name, a call or a parenthesised whole as
    it is, anything else in parentheses."""
    name = _NAME.match(sql)
    start = name.end() if name else 0
    if start == len(sql):
        return sql
    if sql[start] == "(":
        depth = 0
        for position in range(start, len(sql)):
            depth += {"(": 1, ")": -1}.get(sql[position], 0)
            if depth == 0:
                return sql if position == len(sql) - 1 else f"({sql})"
    return f"({sql})"


def _fits(parts: Sequence[str], separator: str) -> bool:
    return all("\n" not in p for p in parts) and len(separator.join(parts)) <= WIDTH


def _exp(argument: str) -> str:
    """exp() that gives what numpy gives where PostgreSQL would stop the query: its float8
    exp() raises "value out of range" where the result underflows to 0 or overflows to
    infinity. Clamped to the arguments whose results are the smallest and largest finite
    doubles, it returns those instead (differences below 5e-324, or infinity itself)."""
    return _call("exp", [_call("least", [_call("greatest", [argument, "-745.133"]), "709.782"])])


def _call(name: str, args: Sequence[str]) -> str:
    if _fits(args, ", "):
        return f"{name}({', '.join(args)})"
    return f"{name}(\n{TAB}" + f",\n{TAB}".join(_indent(a) for a in args) + "\n)"


def _wrapped(items: Sequence[str], separator: str = ", ", width: int = WIDTH) -> str:
    """Items on as few lines of at most `width` characters as they fit on."""
    lines = [items[0]]
    for item in items[1:]:
        if len(lines[-1]) + len(separator) + len(item) > width:
            lines[-1] += separator.rstrip()
            lines.append(item)
        else:
            lines[-1] += separator + item
    return "\n".join(lines)


def _when(conditions: Sequence[str], value: str) -> str:
    """A WHEN branch: on one line when its conditions fit, else one condition per line;
    lines after the first are indented relative to the WHEN."""
    head = f"when {' and '.join(conditions)} then "
    if "\n" not in head and len(head) + len(value.split("\n", 1)[0]) <= WIDTH:
        return head + value
    conditions = [_indent(c) for c in conditions]
    return (
        f"when {conditions[0]}\n"
        + "".join(f"{TAB}and {c}\n" for c in conditions[1:])
        + (f"{TAB}then {_indent(value)}")
    )


class _Expression:
    """Scalar nodes -> SQL (dispatch on the node's class name, as m2cgen's interpreters do)."""

    def __init__(self, scope: Mapping[str, str]) -> None:
        self.scope = scope

    def __call__(self, expr: ast.Expr) -> str:
        method = getattr(self, f"_{type(expr).__name__}", None)
        if method is None:
            raise NotImplementedError(f"{type(expr).__name__} has no PostgreSQL form")
        return str(method(expr))

    def _NumVal(self, expr: ast.NumVal) -> str:
        return str(expr.value) if isinstance(expr.value, int) else float_literal(expr.value)

    def _Ref(self, expr: ir.Ref) -> str:
        if expr.name not in self.scope:
            raise ValueError(f"{expr.name} is not bound here")
        return self.scope[expr.name]

    def _Text(self, expr: ir.Text) -> str:
        return "'" + expr.value.replace("'", "''") + "'"

    def _Bool(self, expr: ir.Bool) -> str:
        return "true" if expr.value else "false"

    def _Float32(self, expr: ir.Float32) -> str:
        return f"{_atom(self(expr.expr))}::float4"

    def _BinNumExpr(self, expr: ast.BinNumExpr) -> str:
        if expr.op is not ast.BinNumOpType.ADD:
            return f"({self(expr.left)} {expr.op.value} {self(expr.right)})"
        # A left-deep chain of additions is written flat: PostgreSQL adds left to right.
        terms: list[ast.Expr] = []
        node: ast.Expr = expr
        while isinstance(node, ast.BinNumExpr) and node.op is ast.BinNumOpType.ADD:
            terms.append(node.right)
            node = node.left
        parts = [self(t) for t in [node, *reversed(terms)]]
        if _fits(parts, " + "):
            return f"({' + '.join(parts)})"
        return f"(\n{TAB}" + f"\n{TAB}+ ".join(_indent(p) for p in parts) + "\n)"

    def _CompExpr(self, expr: ast.CompExpr) -> str:
        return f"{self(expr.left)} {_COMPARISONS[expr.op]} {self(expr.right)}"

    def _IfExpr(self, expr: ast.IfExpr) -> str:
        # An IfExpr in an else branch is one more WHEN of the same CASE (same meaning, one
        # level less of indentation).
        lines = ["case"]
        node: ast.Expr = expr
        while isinstance(node, ast.IfExpr):
            lines.append(TAB + _indent(_when([self(node.test)], self(node.body))))
            node = node.orelse
        lines += [f"{TAB}else {_indent(self(node))}", "end"]
        return "\n".join(lines)

    def _Argmax(self, expr: ir.Argmax) -> str:
        # values[k] when score k beats every earlier score and ties or beats every later one:
        # the first index of the largest, as numpy's argmax.
        scores = [self(s) for s in expr.scores]
        values = [self(v) for v in expr.values]
        if len(values) == 1:
            return values[0]
        lines = ["case"]
        for k in range(len(scores) - 1):
            conditions = [f"{scores[k]} > {scores[j]}" for j in range(k)]
            conditions += [f"{scores[k]} >= {scores[j]}" for j in range(k + 1, len(scores))]
            lines.append(TAB + _indent(_when(conditions, values[k])))
        lines += [f"{TAB}else {_indent(values[-1])}", "end"]
        return "\n".join(lines)

    def _Lookup(self, expr: ir.Lookup) -> str:
        # A constant array literal: parsed once per query, not per row. PostgreSQL ignores
        # the whitespace between elements, so long tables wrap.
        # (80: room for the indentation and the subscript around it)
        table = _wrapped([repr(float(v)) for v in expr.table], ",", 80)
        return f"('{{{_indent(table, 3)}}}'::float8[])[{self(expr.index)}]"

    def _Max(self, expr: ir.Max) -> str:
        return _call("greatest", [self(e) for e in expr.exprs])

    def _PowExpr(self, expr: ast.PowExpr) -> str:
        return _call("power", [self(expr.base_expr), self(expr.exp_expr)])

    def _ExpExpr(self, expr: ast.ExpExpr) -> str:
        return _exp(self(expr.expr))

    def _SigmoidExpr(self, expr: ast.SigmoidExpr) -> str:
        one = float_literal(1.0)
        return f"({one} / ({one} + {_exp('-' + _atom(self(expr.expr)))}))"

    def _Concat(self, expr: ir.Concat) -> str:
        return " || ".join(self(p) for p in expr.parts)

    def _Digits(self, expr: ir.Digits) -> str:
        return f"floor({self(expr.expr)})::bigint::text"

    # bring-your-own pipelines: tabular inputs

    def _NumberColumn(self, expr: ir.NumberColumn) -> str:
        value = f"{_atom(self(expr.column))}::float8"
        if expr.missing is None:
            return f"coalesce({value}, {float_literal(math.nan)})"
        return f"coalesce(nullif({value}, {float_literal(math.nan)}), {self(expr.missing)})"

    def _TextColumn(self, expr: ir.TextColumn) -> str:
        return f"{_atom(self(expr.column))}::text"

    def _IsNaN(self, expr: ir.IsNaN) -> str:
        # PostgreSQL's NaN equals NaN (and sorts above every number).
        return f"{_atom(self(expr.expr))} = {float_literal(math.nan)}"

    def _IsNull(self, expr: ir.IsNull) -> str:
        return f"{_atom(self(expr.expr))} is null"

    def _Or(self, expr: ir.Or) -> str:
        return f"({self(expr.left)} or {self(expr.right)})"

    def _Fail(self, expr: ir.Fail) -> str:
        # No RAISE in plain SQL: casting the message to float8 stops the query with
        # `invalid input syntax for type double precision: "<message><value>"`.
        message = self(ir.Text(expr.message))
        return f"({message} || coalesce({self(expr.value)}, 'NULL'))::float8"

    def _LogExpr(self, expr: ast.LogExpr) -> str:
        return _call("ln", [self(expr.expr)])

    def _AbsExpr(self, expr: ast.AbsExpr) -> str:
        return _call("abs", [self(expr.expr)])

    def _LogTemplate(self, expr: ir.LogTemplate) -> str:
        text = self(expr.text)
        if "'" in text:
            raise ValueError(f"cannot pass {text} to the log_template macro")
        return "{{ log_template('" + text + "') }}"


def _source(source: ir.Source) -> tuple[str, str]:
    """(the relation, its alias's stem)."""
    if isinstance(source, ir.Batch):
        return "{{ batch }}", "logs"
    template = ", with_template=true" if source.with_template else ""
    if source.history_key:
        template = f", history_version='{source.history_key}', history=history"
    if source.labels:
        template += f", labels_seed='{source.labels.name}'"
    if source.trained:
        template += f", trained_seed='{source.trained.name}'"
    if source.templates:
        seeds = source.templates
        template += (
            f", templates={{'masks': '{seeds.masks.name}', 'known': '{seeds.known.name}',"
            f" 'version': {seeds.version}}}"
        )
    return f"({{{{ log_features(batch, '{source.frequency.name}'{template}) }}}})", "features"


def stored_text(text: str) -> str:
    """SQL of ir.seed_text: a text as a seed's CSV stores it (plain, or TEXT_ESCAPE + the hex
    of its UTF-8 bytes), to look a seed's row up by its index."""
    prefix = expression(ir.Text(ir.TEXT_ESCAPE), {})
    words = ", ".join(expression(ir.Text(w), {}) for w in sorted(ir._NULL_WORDS))
    return (
        f"case when {text} ~ '^[A-Za-z0-9_]+$' and lower({text}) not in ({words}) then {text}"
        f" else {prefix} || encode(convert_to({text}, 'UTF8'), 'hex') end"
    )


def seed_relation(seed: ir.Seed) -> str:
    """The seed as a relation whose text columns hold the values as written (ir.seed_text):
    the table itself when no cell is escaped, else a subquery decoding the escaped ones. The
    subquery is pulled up into the join, so the vocabulary is still hashed once per query."""
    table = "{{ ref('" + seed.name + "') }}"
    escaped = seed.escaped_columns()
    if not escaped:
        return table
    length = len(ir.TEXT_ESCAPE)
    prefix = expression(ir.Text(ir.TEXT_ESCAPE), {})
    columns = [
        (
            f"case when left({c}, {length}) = {prefix}"
            f" then convert_from(decode(substr({c}, {length + 1}), 'hex'), 'UTF8') else {c} end"
            f" as {c}"
            if c in escaped
            else c
        )
        for c in seed.column_names()
    ]
    return _subquery(f"{_select(columns)}\nfrom {table}")


def _select(columns: Sequence[str]) -> str:
    if _fits(columns, ", "):
        return f"select {', '.join(columns)}"
    return "select\n" + ",\n".join(TAB + c for c in columns)


def _subquery(select: str) -> str:
    return f"(\n{TAB}{_indent(select)}\n)"


class _Query:
    """Programs -> SELECTs; gives every relation of the statement its own alias."""

    def __init__(self) -> None:
        self._aliases: set[str] = set()

    def _alias(self, stem: str) -> str:
        alias, n = stem, 1
        while alias in self._aliases:
            n += 1
            alias = f"{stem}_{n}"
        self._aliases.add(alias)
        return alias

    def program(self, program: ir.Program, outer: Mapping[str, str]) -> str:
        scope = dict(outer)
        items: list[str] = []
        source = ""
        if program.source is not None:
            relation, stem = _source(program.source)
            source = self._alias(stem)
            items.append(f"from {relation} as {source}")
            scope.update({c: f"{source}.{c}" for c in program.source.columns})
        for binding in program.bindings:
            self._bind(binding, program, source, scope, items)
        columns = []
        for name, expr in program.outputs:
            sql = expression(expr, scope)
            columns.append(sql if sql.endswith(f".{name}") else f"{sql} as {name}")
        select = ",\n".join(TAB + _indent(c) for c in columns)
        return f"select\n{select}\n" + "\n".join(items)

    def _bind(
        self,
        binding: ir.Binding,
        program: ir.Program,
        source: str,
        scope: dict[str, str],
        items: list[str],
    ) -> None:
        alias = self._alias(binding.name)
        if isinstance(binding, ir.Let):
            join, relation = "cross join lateral", self._let(binding, alias, scope)
            scope.update({n: f"{alias}.{n}" for n in binding.names()})
        elif isinstance(binding, ir.TermSums):
            join, relation = (
                "cross join lateral",
                self._term_sums(binding, alias, scope, program),
            )
            if program.source is not None:
                join = "left join"
                relation += f" on {alias}.log_entry_id = {source}.log_entry_id"
            # A row without known terms has no sums (or no row to join): 0, as in sklearn.
            divide, zero = f" / {alias}.norm" if binding.norm else "", float_literal(0.0)
            scope.update({n: f"coalesce({alias}.{n}{divide}, {zero})" for n in binding.names()})
        elif isinstance(binding, ir.TermCounts | ir.ForestOverTerms):
            if program.source is not None:
                raise ValueError(f"{binding.name}: evaluated once per text, in a memoized program")
            relation = (
                self._term_counts(binding, alias, scope)
                if isinstance(binding, ir.TermCounts)
                else self._forest(binding, alias, scope)
            )
            join = "cross join lateral"
            scope.update({n: f"{alias}.{n}" for n in binding.names()})
        elif isinstance(binding, ir.TopTerms):
            join, relation = "cross join lateral", self._top_terms(binding, alias, scope)
            scope.update({n: f"{alias}.{n}" for n in binding.names()})
        else:
            join, relation = self._memoized(binding, alias, scope)
            scope.update({n: f"{alias}.{n}" for n in binding.names()})
        items.append(f"{join} {relation}" if items else f"from {relation}")

    def _let(self, let: ir.Let, alias: str, scope: Mapping[str, str]) -> str:
        values = [expression(e, scope) for _, e in let.columns]
        names = [f"{n} {column_type(let.dtype)}" for n in let.names()]
        inline = f"unnest(array[row({', '.join(values)})]) as {alias} ({', '.join(names)})"
        if _fits([inline], ""):
            return inline
        row = f",\n{TAB}".join(_indent(v) for v in values)
        columns = ", ".join(names)
        if len(f")]) as {alias} ({columns})") > WIDTH:
            columns = f"\n{TAB}{_indent(_wrapped(names))}\n"
        return f"unnest(array[row(\n{TAB}{row}\n)]) as {alias} ({columns})"

    def _top_terms(self, top: ir.TopTerms, alias: str, scope: Mapping[str, str]) -> str:
        tokens, vocabulary, terms = self._alias("tokens"), self._alias("vocabulary"), alias
        inner = self._alias(f"{alias}_ranked")
        columns = {c: f"{vocabulary}.{c}" for c in top.vocabulary.column_names()}
        weight = expression(top.weight, {**scope, **columns})
        split, keep = split_tokens(top.tokens, scope, f"{tokens}.token")
        # bytewise ties (collate "C"), as Python orders strings
        ranked = _subquery(
            f"select {vocabulary}.term, sum({vocabulary}.idf * {_atom(weight)}) as contribution\n"
            f"from lateral {split} as {tokens} (token)\n"
            f"inner join {seed_relation(top.vocabulary)} as {vocabulary}\n"
            f"{TAB}on {vocabulary}.term = {tokens}.token\n"
            f"where {keep}\n"
            f"group by {vocabulary}.term\n"
            f'order by contribution desc, {vocabulary}.term collate "C"\n'
            f"limit {top.limit}"
        )
        aggregate = (
            f"coalesce(string_agg({inner}.term, ', '"
            f" order by {inner}.contribution desc, {inner}.term collate \"C\"), '')"
        )
        select = (
            f"select {aggregate} as {top.name}\nfrom {ranked} as {inner}\n"
            f"where {inner}.contribution > {float_literal(0.0)}"
        )
        return f"{_subquery(select)} as {terms}"

    def _memoized(
        self, memoized: ir.Memoized, alias: str, scope: Mapping[str, str]
    ) -> tuple[str, str]:
        key = scope[memoized.key.name]
        select = self.program(memoized.program, {memoized.key.name: key})
        # offset 0 keeps PostgreSQL from pulling the subquery up into the outer query, where
        # its parts would be joined one by one and nothing would be left to memoize.
        comment = (
            f"-- Once per distinct {key}: the subquery reads nothing else of the row,\n"
            "-- so PostgreSQL memoizes it (offset 0 keeps it one subquery).\n"
        )
        return (
            f"{comment}cross join lateral",
            f"{_subquery(select + chr(10) + 'offset 0')} as {alias}",
        )

    def _term_sums(
        self, sums: ir.TermSums, alias: str, scope: Mapping[str, str], program: ir.Program
    ) -> str:
        """The sums of the weighted tokens: per row of the program's source (grouped by
        log_entry_id), or for the one row of a program without a source."""
        for reserved in ("norm", "log_entry_id"):
            if reserved in sums.names():
                raise ValueError(f"TermSums {sums.name}: a sum cannot be named {reserved}")
        w = self._alias(f"{alias}_weighted")
        aggregates = []
        if program.source is not None:
            aggregates.append(f"{w}.log_entry_id")
        if sums.norm is ir.Norm.L1:
            aggregates.append(f"sum(abs({w}.x)) as norm")
        elif sums.norm is ir.Norm.L2:
            aggregates.append(f"sqrt(sum({w}.x * {w}.x)) as norm")
        for name, weight in sums.sums:
            if isinstance(weight, str):
                aggregates.append(f"sum({w}.x * {w}.{weight}) as {name}")
            else:
                aggregates.append(
                    f"sum({w}.x) filter (where {w}.feature_index = {weight}) as {name}"
                )
        weighted = _subquery(self._weighted(sums, scope, program.source))
        group = f"\ngroup by {w}.log_entry_id" if program.source is not None else ""
        select = ",\n".join(TAB + a for a in aggregates)
        return _subquery(f"select\n{select}\nfrom {weighted} as {w}{group}") + f" as {alias}"

    def _weighted(
        self, sums: ir.TermSums, scope: Mapping[str, str], source: ir.Source | None
    ) -> str:
        """One row per token occurrence (or, when the sums need term counts, per distinct
        term of a row) known to the vocabulary: x, its tf-idf value before normalisation, and
        the vocabulary columns the sums read; with a source, the row's log_entry_id first."""
        tokens, vocabulary = self._alias("tokens"), self._alias("vocabulary")
        # LATERAL written out: the text is the outer row's; Citus wraps a function scan it
        # does not see as lateral in a subquery and loses that outer reference.
        rows, key = "from lateral ", []
        if source is not None:
            relation, stem = _source(source)
            logs = self._alias(stem)
            rows = f"from {relation} as {logs}\ncross join lateral "
            scope = {c: f"{logs}.{c}" for c in source.columns}
            key = [f"{logs}.log_entry_id"]
        split, keep = split_tokens(sums.tokens, scope, f"{tokens}.token")
        token_rows = f"{rows}{split} as {tokens} (token)"
        weights = [f"{vocabulary}.{w}" for _, w in sums.sums if isinstance(w, str)]
        if any(isinstance(w, int) for _, w in sums.sums):
            weights.append(f"{vocabulary}.feature_index")
        seed = seed_relation(sums.vocabulary)
        join = f"inner join {seed} as {vocabulary}\n{TAB}on {vocabulary}.term"
        if sums.per_occurrence():
            select = _select([*key, f"{vocabulary}.idf as x", *weights])
            return f"{select}\n{token_rows}\n{join} = {tokens}.token\nwhere {keep}"
        counts = self._alias("counts")
        grouped = ", ".join([*key, f"{tokens}.token"])
        counted = _subquery(
            f"select {grouped} as term, count(*) as tf\n{token_rows}\nwhere {keep}\n"
            f"group by {grouped}"
        )
        tf = {
            ir.Tf.RAW: f"{counts}.tf::float8",
            ir.Tf.BINARY: float_literal(1.0),
            ir.Tf.SUBLINEAR: f"(ln({counts}.tf::float8) + {float_literal(1.0)})",
        }[sums.tf]
        key = [f"{counts}.log_entry_id"] if key else []
        select = _select([*key, f"{tf} * {vocabulary}.idf as x", *weights])
        return f"{select}\nfrom {counted} as {counts}\n{join} = {counts}.term"

    # --- bring-your-own pipelines ---

    def _lookup(self, seed: ir.Seed, columns: str, condition: str) -> str:
        """A lateral subquery reading `seed` by an index lookup per outer row (offset 0 keeps
        it one subquery: pulled up, it could become a hash join that reads the whole seed
        again for every distinct text of a memoized program). The seed is read as stored:
        a text is compared in its stored form (stored_text), which the index holds."""
        table = "{{ ref('" + seed.name + "') }}"
        return _subquery(
            f"select {columns}\nfrom {table} as {seed.name}\nwhere {condition}\noffset 0"
        )

    def _term_counts(self, counts: ir.TermCounts, alias: str, scope: Mapping[str, str]) -> str:
        tokens, known = self._alias("tokens"), self._alias("known")
        split, keep = split_tokens(counts.tokens, scope, f"{tokens}.token")
        vocabulary = counts.vocabulary.name
        stored = stored_text(f"{tokens}.token")
        term = self._lookup(counts.vocabulary, "term", f"{vocabulary}.term = {stored}")
        select = (
            f"select coalesce(string_agg({known}.term || '=' || {known}.tf, ','"
            f" order by {known}.term collate \"C\"), '') as {counts.name}\n"
            + "from "
            + _subquery(
                f"select {stored} as term, count(*) as tf\n"
                f"from lateral {split} as {tokens} (token)\n"
                f"where {keep} and exists {term}\ngroup by {tokens}.token"
            )
            + f" as {known}"
        )
        return f"{_subquery(select)} as {alias}"

    def _forest(self, forest: ir.ForestOverTerms, alias: str, scope: Mapping[str, str]) -> str:
        """The leaf sums of ir.ForestOverTerms for the one row of a memoized program: the
        terms and counts of the key, their tf-idf values (normalised by a window over the
        terms), the splits they send right, the AND of those splits' masks per tree and its
        first 1, the exit leaf, looked up for those trees only; every other tree exits at
        its leaf 1, whose values are a constant array. The values are summed in tree order
        (sum(... order by tree): scikit-learn's order, so ties between classes break the
        same way)."""
        pairs, x, vocabulary = self._alias("pairs"), self._alias("x"), self._alias("vocabulary")
        nodes, right = self._alias("nodes"), self._alias("sent_right")
        firsts, reached, leaves = (
            self._alias("first_leaves"),
            self._alias("reached"),
            self._alias("leaves"),
        )
        count = f"split_part({pairs}.pair, '=', 2)::float8"
        tf = {
            ir.Tf.RAW: count,
            ir.Tf.BINARY: float_literal(1.0),
            ir.Tf.SUBLINEAR: f"(ln({count}) + {float_literal(1.0)})",
        }[forest.tf]
        value = f"{tf} * {vocabulary}.idf"
        norm = {
            None: "",
            ir.Norm.L1: f" / sum(abs({value})) over ()",
            ir.Norm.L2: f" / sqrt(sum(({value}) * ({value})) over ())",
        }[forest.norm]
        v = forest.vocabulary.name
        term = self._lookup(
            forest.vocabulary, "feature_index, idf", f"{v}.term = split_part({pairs}.pair, '=', 1)"
        )
        known = _subquery(
            f"select {vocabulary}.feature_index, {value}{norm} as x\n"
            f"from unnest(string_to_array({scope[forest.counts.name]}, ',')) as {pairs} (pair)\n"
            f"cross join lateral {term} as {vocabulary}"
        )
        n = forest.nodes.name
        splits = self._lookup(
            forest.nodes,
            "tree, mask",
            f"{n}.feature_index = {x}.feature_index and {n}.threshold < {x}.x",
        )
        sent_right = _subquery(
            f"select {nodes}.tree, bit_and({nodes}.mask) as mask\n"
            f"from {known} as {x}\ncross join lateral {splits} as {nodes}\n"
            f"group by {nodes}.tree"
        )
        columns = forest.value_columns()
        exit_leaf = f"{right}.tree * {forest.leaf_stride} + position(B'1' in {right}.mask)"
        leaf = self._lookup(
            forest.leaves, ", ".join(columns), f"{forest.leaves.name}.leaf_id = {exit_leaf}"
        )
        hits = _subquery(
            f"select {right}.tree, {', '.join(f'{leaves}.{c}' for c in columns)}\n"
            f"from {sent_right} as {right}\ncross join lateral {leaf} as {leaves}"
        )
        defaults = forest.first_leaves()
        arrays = ",\n".join(
            "'{"
            + _indent(_wrapped([repr(row[k]) for row in defaults], ",", 80), 1)
            + "}'::float8[]"
            for k in range(len(columns))
        )
        sums = ",\n".join(
            f"{TAB}sum(coalesce({reached}.{c}, {firsts}.{c}) order by {firsts}.tree) as {name}"
            for c, name in zip(columns, forest.sums, strict=True)
        )
        select = (
            f"select\n{sums}\n"
            f"from unnest(\n{TAB}{_indent(arrays)}\n)"
            f" with ordinality as {firsts} ({', '.join(columns)}, tree)\n"
            f"left join {hits} as {reached} on {reached}.tree = {firsts}.tree - 1"
        )
        return f"{_subquery(select)} as {alias}"
