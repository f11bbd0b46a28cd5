"""A campaign's sequence steps, their per-tier templates and their A/B variants.

Step 1 is the campaign's first email: its variant A uses the campaign's per-tier
templates (`templates`), unchanged. A later step's template for a tier falls
back to the step's all-tier template (tier 0, written `all`), then to variant
A's. Steps are numbered from 1; a step that has sent anything keeps its number
(it cannot be deleted or moved, only disabled), so `contents.step` stays true.

The parts live by concern: `stepinput` reads what a user gives, `stepcrud`
lists, adds, changes, moves and deletes steps, `steptemplates` keeps each
step's templates and variants. This module is their one entry point.
"""

from __future__ import annotations

from webapp.sequences.stepcrud import (
    MAX_STEPS,
    REOPEN_BATCH,
    add_step,
    delete_step,
    ensure_first_step,
    get_step,
    has_sent,
    list_steps,
    step_json,
    update_step,
)
from webapp.sequences.stepinput import (
    ALL_TIERS,
    CONDITIONS,
    MAX_DELAY,
    parse_bool,
    parse_condition,
    parse_delay,
    parse_step_tier,
    parse_variant,
)
from webapp.sequences.steptemplates import (
    FOLLOW_UP_TEMPLATE,
    SavedTemplate,
    StepTemplates,
    load_templates,
    remove_variant,
    save_step_template,
    template_rows,
    variant_count,
    variant_counts,
)

__all__ = [
    "ALL_TIERS",
    "CONDITIONS",
    "FOLLOW_UP_TEMPLATE",
    "MAX_DELAY",
    "MAX_STEPS",
    "REOPEN_BATCH",
    "SavedTemplate",
    "StepTemplates",
    "add_step",
    "delete_step",
    "ensure_first_step",
    "get_step",
    "has_sent",
    "list_steps",
    "load_templates",
    "parse_bool",
    "parse_condition",
    "parse_delay",
    "parse_step_tier",
    "parse_variant",
    "remove_variant",
    "save_step_template",
    "step_json",
    "template_rows",
    "update_step",
    "variant_count",
    "variant_counts",
]
