"""Guanaco claim 2: training on the full selected OASST1 conversation (paper §5.1): at each level of a message tree
the top-ranked reply, and the loss on every token of the conversation, instructions included.

What is checked, on the real data in the data folder:

(a) **Selection.** Our reader (`shared.data` format `oasst1`) builds one conversation per tree. Independently of the
    reader, the raw messages are read again and, for every level of every conversation, the chosen message is
    compared with its live (not deleted) siblings: it must have the lowest rank among them (rank 0 unless better
    ones were deleted); a level where no sibling has a rank is counted apart (a choice among unranked messages).
    The end of each conversation is checked too: the path stops only where no live reply follows, or where the
    chosen prompter message has no live reply (it is then dropped, as openassistant-guanaco ends on a reply).
(b) **Loss mask.** Each conversation is rendered with the config's template (`guanaco`, from
    `papers/qlora/configs/guanaco.py`) and tokenized (`shared.data.tokenize`, SmolLM2's tokenizer): the trained
    fraction of the target positions (every token but the first, which nothing precedes) must be exactly 1.0, and
    no character of the rendered text may be untrained. For contrast, the same conversations under `vicuna_v1.1`
    and `alpaca` (replies only; `alpaca` renders single-turn conversations only), and the truncation the 16/512
    source/target limits cause.

Which data. The OASST1 trees (`oasst1_messages` or `oasst1_trees` in the registry) when present: then the check is
exact. Otherwise QLoRA's `oa_questions.jsonl` (953 prompter messages of the OASST1 validation split, each with its
dialogue so far and its rank-0 reply): it is not a set of Guanaco conversations (the dialogue so far often passes
through replies that are not rank 0), but the visible part of the validation trees can be rebuilt from it
(`rebuild_trees`): every record adds its path of messages (identified by their text along the path; the answered
prompter message and the reply carry their OASST1 ids, the reply its rank). Limits of that rebuild, all counted:
ranks are known only for the rank-0 replies (other replies and all prompter messages are unranked), prompter
messages without a reply are absent, so choices at prompter levels cannot be checked against OASST1's ranking; and it
covers the validation split only. Scale `scaled-down`, status at best `partly`.
"""

from __future__ import annotations

import collections
import hashlib
import json
import pathlib
import tempfile
from typing import Any

from papers.qlora.configs import guanaco as guanaco_config
from shared.data import read_dataset, registry
from shared.data.fileio import iter_json_records
from shared.data.paths import resolve_data_dir
from shared.data.records import Conversation, DataError
from shared.data.templates import render
from shared.eval import ClaimResult, Comparison, paper_values, read_reported

REPORTED = pathlib.Path(__file__).resolve().parent / "reported.json"
TREE_DATASETS = ("oasst1_messages", "oasst1_trees")  # the OASST1 trees the paper's selection rule is checked on
OA_QUESTIONS = "oa_questions"
CONTRAST = ("vicuna_v1.1", "alpaca")
ROLE = {"user": "prompter", "assistant": "assistant"}

SELECTED = "reply chosen at each level of the tree"
FRACTION = "trained fraction of the selected conversation's tokens (guanaco template)"
TRAIN_COUNT = "conversations in the training split (openassistant-guanaco)"


# ------------------------------------------------------------------------------------------------ the raw messages

def raw_messages(path) -> tuple[dict[str, dict], int]:
    """{message_id: message} of an OASST1 file, flat messages or nested trees (no reader code involved), and the
    number of records that did not parse."""
    messages: dict[str, dict] = {}
    bad = 0
    for item in iter_json_records(pathlib.Path(path)):
        if isinstance(item, DataError):
            bad += 1
            continue
        record = item.value
        if "prompt" not in record:
            messages[record["message_id"]] = record
            continue
        stack = [(record["prompt"], None)]
        while stack:
            node, parent = stack.pop()
            flat = {k: v for k, v in node.items() if k != "replies"}
            if parent is not None:
                flat["parent_id"] = parent
            flat.setdefault("parent_id", None)
            messages[flat["message_id"]] = flat
            stack += [(reply, flat["message_id"]) for reply in reversed(node.get("replies", []))]  # file order
    return messages, bad


def check_selection(messages: dict[str, dict], conversations: list[Conversation]) -> dict[str, Any]:
    """Every level of every conversation against the raw messages (module docstring, (a))."""
    children: dict[str, list[dict]] = collections.defaultdict(list)
    for m in messages.values():
        if m.get("parent_id") is not None:
            children[m["parent_id"]].append(m)

    def live(mid):
        return [m for m in children.get(mid, []) if not m.get("deleted", False)]

    def best(candidates):
        ranked = [m["rank"] for m in candidates if m.get("rank") is not None]
        return min(ranked) if ranked else None

    levels = {role: collections.Counter() for role in ("assistant", "prompter")}
    violations, bad_ends = [], []
    for conv in conversations:
        ids = conv.meta["message_ids"]
        for parent, chosen_id in zip(ids, ids[1:]):
            chosen, siblings = messages[chosen_id], live(parent)
            counts = levels[chosen["role"]]
            counts["levels"] += 1
            lowest = best(siblings)
            if chosen_id not in {m["message_id"] for m in siblings}:
                violations.append({"conversation": conv.index, "message_id": chosen_id, "why": "not a live reply"})
            elif lowest is None:
                counts["unranked, only reply" if len(siblings) == 1 else "unranked, among unranked replies"] += 1
            elif chosen.get("rank") == lowest:
                counts["top-ranked" if lowest == 0 else "top-ranked among live replies (rank > 0)"] += 1
                counts["top-ranked (any)"] += 1
                if len(siblings) > 1:
                    counts["top-ranked, with live siblings"] += 1
            else:
                violations.append({"conversation": conv.index, "message_id": chosen_id, "rank": chosen.get("rank"),
                                   "lowest_live_rank": lowest})
        following = live(ids[-1])
        if following:  # the path may stop early only when the next prompter message has no live reply
            nxt = min(following, key=lambda m: (m.get("rank") is None, m.get("rank") or 0))  # ties: file order
            if messages[ids[-1]]["role"] != "assistant" or live(nxt["message_id"]):
                bad_ends.append({"conversation": conv.index, "last": ids[-1]})
    return {"assistant": dict(levels["assistant"]), "prompter": dict(levels["prompter"]),
            "violations": violations, "bad_ends": bad_ends}


# ----------------------------------------------------------------------------- rebuilding trees from oa_questions

def rebuild_trees(records: list[Conversation]) -> tuple[list[dict], dict[str, Any]]:
    """The visible part of the OASST1 validation trees from oa_questions records (module docstring): OASST1-format
    messages (message_id, parent_id, role, text, rank, lang, message_tree_id) and what the rebuild could not do."""
    claims: dict[tuple, set] = collections.defaultdict(set)
    for conv in records:
        claims[tuple(t.content for t in conv.turns[:-1])].add(conv.meta["parent_id"])
    ambiguous = {k for k, v in claims.items() if len(v) > 1}  # one text path, several OASST1 prompter messages
    nodes: dict[tuple, dict] = {}
    skipped, conflicts = [], 0

    def node(key, parent, role, lang):
        if key not in nodes:
            nodes[key] = {"parent": parent, "role": role, "text": key[-1] if isinstance(key[-1], str) else None,
                          "id": None, "rank": None, "lang": lang}
        return nodes[key]

    for conv in records:
        texts = tuple(t.content for t in conv.turns)
        n = len(texts)
        if any(texts[:j] in ambiguous for j in range(1, n - 1)):
            skipped.append(conv.index)
            continue
        lang = conv.meta.get("lang")
        for j in range(1, n - 1):
            node(texts[:j], texts[:j - 1] or None, conv.turns[j - 1].role, lang)
        context = texts[:-1]
        asked = context if context not in ambiguous else context + (("id", conv.meta["parent_id"]),)
        prompt = node(asked, texts[:n - 2] or None, "user", lang)
        prompt["text"] = texts[n - 2]
        if prompt["id"] not in (None, conv.meta["parent_id"]):
            conflicts += 1
        prompt["id"] = conv.meta["parent_id"]
        reply = node(asked + (texts[-1],), asked, "assistant", lang)
        if reply["id"] not in (None, conv.meta["message_id"]):
            conflicts += 1
        reply["id"], reply["rank"] = conv.meta["message_id"], conv.meta.get("rank")
    for key, n in nodes.items():
        if n["id"] is None:
            n["id"] = "rebuilt-" + hashlib.sha1(json.dumps(key, ensure_ascii=False).encode()).hexdigest()[:20]
    def root_of(key):
        while nodes[key]["parent"] is not None:
            key = nodes[key]["parent"]
        return nodes[key]["id"]

    messages = [{"message_id": n["id"], "parent_id": nodes[n["parent"]]["id"] if n["parent"] else None,
                 "role": ROLE[n["role"]], "text": n["text"], "rank": n["rank"], "lang": n["lang"],
                 "message_tree_id": root_of(key)} for key, n in nodes.items()]
    prompters = [k for k, n in nodes.items() if n["role"] == "user"]
    with_ranked_reply = {n["parent"] for n in nodes.values() if n["role"] == "assistant" and n["rank"] is not None}
    stats = {"records": len(records), "records_skipped_ambiguous_path": skipped, "id_conflicts": conflicts,
             "messages": len(messages), "prompter_messages": len(prompters),
             "assistant_messages": len(messages) - len(prompters),
             "ranked_replies": sum(n["rank"] is not None for n in nodes.values()),
             "prompter_messages_without_their_ranked_reply": sum(k not in with_ranked_reply for k in prompters),
             "roots": sum(n["parent"] is None for n in nodes.values())}
    return messages, stats


# ------------------------------------------------------------------------------------------------------ the masks

def mask_counts(conversations: list[Conversation], template: str, tokenizer, *, train_on_prompt=None,
                source_max_len=None, target_max_len=None) -> dict[str, Any]:
    """Characters and tokens trained on when `conversations` are rendered with `template` (module docstring, (b))."""
    from shared.data.tokenize import tokenize_conversations

    chars = trained_chars = rendered = 0
    for conv in conversations:
        try:
            segments = render(template, conv, train_on_prompt=train_on_prompt)
        except ValueError:
            continue
        rendered += 1
        chars += sum(len(s.text) for s in segments)
        trained_chars += sum(len(s.text) for s in segments if s.train)
    examples, report = tokenize_conversations(conversations, template, tokenizer, train_on_prompt=train_on_prompt,
                                              source_max_len=source_max_len, target_max_len=target_max_len,
                                              on_error="skip")
    targets = sum(len(e) - 1 for e in examples)
    trained = sum(e.trained_tokens for e in examples)
    return {"template": template, "conversations": len(conversations), "rendered": rendered,
            "skipped": dict(report.skipped), "characters": chars, "trained_characters": trained_chars,
            "tokens": report.tokens, "target_positions": targets, "trained_tokens": trained,
            "trained_fraction": trained / targets if targets else float("nan"),
            "truncated_examples": report.truncated, "tokens_dropped": report.tokens_dropped,
            "source_tokens_dropped": report.source_tokens_dropped,
            "target_tokens_dropped": report.target_tokens_dropped}


# ------------------------------------------------------------------------------------------------------- the claim

def _data(data_dir: str):
    folder, origin = resolve_data_dir(data_dir or None)
    for name in TREE_DATASETS:
        if not registry.missing_files(name, folder):
            return "trees", name, registry.path(name, folder)
    if not registry.missing_files(OA_QUESTIONS, folder):
        return "oa_questions", OA_QUESTIONS, registry.path(OA_QUESTIONS, folder)
    raise SystemExit(f"guanaco claim 2 needs OASST1 in the data folder {folder} (from {origin}): "
                     f"`{registry.fetch_command(TREE_DATASETS[0])}` (the trees) or "
                     f"`{registry.fetch_command(OA_QUESTIONS)}` (QLoRA's validation sample)")


def full_conversations(data_dir: str = "", tokenizer: str = "smollm2-135m-instruct", variant: str = "65b"
                       ) -> ClaimResult:
    """Claim 2 (module docstring). `tokenizer`: a `shared.model.loading.resolve_source` name or path."""
    from shared.model.loading import resolve_source
    from shared.model.tokenizer import load_tokenizer

    paper = paper_values(read_reported(REPORTED), "2")
    config = guanaco_config.get_config(variant)
    template, train_on_prompt = config.data.template, config.data.get("train_on_prompt")
    mode, name, path = _data(data_dir)
    measured: dict[str, Any] = {"data": name, "path": str(path), "template": template, "tokenizer": tokenizer}
    if mode == "trees":
        reader = read_dataset("oasst1", path, on_error="skip")
        conversations = list(reader)
        messages, bad = raw_messages(path)
        measured["reader"] = {"skipped": reader.report.skipped, "reasons": reader.report.reasons,
                              "notes": dict(reader.report.notes),
                              "unparsed_records_in_raw_pass": bad}
    else:
        records = list(read_dataset("oa_questions", path))
        rebuilt_messages, stats = rebuild_trees(records)
        messages = {m["message_id"]: m for m in rebuilt_messages}
        measured["rebuild"] = stats
        measured["oa_questions_reply_ranks"] = dict(collections.Counter(str(r.meta.get("rank")) for r in records))
        measured["context_replies_that_are_rank0"] = _context_replies(records)
        with tempfile.TemporaryDirectory() as tmp:
            rebuilt = pathlib.Path(tmp) / "oasst1_validation_rebuilt.jsonl"
            rebuilt.write_text("".join(json.dumps(m, ensure_ascii=False) + "\n" for m in rebuilt_messages))
            reader = read_dataset("oasst1", rebuilt, on_error="raise")
            conversations = list(reader)
        measured["reader"] = {"skipped": reader.report.skipped, "notes": dict(reader.report.notes)}
    selection = check_selection(messages, conversations)
    measured["selection"] = {**selection, "violations": selection["violations"][:20],
                             "bad_ends": selection["bad_ends"][:20],
                             "violation_count": len(selection["violations"]),
                             "bad_end_count": len(selection["bad_ends"])}
    turns = collections.Counter(len(c.turns) for c in conversations)
    measured["conversations"] = len(conversations)
    measured["turns"] = {"total": sum(k * v for k, v in turns.items()), "per_conversation": dict(sorted(turns.items()))}

    tok = load_tokenizer(resolve_source(tokenizer))
    masks = {template: mask_counts(conversations, template, tok, train_on_prompt=train_on_prompt)}
    for other in CONTRAST:
        masks[other] = mask_counts(conversations, other, tok)
    limited = mask_counts(conversations, template, tok, train_on_prompt=train_on_prompt,
                          source_max_len=config.data.source_max_len, target_max_len=config.data.target_max_len)
    measured["masks"] = masks
    measured["with_source_target_limits"] = {"source_max_len": config.data.source_max_len,
                                             "target_max_len": config.data.target_max_len, **limited}

    ours = masks[template]
    a = selection["assistant"]
    p = selection["prompter"]
    a_top, a_levels = a.get("top-ranked (any)", 0), a.get("levels", 0)
    unranked_a = a_levels - a_top - len(selection["violations"])
    rows = [
        Comparison(SELECTED, paper[SELECTED],
                   f"the top-ranked reply at {a_top} of {a_levels} reply levels "
                   f"({a.get('top-ranked', 0)} rank 0); {len(selection['violations'])} levels not"),
        Comparison(FRACTION, paper[FRACTION], ours["trained_fraction"]),
        Comparison(TRAIN_COUNT, paper[TRAIN_COUNT], len(conversations) if mode == "trees" else None,
                   "conversations (every tree in the file)" if mode == "trees" else "the trees are not here"),
        Comparison("conversations", None, len(conversations),
                   "OASST1 trees" if mode == "trees" else "OASST1 validation trees rebuilt from oa_questions"),
        Comparison("turns", None, measured["turns"]["total"]),
        Comparison("tokens (SmolLM2 tokenizer, guanaco template)", None, ours["tokens"]),
        Comparison("untrained characters of the rendered text (guanaco)", None,
                   ours["characters"] - ours["trained_characters"]),
        Comparison("trained fraction, vicuna_v1.1 template (replies only)", None,
                   masks["vicuna_v1.1"]["trained_fraction"]),
        Comparison("trained fraction, alpaca template (replies only; single-turn conversations)", None,
                   masks["alpaca"]["trained_fraction"]),
        Comparison(f"examples cut by source/target limits {config.data.source_max_len}/{config.data.target_max_len}",
                   None, limited["truncated_examples"]),
        Comparison("trained fraction of the kept tokens with those limits", None, limited["trained_fraction"]),
    ]
    mask_ok = (ours["trained_fraction"] == 1.0 and ours["characters"] == ours["trained_characters"]
               and limited["trained_fraction"] == 1.0)
    contrast_ok = all(masks[t]["trained_fraction"] < 1.0 for t in CONTRAST)
    chosen_ok = not selection["violations"] and not selection["bad_ends"]
    summary = [
        f"{len(conversations)} conversations, {measured['turns']['total']} turns from {name}",
        f"selection: the top-ranked live reply at {a_top} of {a_levels} reply levels ({a.get('top-ranked', 0)} "
        f"rank 0), {len(selection['violations'])} violations, {len(selection['bad_ends'])} early ends",
        f"guanaco template: {ours['trained_tokens']} of {ours['target_positions']} target tokens trained "
        f"({ours['trained_fraction']:.6f}), {ours['characters'] - ours['trained_characters']} untrained characters; "
        f"vicuna_v1.1 trains {masks['vicuna_v1.1']['trained_fraction']:.3f}, alpaca "
        f"{masks['alpaca']['trained_fraction']:.3f} (on its {masks['alpaca']['rendered']} single-turn "
        "conversations)",
        f"with the {config.data.source_max_len}/{config.data.target_max_len} limits {limited['truncated_examples']} "
        f"conversations lose {limited['tokens_dropped']} tokens (SmolLM2 tokens)",
    ]
    if mode == "trees":
        scale = "exact"
        status = "reproduced" if (mask_ok and chosen_ok and contrast_ok) else "not reproduced"
    else:
        scale = "scaled-down"
        st = measured["rebuild"]
        status = "partly" if (mask_ok and chosen_ok and contrast_ok) else "not reproduced"
        summary.append(
            f"limits: the OASST1 trees are not in the data folder, so the validation trees were rebuilt from "
            f"oa_questions ({st['records']} records; its dialogues pass through a reply other than the rank-0 one "
            f"in {measured['context_replies_that_are_rank0']['not_rank0']} of "
            f"{measured['context_replies_that_are_rank0']['checkable']} checkable places); ranks are known only for "
            f"each prompt's best reply, so {unranked_a} reply levels and all {p.get('levels', 0)} prompter levels "
            f"({p.get('unranked, among unranked replies', 0)} with a choice) are not checked against OASST1's "
            f"ranking; validation split only; the training-split count (9,846) is not checked")
    return ClaimResult(scale=scale, status=status, summary="; ".join(summary) + ".", rows=rows, measured=measured)


def _context_replies(records: list[Conversation]) -> dict[str, int]:
    """How often an assistant turn inside an oa_questions dialogue is the rank-0 reply (the `output` of the record
    whose dialogue ends just before it), where that record exists."""
    reply_of = {tuple(t.content for t in r.turns[:-1]): r.turns[-1].content for r in records}
    checkable = rank0 = 0
    for r in records:
        texts = [t.content for t in r.turns[:-1]]
        for i in range(1, len(texts), 2):
            known = reply_of.get(tuple(texts[:i]))
            if known is not None:
                checkable += 1
                rank0 += known == texts[i]
    return {"checkable": checkable, "rank0": rank0, "not_rank0": checkable - rank0}
