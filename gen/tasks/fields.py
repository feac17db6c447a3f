"""Labelled answer fields ("SUBJECT: ...", "INTRO: ..."), held to their format by code.

A small model asked for two labelled lines often writes the first and then wanders: a second
SUBJECT, a made-up "DETAILS:" line, the prompt's data echoed back. Asking again rarely helps;
writing the next label for it does. `complete_fields` takes the first replies of a batch and,
for every reply whose first fields are whole lines but a later field is missing, continues it:
the prefill is the fields written so far plus the next label, and the model writes that one line
(stopped at the line's end). All continuations of one field go in one `generate` call. Code
writes only the labels; every word after a label is the model's.

The returned Results hold the canonical answer ("LABEL: text" lines, one per field found), a
`finish_reason` of "length" when the token budget cut the last field, and the mean token
log-probability over everything the model wrote for it.
"""

from __future__ import annotations

import re

from gen.engines import Engine, GenerationRequest, Message, Result


def parse_lines(text: str, names: list[str]) -> tuple[dict[str, str], bool]:
    """The labelled fields in order, as long as each is found on its own line; and whether the
    last one found is followed by another line (so it is whole, whatever the budget did)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    found: dict[str, str] = {}
    index = 0
    for name in names:
        label = re.compile(rf"^\W*{name}\W*:\s*(.*)$", re.IGNORECASE)
        while index < len(lines) and not label.match(lines[index]):
            if found:  # a stray line between two fields: the format broke there
                return found, True
            index += 1
        if index == len(lines):
            break
        found[name] = label.match(lines[index]).group(1).strip()
        index += 1
    return found, index < len(lines)


def _render(fields: dict[str, str]) -> str:
    return "\n".join(f"{name.upper()}: {value}" for name, value in fields.items())


def complete_fields(engine: Engine, requests: list[GenerationRequest], results: list[Result],
                    names: list[str], budgets: dict[str, int]) -> list[Result]:
    """Continue every reply that stopped short of its later fields (see the module doc)."""
    state = []
    for result in results:
        fields, whole = parse_lines(result.text, names)
        tokens = result.completion_tokens or 1
        cut = result.finish_reason == "length" and not whole
        state.append({"fields": fields, "cut": cut, "tokens": tokens,
                      "logsum": (result.logprob or 0.0) * tokens,
                      "known": result.logprob is not None, "continued": False})
    for position, name in enumerate(names[1:], start=1):
        todo = [i for i, s in enumerate(state) if name not in s["fields"] and not s["cut"]
                and len(s["fields"]) == position and s["fields"][names[position - 1]]]
        if not todo:
            continue
        continued = []
        for i in todo:
            request = requests[i]
            prefill = f"{_render(state[i]['fields'])}\n{name.upper()}:"
            messages = [m for m in request.messages if m.role != "assistant"]
            options = request.options.model_copy(update={"max_new_tokens": budgets[name],
                                                         "stop": ["\n"]})
            continued.append(GenerationRequest(
                messages=messages + [Message(role="assistant", content=prefill)],
                options=options, lane=request.lane))
        for i, result, request in zip(todo, engine.generate(continued), continued):
            value = result.text.removeprefix(request.prefill)
            s = state[i]
            s["continued"] = True
            s["fields"][name] = value.strip().splitlines()[0].strip() if value.strip() else ""
            s["cut"] = result.finish_reason == "length"
            s["tokens"] += result.completion_tokens or 1
            s["logsum"] += (result.logprob or 0.0) * (result.completion_tokens or 1)
            s["known"] = s["known"] and result.logprob is not None
    out = []
    for s, result in zip(state, results):
        if not s["continued"]:
            out.append(result)  # the model kept to the format, or it could not be continued
            continue
        out.append(Result(_render(s["fields"]), result.prompt_tokens, s["tokens"],
                          "length" if s["cut"] else "stop", result.model,
                          s["logsum"] / s["tokens"] if s["known"] else None))
    return out
