"""The model version concept (model_export/lifecycle/versions.py): names, order, what belongs to
a version, the listing of compiled versions and the roles query; and how `make versions` words
a version's held-out anomaly figure."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from dbt_project.database import PROJECT_ROOT
from model_export.compiler import ir
from model_export.compiler.names import MACRO_DIR, SEED_DIR, TEMPLATE_VERSION
from model_export.compiler.project_files import seed_properties
from model_export.lifecycle import versions
from model_export.lifecycle.registry import anomaly_figure
from model_export.lifecycle.versions import VersionError


def test_a_version_is_v_and_a_number_from_one() -> None:
    assert [versions.number(v) for v in ("v1", "v9", "v10", "v123")] == [1, 9, 10, 123]
    assert [versions.named(n) for n in (1, 10)] == ["v1", "v10"]
    assert versions.FIRST == "v1"
    for name in ("v0", "v01", "V1", "1", "v", "v1a", "ml_score_v1", "v-1", " v1", "../v1"):
        assert not versions.is_version(name)
        with pytest.raises(VersionError, match="versions are v1, v2, v3"):
            versions.number(name)
    with pytest.raises(VersionError, match="numbered from 1"):
        versions.named(0)


def test_versions_order_by_number_and_other_names_come_last() -> None:
    assert versions.ordered(["v10", "v2", "v9", "v1", "v2"]) == ["v1", "v2", "v9", "v10"]
    assert versions.ordered(["bench", "v10", "alpha", "v9"]) == ["v9", "v10", "alpha", "bench"]
    assert versions.newest(["v9", "v10", "v2", "zzz"]) == "v10"
    assert versions.newest(["bench"]) is None


def test_the_next_version_follows_the_newest_registered_and_skips_taken_ones() -> None:
    assert versions.next_version([]) == "v1"
    assert versions.next_version(["v1", "v10", "v9"]) == "v11"
    assert versions.next_version(["bench-synthetic"]) == "v1"
    # taken: folders of versions another registry made; never overwritten
    assert versions.next_version(["v1"], taken=["v2", "v3", "v5"]) == "v4"
    assert versions.next_version([], taken=["v2"]) == "v1"


def test_what_belongs_to_a_version_is_named_here() -> None:
    assert versions.artifacts_folder(Path("artifacts"), "v3") == Path("artifacts/v3")
    assert versions.macro_folder("v3") == MACRO_DIR / "v3"
    assert versions.seed_folder("v3") == SEED_DIR / "v3"
    assert versions.scorer_macro("v3") == "ml_score_v3"
    assert versions.template_frequency_seed("v3") == "ml_template_frequency_v3"
    names = versions.scorer_names("v3")
    assert names.macro == "ml_score_v3"
    assert names.history_key == "v3"  # the rows of v3 in the detector's history tables
    seeds = (
        names.level_vocabulary,
        names.template_frequency,
        names.template_labels,
        names.training_history,
    )
    assert all(seed.startswith("ml_") and seed.endswith("_v3") for seed in seeds)
    assert len(set(seeds)) == 4
    # a path or a name is made of a version name only
    for make in (versions.macro_folder, versions.scorer_macro, versions.scorer_names):
        with pytest.raises(VersionError):
            make("../v3")


def test_compiled_and_saved_versions_are_listed_oldest_first(tmp_path: Path) -> None:
    for folder in ("v10", "v2", "v1", "vx", "v01", "byo"):
        (tmp_path / MACRO_DIR / folder).mkdir(parents=True)
    (tmp_path / MACRO_DIR / "v3").write_text("a file, not a version's folder")
    assert versions.compiled(tmp_path) == ["v1", "v2", "v10"]
    (tmp_path / "artifacts" / "v4").mkdir(parents=True)
    assert versions.saved(tmp_path / "artifacts") == ["v4"]
    assert versions.compiled(tmp_path / "nowhere") == []


def test_the_listing_is_the_shipped_generated_file() -> None:
    """The repository's macros/generated/ml_versions.sql is exactly what versions.py writes for
    its compiled versions (check-generated guards every version; this is the listing alone)."""
    shipped = (PROJECT_ROOT / versions.LISTING).read_text(encoding="utf-8")
    assert versions.listing(PROJECT_ROOT) == {versions.LISTING: shipped}
    listed = versions.listing_file(["v10", "v2"])
    assert listed.index("'v2'") < listed.index("'v10'")
    assert "'scorer': ml_score_v10," in listed
    assert "{{ return([]) }}" in versions.listing_file([])


def test_the_listing_gives_the_drift_monitor_each_versions_template_version(
    tmp_path: Path,
) -> None:
    """A version with learned templates is listed with its seeds and the template version in
    its masks seed's meta (2 for seeds compiled before the meta existed); one without, alone."""
    masks = ir.Seed("x", (("token_count", ir.DType.INT),), ())
    for version, meta in (("v2", ()), ("v3", ((TEMPLATE_VERSION, 3),))):
        masks_seed, _ = versions.template_seeds(version)
        path = tmp_path / versions.seed_folder(version) / f"{masks_seed}.yml"
        path.parent.mkdir(parents=True)
        path.write_text(seed_properties(replace(masks, name=masks_seed, meta=meta)))
        (tmp_path / versions.macro_folder(version)).mkdir(parents=True)
    (tmp_path / versions.macro_folder("v1")).mkdir(parents=True)
    assert versions.learned_template_version(tmp_path, "v1") is None
    assert versions.learned_template_version(tmp_path, "v2") == 2
    assert versions.learned_template_version(tmp_path, "v3") == 3
    listed = versions.listing(tmp_path)[versions.LISTING]
    assert "'known': 'ml_templates_v3', 'version': 3}" in listed
    assert "'known': 'ml_templates_v2', 'version': 2}" in listed
    assert (
        "'version': 'v1', 'scorer': ml_score_v1, 'frequency_seed': 'ml_template_frequency_v1'}"
        in listed
    )


def test_the_roles_query_is_the_macro_dbt_runs() -> None:
    """Python runs the SQL of macros/model_roles.sql, rendered; dbt calls the same macro."""
    query = versions.roles_query("ml.ml_model_registry")
    assert query.startswith("select") and "from ml.ml_model_registry" in query
    assert "filter (where is_active)" in query and "filter (where is_challenger)" in query
    callers = [
        PROJECT_ROOT / "macros" / "model_versions.sql",
        PROJECT_ROOT / "macros" / "byo_models.sql",
        PROJECT_ROOT / "models" / "marts" / "monitoring" / "ml_status.sql",
    ]
    assert all("ml_model_roles_sql(" in p.read_text(encoding="utf-8") for p in callers)
    # nowhere else is the query written out
    written = [
        p.relative_to(PROJECT_ROOT)
        for folder in ("macros", "models", "model_export", "api")
        for p in (PROJECT_ROOT / folder).rglob("*")
        if p.suffix in {".sql", ".py"} and "filter (where is_challenger)" in p.read_text()
    ]
    assert written == [Path("macros/model_roles.sql")]


def test_a_model_brought_has_versions_of_its_own() -> None:
    assert versions.next_byo_version("team", []) == "team_v1"
    assert versions.next_byo_version("team", ["team_v1", "team_v9", "other_v12", "v20"]) == (
        "team_v10"
    )
    assert versions.next_byo_version("team", ["team_v1"], taken=["team_v2"]) == "team_v3"
    # a name may end like a version: the number is always the last _vN
    assert versions.byo_model("team_v2_v1") == "team_v2"
    assert versions.byo_model("v3") is None
    assert [versions.kind(v) for v in ("v3", "team_v1")] == ["default", "byo"]
    for name in ("team", "ml_v1x", "v1", "x_9"):
        assert versions.byo_name(name) == name
    for name in ("Team", "9lives", "a-b", "", "level_classifier", "anomaly_detector"):
        with pytest.raises(VersionError, match="cannot name a model"):
            versions.byo_name(name)
    for version in ("team", "team_v0", "team_v01", "Team_v1", "team_v1a", "../team_v1"):
        with pytest.raises(VersionError, match="NAME_v1, NAME_v2"):
            versions.byo_model(version)
    assert versions.ordered(["team_v10", "v2", "team_v9", "alpha_v1", "v10"]) == [
        "v2", "v10", "alpha_v1", "team_v9", "team_v10",
    ]  # fmt: skip


def test_what_belongs_to_a_version_of_a_model_brought() -> None:
    assert versions.macro_folder("team_v2") == MACRO_DIR / "byo" / "team_v2"
    assert versions.seed_folder("team_v2") == SEED_DIR / "byo" / "team_v2"
    artifacts = Path("artifacts")
    assert versions.byo_pipeline(artifacts, "team_v2") == artifacts / "byo/team_v2/pipeline.joblib"
    assert versions.byo_macro("team_v2") == "ml_byo_team_v2"
    # the default pair's names are not a brought model's, and the other way round
    with pytest.raises(VersionError):
        versions.byo_macro("v2")
    with pytest.raises(VersionError):
        versions.scorer_macro("team_v2")


def test_brought_versions_are_listed_by_model(tmp_path: Path) -> None:
    for folder in ("v1", "byo/team_v2", "byo/team_v10", "byo/alpha_v1", "byo/notaversion"):
        (tmp_path / MACRO_DIR / folder).mkdir(parents=True)
    assert versions.compiled(tmp_path) == ["v1"]
    assert versions.compiled_byo(tmp_path) == ["alpha_v1", "team_v2", "team_v10"]
    listed = versions.listing(tmp_path)[versions.LISTING]
    assert "'team': [{'version': 'team_v2', 'scorer': ml_byo_team_v2}, {'version': 'team_v10'," in (
        listed
    )
    assert "{% macro ml_byo_compiled_versions() %}\n{{ return({}) }}" in versions.listing_file([])


def test_the_roles_of_a_model_brought_are_its_own() -> None:
    default = versions.roles_query("ml.ml_model_registry")
    assert default.endswith("where model_kind = 'default'")
    brought = versions.roles_query("ml.ml_model_registry", "team")
    assert brought.endswith("where model_kind = 'byo' and model_name = 'team'")
    with pytest.raises(VersionError):
        versions.roles_query("ml.ml_model_registry", "x'; drop table y; --")


@pytest.mark.parametrize(
    ("metrics", "said"),
    [
        # labelled anomalies held out: the F1 means something
        (
            {"detector": "TemplateLabels", "f1": 0.5, "precision": 0.4, "recall": 0.625,
             "positives": 8, "rows": 400, "held_out_anomaly_rate": 0.03},
            "TemplateLabels: held-out F1 0.500 (precision 0.400, recall 0.625;"
            " 8 labelled anomalies held out)",
        ),
        # labels, but not one anomaly among them (the shipped demo model): F1 is always 0
        (
            {"detector": "TemplateLabels", "f1": 0.0, "precision": 0.0, "recall": 0.0,
             "positives": 0, "rows": 40000, "held_out_anomaly_rate": 0.001425},
            "TemplateLabels: flagged 0.14% of the held-out lines; no F1"
            " (no held-out line is labelled an anomaly)",
        ),
        # no labels held out
        (
            {"detector": "SeverityRarity", "held_out_anomaly_rate": 0.0125},
            "SeverityRarity: flagged 1.25% of the held-out lines; no F1 (no held-out labels)",
        ),
        ({"detector": "IsolationForest"}, "IsolationForest: no held-out figure"),
    ],
)  # fmt: skip
def test_the_anomaly_figure_is_an_f1_only_when_it_can_be_one(
    metrics: dict[str, object], said: str
) -> None:
    assert anomaly_figure(metrics).startswith(said)
