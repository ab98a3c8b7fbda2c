"""What compile_pipeline accepts: the one table of supported scikit-learn steps. Refusals
name the step and list these; the docs page docs/internals/supported-steps.md is generated
from it by dev/docs/reference.py (`make docs-site` writes it, `make lint` checks it).
"""

from __future__ import annotations

from dataclasses import dataclass

from model_export.compiler.assemblers import UnsupportedStep


@dataclass(frozen=True)
class Supported:
    role: str
    names: tuple[str, ...]
    how: str


SUPPORTED = (
    Supported(
        "text",
        ("TfidfVectorizer", "CountVectorizer"),
        "over one text column (a Pipeline fitted on strings reads `message`); analyzer='word' "
        "with the default token_pattern or model_export's log tokenizer, any word ngram_range, "
        "stop words, binary, sublinear_tf, norm l1 / l2 / None, lowercase; not character "
        "n-grams (analyzer 'char' / 'char_wb')",
    ),
    Supported(
        "tabular",
        ("ColumnTransformer",),
        "columns by name, index, mask or slice; nested Pipelines; remainder passthrough / drop",
    ),
    Supported("tabular", ("StandardScaler",), "with_mean, with_std"),
    Supported("tabular", ("MinMaxScaler",), "feature_range, clip"),
    Supported(
        "tabular",
        ("OneHotEncoder",),
        "text or numeric categories, NULL/NaN as a category when seen in training, "
        "handle_unknown 'ignore' / 'warn' (all zeros) and 'error' (the query fails naming the "
        "value), drop; not infrequent categories",
    ),
    Supported(
        "tabular",
        ("SimpleImputer",),
        "missing_values=NaN (NULL), every strategy, text constants; not add_indicator",
    ),
    Supported("tabular", ("passthrough", "drop"), "as steps or ColumnTransformer parts"),
    Supported(
        "linear",
        ("LogisticRegression",),
        "binary (expit) and multinomial (softmax); OvR through OneVsRestClassifier",
    ),
    Supported(
        "linear",
        ("OneVsRestClassifier",),
        "over LogisticRegression, LinearSVC, RidgeClassifier, SGDClassifier, Perceptron",
    ),
    Supported(
        "linear",
        ("LinearSVC", "RidgeClassifier", "SGDClassifier", "Perceptron"),
        "label and decision values; SGDClassifier(loss='log_loss') also probabilities",
    ),
    Supported(
        "linear",
        ("LinearRegression", "Ridge", "Lasso", "ElasticNet", "SGDRegressor"),
        "single-target regression",
    ),
    Supported(
        "naive Bayes",
        ("MultinomialNB", "ComplementNB", "BernoulliNB"),
        "joint log likelihood and probabilities; BernoulliNB over text with binarize=0.0",
    ),
    Supported(
        "trees",
        (
            "DecisionTreeClassifier",
            "DecisionTreeRegressor",
            "RandomForestClassifier",
            "RandomForestRegressor",
            "ExtraTreesClassifier",
            "ExtraTreesRegressor",
        ),
        "float32 splits, missing values as the tree sends them; over text as seed tables "
        "evaluated once per distinct text",
    ),
    Supported(
        "trees",
        ("GradientBoostingClassifier", "GradientBoostingRegressor"),
        "prior or zero init; binary, multiclass, any regression loss",
    ),
    Supported(
        "trees",
        ("HistGradientBoostingClassifier", "HistGradientBoostingRegressor"),
        "numeric features with missing values; not categorical features",
    ),
)

REFUSED = {
    "HashingVectorizer": "it hashes each token with MurmurHash3, which PostgreSQL lacks, and no "
    "vocabulary seed can list the tokens unseen in training; use CountVectorizer or "
    "TfidfVectorizer",
    **dict.fromkeys(
        ("XGBClassifier", "XGBRegressor", "LGBMClassifier", "LGBMRegressor"),
        "not compiled yet (m2cgen reads these models, but its trees are not mapped to this "
        "compiler's IR)",
    ),
}


def supported_names() -> list[str]:
    return [name for row in SUPPORTED for name in row.names]


def refuse(step: str, estimator: object) -> UnsupportedStep:
    """The error for a step no assembler compiles: its name, then what is supported."""
    kind = type(estimator).__name__ if not isinstance(estimator, str) else estimator
    reason = REFUSED.get(kind, "not supported")
    return UnsupportedStep(step, f"{kind}: {reason}; supported: {', '.join(supported_names())}")


USAGE = """\
A fitted scikit-learn Pipeline of the steps below compiles to one SQL macro plus seed tables,
exact: the same label on every row, every number within 1e-9 of scikit-learn's. `make
export-model FILE=model.joblib NAME=name` makes it a version of your own model (NAME_v1, ...:
compiled, verified on your logs, registered; [Bring your own model](../bring-your-own-model.md)),
`make compile-sql FILE=model.joblib NAME=name` one plain SQL script for psql. The macro reads
`log_entry_id` (the key, returned first) and the columns the pipeline reads: `message` for a
text pipeline fitted on strings (or the column its ColumnTransformer names), the columns the
fitted first step saw (`feature_names_in_`) for a tabular one. NULL reads as NaN (a number) or
None (a category). Columns returned: `predicted_label`, `confidence` and `probability_K`
(classes in `classes_` order) for a classifier with `predict_proba`; `predicted_label` and
`decision_K` for one without; `prediction` for a regressor. Text forests and boosting are
evaluated once per distinct vector of known terms, their trees stored in the seeds, so the
macro stays a few kB.
"""


def markdown() -> str:
    lines = [
        "<!-- generated by dev/docs/reference.py from model_export/compiler/supported.py:"
        " do not edit; `make docs-site` rewrites it -->",
        "",
        "# Supported steps",
        "",
        USAGE,
        "| role | steps | what compiles |",
        "|---|---|---|",
    ]
    lines += [f"| {r.role} | {', '.join(f'`{n}`' for n in r.names)} | {r.how} |" for r in SUPPORTED]
    lines += ["", "Refused with a reason:", ""]
    lines += [f"- `{name}`: {reason}." for name, reason in REFUSED.items()]
    return "\n".join(lines) + "\n"
