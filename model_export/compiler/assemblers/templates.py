"""model_export.training.templates.LearnedTemplates -> its two seeds (ir.TemplateSeeds): the
wildcard masks per token count in the order they are tried (with the template version in the
seed's meta: the shape the masks apply to), and the md5 of every learned template. The SQL
that reads them is the project's template_shape and learned_template macros."""

from __future__ import annotations

from model_export.compiler import ir
from model_export.compiler.names import TEMPLATE_VERSION
from model_export.training.features import LogFeatures
from model_export.training.templates import LearnedTemplates


def template_seeds(model: LearnedTemplates, masks_name: str, known_name: str) -> ir.TemplateSeeds:
    masks = tuple(
        (count, rank, mask)
        for count in sorted(model.masks_)
        for rank, mask in enumerate(model.masks_[count], start=1)
    )
    columns = (
        ("token_count", ir.DType.INT),
        ("mask_rank", ir.DType.INT),
        ("mask", ir.DType.TEXT),
    )
    known = tuple((h,) for h in sorted(model.known_))
    return ir.TemplateSeeds(
        ir.Seed(masks_name, columns, masks, meta=((TEMPLATE_VERSION, model.version),)),
        ir.Seed(known_name, (("template_hash", ir.DType.TEXT),), known),
    )


def of_features(features: LogFeatures, masks_name: str, known_name: str) -> ir.TemplateSeeds | None:
    """The seeds of the learned templates `features` counts by, with the names the caller
    gives them; None for template version 1 (no seeds)."""
    if features.templates is None:
        return None
    return template_seeds(features.templates, masks_name, known_name)
