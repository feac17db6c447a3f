"""The answer picker's fitting data (gen/evaluation/picker.py): top-1 over cases, the grid
fit, and the pairs a shop's past tickets give."""

from __future__ import annotations

import numpy as np

from gen.evaluation.picker import Case, fit, top1
from gen.tasks.answer import KnowledgeUnits
from gen.tasks.picker import FEATURES

PAGE = """## Returns

You can return unworn items within 30 days of delivery for a full refund.
Refunds reach your card within 5 working days of the parcel arriving at our warehouse.

## Delivery

Standard delivery within the country takes 2 to 3 working days and costs 3.95.
"""


def units() -> KnowledgeUnits:
    knowledge = KnowledgeUnits()
    knowledge.refresh([("help", "Help", PAGE, "")])
    return knowledge


def test_a_tickets_answer_labels_the_unit_it_restates():
    knowledge = units()
    answer = ("Hi! Unworn items can be returned within 30 days of delivery, and you get a "
              "full refund.")
    right = knowledge.restated(answer)
    assert [u.text for u, r in zip(knowledge.units, right) if r] == [knowledge.units[0].text]
    # an answer no page holds (a person looked up an order) labels nothing
    assert not knowledge.restated("I checked: your parcel left us on Monday.").any()


def test_the_fit_moves_a_weight_only_when_top1_improves():
    # two cases in which only the lexical feature points at the right unit
    features = np.zeros((2, len(FEATURES)))
    features[:, FEATURES.index("dense")] = [0.6, 0.5]
    features[:, FEATURES.index("lexical")] = [0.0, 1.0]
    cases = [Case("shop", "tune", str(i), features, np.array([False, True])) for i in range(2)]
    start = {name: 0.0 for name in FEATURES} | {"dense": 1.0}
    assert top1(cases, start)[0] == 0.0
    fitted = fit(cases, start)
    assert top1(cases, fitted)[0] == 1.0 and fitted["lexical"] > 0.1 and fitted["dense"] == 1.0
