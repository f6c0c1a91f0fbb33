"""Strict label parsing: nothing off the label set becomes a label."""

from __future__ import annotations

import math

import pytest

from evalharness.deciders.parsing import logprob_confidence, parse_json, parse_reply, parse_text

LABELS = ["hate", "none"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("hate", "hate"),
        ("  None.\n", "none"),
        ('"hate"', "hate"),
        ("Label: none", "none"),
        ("**HATE**", "hate"),
        ("hateful", None),
        ("hate speech", None),
        ("I think it is hate", None),
        ("none, but close to hate", None),
        ("", None),
    ],
)
def test_text_parsing_is_strict(text, expected):
    assert parse_text(text, LABELS)[0] == expected


@pytest.mark.parametrize(
    "text, label, confidence, problem",
    [
        ('{"label": "hate", "confidence": 0.8}', "hate", 0.8, None),
        ('```json\n{"label": "none", "confidence": 1}\n```', "none", 1.0, None),
        ('{"label": "None"}', "none", None, None),
        ('{"label": "hate", "confidence": 7}', "hate", None, None),  # out of range: not kept
        ('{"label": "hateful", "confidence": 0.9}', None, None, "is not one of"),
        ('{"category": "hate"}', None, None, 'no string "label"'),
        ("{not json", None, None, "not valid JSON"),
        ("[1, 2]", None, None, 'no string "label"'),
    ],
)
def test_json_parsing(text, label, confidence, problem):
    got_label, got_conf, _, got_problem = parse_json(text, LABELS)
    assert got_label == label and got_conf == confidence
    assert (problem is None and got_problem is None) or problem in (got_problem or "")


def _response(text, **extra):
    return {"text": text, "refusal": None, "finish_reason": "stop", "logprobs": None, **extra}


def test_refusals_are_their_own_outcome():
    assert parse_reply(_response("", refusal="I can't help with that"), LABELS, "json_schema").outcome == "refusal"
    assert parse_reply(_response("x", finish_reason="content_filter"), LABELS, "text").outcome == "refusal"
    assert parse_reply(_response("I'm sorry, but I cannot classify this."), LABELS, "text").outcome == "refusal"
    assert parse_reply(_response("As an AI, I won't"), LABELS, "json_object").outcome == "refusal"


def test_invalid_keeps_the_reason_and_no_label():
    parsed = parse_reply(_response("probably hateful"), LABELS, "text")
    assert parsed.outcome == "invalid" and parsed.label is None and parsed.error


def test_stated_confidence_is_marked_stated():
    parsed = parse_reply(_response('{"label": "hate", "confidence": 0.7}'), LABELS, "json_schema")
    assert (parsed.outcome, parsed.label, parsed.confidence, parsed.confidence_source) == (
        "ok", "hate", 0.7, "stated")
    assert parsed.scores == {"hate": 0.7, "none": pytest.approx(0.3)}


def _tokens(*pairs):
    return [{"token": t, "logprob": lp, "top": top} for t, lp, top in pairs]


def test_logprob_confidence_normalises_over_labels_at_the_first_label_token():
    text = '{"label": "hate", "confidence": 0.9}'
    tokens = _tokens(
        ('{"', -0.01, []), ("label", -0.01, []), ('":', -0.01, []), (' "', -0.01, []),
        ("h", math.log(0.6), [["h", math.log(0.6)], ["none", math.log(0.3)], ["x", math.log(0.05)]]),
        ("ate", -0.01, []), ('",', -0.01, []),
    )
    parsed = parse_reply(_response(text, logprobs=tokens), LABELS, "json_schema")
    assert parsed.confidence_source == "logprobs"
    assert parsed.scores == {"hate": pytest.approx(0.6 / 0.9), "none": pytest.approx(0.3 / 0.9)}
    assert parsed.confidence == pytest.approx(0.6 / 0.9)


def test_label_missing_from_alternatives_gets_the_smallest_listed_probability():
    tokens = _tokens(("hate", math.log(0.5), [["hate", math.log(0.5)], ["kill", math.log(0.2)],
                                              ["all", math.log(0.1)]]))
    scores = logprob_confidence(tokens, (0, 4), "hate", LABELS)
    assert scores == {"hate": pytest.approx(0.5 / 0.6), "none": pytest.approx(0.1 / 0.6)}
